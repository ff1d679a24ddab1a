"""Errors raised on bad input.

Every input problem is reported with *where* it is (file or table), *which* field, and what was
expected, so that a physicist can fix the data without reading the code.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input data or parameters.

    Parameters
    ----------
    message
        What is wrong and what was expected.
    source
        The file, table or parameter set the problem was found in (path or name).
    field
        The column, DICOM attribute or parameter key concerned.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = None if source is None else str(source)
        self.field = field
        where = []
        if self.source:
            where.append(self.source)
        if field:
            where.append(f"field '{field}'")
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DosimetryFlag(RuntimeError):
    """A computation finished but its result must not be used for a decision (see the message)."""

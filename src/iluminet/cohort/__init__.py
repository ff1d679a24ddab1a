"""Trial-level (cohort) data: the table schema with validation and I/O, and a synthetic
ILUMINET-like trial generator.

``read_cohort`` / ``write_cohort`` / ``Cohort`` come from :mod:`iluminet.cohort.schema`;
``generate_cohort``, ``CohortParameters`` and ``paper_comparison`` from
:mod:`iluminet.cohort.synthetic` (imported on first use: the generator pulls in the dosimetry
chain, which reading a cohort does not need).
"""

from __future__ import annotations

from typing import Any

from iluminet.cohort.schema import TABLES, Cohort, read_cohort, validate_cohort, write_cohort

__all__ = ["TABLES", "Cohort", "CohortParameters", "generate_cohort", "paper_comparison",
           "read_cohort", "validate_cohort", "write_cohort"]

_LAZY = {"generate_cohort", "CohortParameters", "paper_comparison"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from iluminet.cohort import synthetic

        return getattr(synthetic, name)
    raise AttributeError(f"module 'iluminet.cohort' has no attribute {name!r}")

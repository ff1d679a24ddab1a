"""The analysis of a trial from its patient-level tables.

Table layout and validation (:mod:`.schema`), Tables 1 and 3 (:mod:`.tables`), efficacy
(:mod:`.efficacy`: response, survival by group) and safety (:mod:`.safety`: CTCAE-graded adverse
events), with the statistics and criteria they rest on: Kaplan–Meier and log-rank as R computes them
(:mod:`.survival`), binomial intervals (:mod:`.proportions`), RECIST 1.1 (:mod:`.recist`) and
CTCAE v4.03 laboratory grades (:mod:`.ctcae`).

The analysis of a real trial never depends on the synthetic trial generator
(:mod:`iluminet.synthetic.trial`); a test enforces the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from iluminet.trial.schema import TABLES, Cohort, read_cohort, validate_cohort, write_cohort

#: exported name -> module that defines it
_EXPORTS: dict[str, str] = {
    "TABLES": "iluminet.trial.schema",
    "Cohort": "iluminet.trial.schema",
    "read_cohort": "iluminet.trial.schema",
    "validate_cohort": "iluminet.trial.schema",
    "write_cohort": "iluminet.trial.schema",
}

__all__ = ["TABLES", "Cohort", "read_cohort", "validate_cohort", "write_cohort"]


def __getattr__(name: str) -> Any:
    # lazy: importing the package does not import its heavy dependencies until a name is used
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

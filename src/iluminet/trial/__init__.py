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

from iluminet.trial.schema import TABLES, Cohort, read_cohort, validate_cohort, write_cohort

__all__ = ["TABLES", "Cohort", "read_cohort", "validate_cohort", "write_cohort"]

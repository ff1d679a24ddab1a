"""The next-cycle probabilities of a patient's decision (the step's limit, the method in force)."""

from __future__ import annotations

from typing import Any

import numpy as np

from iluminet.patient.planning import Action, Decision, Protocol
from iluminet.uncertainty.decision import (
    NextCycleProbabilities,
    analytic_probabilities,
    monte_carlo_probabilities,
)


def step_limits(decision: Decision, protocol: Protocol) -> tuple[float, float] | None:
    """The limit ± tolerance the next cycle is judged against (None: withheld)."""
    if decision.action == Action.WITHHOLD:
        return None
    if decision.step == 1 or decision.action == Action.STEP1_COMPLETE_NOT_ELIGIBLE:
        return protocol.step1_bed_limit_gy, protocol.step1_tolerance_gy
    return protocol.step2_bed_limit_gy, protocol.step2_tolerance_gy


def next_cycle_probabilities(assessment: Any, decision: Decision, protocol: Protocol
                             ) -> NextCycleProbabilities | None:
    """``P(overshoot)``, ``P(within)`` and the cycles-remaining distribution for the decision's
    step, by the method of ``analysis.uncertainty.method``; None when the decision is withheld or
    a cycle has no usable BED."""
    limits = step_limits(decision, protocol)
    model = assessment.model
    if limits is None or model.usable_cycles != model.cycles:
        return None
    beds = np.asarray(assessment.analytic.value["cycle_bed_gy"], dtype=float)
    if not np.all(np.isfinite(beds)):
        return None
    limit, tol = limits
    if assessment.method == "monte_carlo":
        return monte_carlo_probabilities(assessment.monte_carlo.draws["cycle_bed_gy"],
                                         model.budget.future_relative_sd, limit, tol,
                                         protocol.bed_prediction, seed=0)
    return analytic_probabilities(beds, assessment.bed_covariance(), limit, tol,
                                  protocol.bed_prediction)

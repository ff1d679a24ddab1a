"""Hazard model of progression and death for the synthetic cohort.

Time ``t`` is in months from inclusion (days / 30.4375). Two latent event times per patient:

Progression (biological; radiological detection is the next CT, see :mod:`.tumour`)
    ``h_P(t) = h0_P(t) · exp(η_P + β_BED(t))`` with a Weibull baseline
    ``H0(t) = (t / scale)^shape`` and ``η_P = Σ log HR`` over ECOG (1, 2) and Ki-67 group
    (3–10 %, 11–20 %).
Death
    ``h_D(t) = h0_D(t) · exp(η_D + β_BED(t) + β_post · 1[t ≥ T_P])`` — same form, with an extra
    hazard ratio once the tumour has progressed, plus an early-mortality component: a constant
    hazard ``λ_early · HR_ECOG2^{1[ECOG=2]}`` during the first ``early_months`` (frail patients
    dying before the first CT; ILUMINET: 5 of 96), added as an independent competing time.

``β_BED(t)`` is the log hazard ratio of the *delivered-BED group* of the cumulative kidney BED
reached by time ``t`` (< 25 Gy reference, 25–29 Gy, > 29 Gy). It is time-varying — a patient enters
a higher group at the cycle that takes the cumulative BED there — so an event never depends on
treatment given after it. Selection adds to it: patients who die or progress early get few cycles.

Each latent time is drawn by inversion: ``E ~ Exp(1)`` fixed at baseline; the event happens when
the cumulative hazard ``∫ m(s) dH0(s)``, with the multiplier ``m`` piecewise constant between
cycles, reaches ``E`` (:class:`EventClock`). Hazards start at the first cycle (treated patients
are alive and free of progression when treatment starts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from iluminet.trial.tables import BED_EDGES_GY
from iluminet.units import DAYS_PER_MONTH

__all__ = ["DAYS_PER_MONTH", "EventClock", "Weibull", "bed_group"]

BED_GROUPS = ("<25", "25-29", ">29")


def bed_group(cumulative_bed_gy: float) -> str:
    """Delivered-BED group of the paper, with the analysis' edges
    (:data:`iluminet.trial.tables.BED_EDGES_GY`): ``<25``, ``25-29`` (edges included) or ``>29``.
    A scalar version for the simulation loop; the keys index the hazard-ratio parameters."""
    low, high = BED_EDGES_GY
    if cumulative_bed_gy < low:
        return "<25"
    if cumulative_bed_gy <= high:
        return "25-29"
    return ">29"


@dataclass(frozen=True)
class Weibull:
    """Weibull baseline: cumulative hazard ``H0(t) = (t / scale_months)^shape``."""

    scale_months: float
    shape: float

    def cumulative_hazard(self, t_months: float) -> float:
        if math.isinf(t_months):
            return math.inf
        return (max(t_months, 0.0) / self.scale_months) ** self.shape

    def inverse(self, cumulative_hazard: float) -> float:
        return self.scale_months * cumulative_hazard ** (1.0 / self.shape)


class EventClock:
    """A latent event time with piecewise-constant hazard multiplier, simulated forwards.

    Parameters
    ----------
    baseline
        The Weibull baseline hazard.
    threshold
        ``E ~ Exp(1)``: the event occurs when the accumulated hazard reaches it.
    start_months
        Time from which hazard accumulates.
    """

    def __init__(self, baseline: Weibull, threshold: float, start_months: float) -> None:
        self.baseline = baseline
        self.remaining = float(threshold)
        self.time = float(start_months)
        self.event_time: float | None = None

    def advance(self, until_months: float, multiplier: float) -> float | None:
        """Accumulate hazard from the current time to ``until_months`` with ``multiplier``.

        Returns the event time if the event happens in this stretch (and stops the clock), else
        None. A clock whose event has happened returns it again.
        """
        if self.event_time is not None:
            return self.event_time
        if until_months <= self.time:
            return None
        h_now = self.baseline.cumulative_hazard(self.time)
        gained = multiplier * (self.baseline.cumulative_hazard(until_months) - h_now)
        if gained >= self.remaining:
            self.event_time = self.baseline.inverse(h_now + self.remaining / multiplier)
            self.event_time = max(self.event_time, self.time)
            self.remaining = 0.0
            return self.event_time
        self.remaining -= gained
        self.time = until_months
        return None

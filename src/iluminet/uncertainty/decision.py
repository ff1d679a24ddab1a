"""Probabilities of the next-cycle decision.

For the cumulative BED after the next cycle, ``B = Σ_k BED_k + p · f`` (``p`` the predicted cycle
BED from the measured cycles, ``f`` a log-normal factor with SD ``√(u_A² + u_var²)`` for the
administered activity and the cycle-to-cycle variation):

* ``p_overshoot = P(B > L + tol)``, ``p_within = P(|B − L| ≤ tol)``;
* the number of further cycles each draw allows under ``within_tolerance`` (its distribution).

Analytic: B normal with the mean of the point values and σ² = gᵀ C g + (r p)² (see
:class:`iluminet.patient.planning.BedCovariance`). Monte Carlo: the same from the draws of the
measured cycles' BEDs and one draw of ``f`` each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from iluminet.patient.planning import BedCovariance

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class NextCycleProbabilities:
    """Probabilities for the step whose target is ``limit_gy`` ± ``tolerance_gy``."""

    limit_gy: float
    tolerance_gy: float
    mean_after_gy: float
    sd_after_gy: float
    p_overshoot: float
    p_within: float
    cycles_remaining: dict[int, float]  # number of further cycles -> probability
    method: str

    def to_dict(self) -> dict[str, object]:
        return {"limit_gy": self.limit_gy, "tolerance_gy": self.tolerance_gy,
                "predicted_cumulative_bed_gy": round(self.mean_after_gy, 4),
                "predicted_cumulative_bed_sd_gy": round(self.sd_after_gy, 4),
                "p_overshoot": round(self.p_overshoot, 4), "p_within": round(self.p_within, 4),
                "cycles_remaining_distribution": {str(k): round(v, 4)
                                                  for k, v in self.cycles_remaining.items()},
                "method": self.method}

    def text(self) -> str:
        top = self.limit_gy + self.tolerance_gy
        dist = ", ".join(f"{k}: {100 * v:.0f} %" for k, v in self.cycles_remaining.items()
                         if v >= 0.005)
        return (f"after one more cycle the cumulative BED would be {self.mean_after_gy:.1f} ± "
                f"{self.sd_after_gy:.1f} Gy (1 SD): P(> {top:g} Gy) = "
                f"{100 * self.p_overshoot:.0f} %, P(within {self.limit_gy:g} ± "
                f"{self.tolerance_gy:g} Gy) = {100 * self.p_within:.0f} %; further cycles "
                f"within the tolerance: {dist} ({self.method})")


def _predict(beds: FloatArray, method: str) -> FloatArray:
    if method == "mean":
        return np.asarray(np.mean(beds, axis=-1))
    if method == "last":
        return np.asarray(beds[..., -1])
    return np.asarray(np.max(beds, axis=-1))


def _remaining(cum: FloatArray, pred: FloatArray, top: float, cap: int) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.floor((top - cum) / pred)
    return np.clip(np.nan_to_num(k, nan=0.0), 0, cap)


def analytic_probabilities(beds_gy: FloatArray | list[float], cov: BedCovariance, limit_gy: float,
                           tolerance_gy: float, method: str, cap: int = 20
                           ) -> NextCycleProbabilities:
    """Normal approximation with the covariance of the measured per-cycle BEDs."""
    beds = np.asarray(beds_gy, dtype=float)
    values = [float(v) for v in beds]
    cum, pred = float(beds.sum()), float(_predict(beds, method))
    after = cum + pred
    sd = cov.sd_after_gy(values, 1, method)
    top, bottom = limit_gy + tolerance_gy, limit_gy - tolerance_gy
    p_over = float(stats.norm.sf((top - after) / sd)) if sd > 0 else float(after > top)
    p_within = (float(stats.norm.cdf((top - after) / sd) - stats.norm.cdf((bottom - after) / sd))
                if sd > 0 else float(bottom <= after <= top))
    # P(k further cycles): k = floor((top − Σ)/p) with Σ, p jointly normal → by the cdf of
    # Σ + k p at the boundaries
    dist: dict[int, float] = {}
    prev = 1.0
    for k in range(cap + 1):
        s_k = cov.sd_after_gy(values, k + 1, method)
        m_k = cum + (k + 1) * pred
        p_gt = float(stats.norm.sf((top - m_k) / s_k)) if s_k > 0 else float(m_k > top)
        # P(more than k cycles allowed) = P(Σ + (k+1) p ≤ top)
        more = 1.0 - p_gt
        dist[k] = max(prev - more, 0.0)
        prev = more
        if more < 1e-6:
            break
    return NextCycleProbabilities(limit_gy, tolerance_gy, after, sd, p_over, p_within,
                                  {k: v for k, v in dist.items() if v > 0}, "analytic")


def monte_carlo_probabilities(bed_draws: FloatArray, future_relative_sd: float,
                              limit_gy: float, tolerance_gy: float, method: str, seed: int,
                              cap: int = 20) -> NextCycleProbabilities:
    """From draws of the measured per-cycle BEDs (shape (n_draws, n_cycles))."""
    beds = np.asarray(bed_draws, dtype=float)
    rng = np.random.default_rng(seed + 1)
    cum = beds.sum(axis=1)
    pred = _predict(beds, method)
    sigma = math.log1p(future_relative_sd ** 2) ** 0.5
    factor = np.exp(sigma * rng.standard_normal(cum.size) - sigma ** 2 / 2)
    after = cum + pred * factor
    top, bottom = limit_gy + tolerance_gy, limit_gy - tolerance_gy
    k = _remaining(cum, pred * factor, top, cap).astype(int)
    values, counts = np.unique(k, return_counts=True)
    return NextCycleProbabilities(
        limit_gy, tolerance_gy, float(np.mean(after)), float(np.std(after, ddof=1)),
        float(np.mean(after > top)), float(np.mean((after >= bottom) & (after <= top))),
        {int(v): float(c) / cum.size for v, c in zip(values, counts)}, "Monte Carlo")

"""Sample size and power of a randomized trial of individualized vs standard PRRT.

Time-to-event endpoint (PFS), two arms, allocation ratio p = n_experimental / n, log-rank test:

* **events** (Schoenfeld 1981): d = (z_{1−α/s} + z_{1−β})² / (p (1 − p) (ln HR)²), with s the
  number of sides (2 by default) and HR the hazard ratio experimental : control;
* **patients**: with uniform accrual over A months, a minimum follow-up of F months after the last
  patient, and exponential PFS (median m, hazard λ = ln 2 / m in the control arm, λ·HR in the
  experimental arm), the probability that a patient's event is observed is

      P(λ) = 1 − (e^{−λF} − e^{−λ(A+F)}) / (λA),

  and n = d / (p P(λ·HR) + (1 − p) P(λ)) (Lachin & Foulkes 1986 without loss to follow-up);
* **power** for given events inverts the first formula: 1 − β = Φ(√(d p (1 − p)) |ln HR| −
  z_{1−α/s});
* **simulated power**: trials drawn under the same exponential, accrual and follow-up model and
  tested with :func:`iluminet.trial.survival.logrank_test` (R's ``survdiff``), so the closed form
  can be checked against the test actually used;
* **response rate** (binary endpoint, two proportions, normal approximation):
  n per arm = (z_{1−α/s} √(2 p̄ q̄) + z_{1−β} √(p₁q₁ + p₂q₂))² / (p₁ − p₂)², p̄ the mean rate
  (Fleiss et al. 1980 without continuity correction).

References: Schoenfeld DA. Biometrika 1981;68:316–319; Lachin JM, Foulkes MA. Biometrics
1986;42:507–519; Fleiss JL, Tytun A, Ury HK. Biometrics 1980;36:343–346 (docs/references.md,
"Trial design").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from iluminet.errors import InputError
from iluminet.trial.survival import logrank_test

__all__ = ["SurvivalDesign", "event_probability", "events_required", "patients_required",
           "power_from_events", "response_rate_patients_per_arm", "sample_size_table",
           "simulated_power"]

_SOURCE = "trial design"


def _check(name: str, value: float, low: float, high: float, *, open_low: bool = True,
           open_high: bool = True) -> float:
    v = float(value)
    ok = math.isfinite(v) and (v > low if open_low else v >= low) and (
        v < high if open_high else v <= high)
    if not ok:
        raise InputError(f"{name} = {value!r}: expected a number in "
                         f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}",
                         source=_SOURCE, field=name)
    return v


def _z(alpha: float, power: float, sides: int) -> tuple[float, float]:
    if sides not in (1, 2):
        raise InputError(f"sides = {sides!r}: expected 1 or 2", source=_SOURCE, field="sides")
    _check("alpha", alpha, 0.0, 0.5)
    _check("power", power, 0.0, 1.0)
    return float(stats.norm.ppf(1.0 - alpha / sides)), float(stats.norm.ppf(power))


def events_required(hazard_ratio: float, *, alpha: float = 0.05, power: float = 0.8,
                    allocation: float = 0.5, sides: int = 2) -> float:
    """Schoenfeld's number of events (not rounded) to detect ``hazard_ratio`` (module notes)."""
    hr = _check("hazard_ratio", hazard_ratio, 0.0, math.inf)
    if hr == 1.0:
        raise InputError("hazard_ratio = 1: no difference to detect", source=_SOURCE,
                         field="hazard_ratio")
    p = _check("allocation", allocation, 0.0, 1.0)
    z_a, z_b = _z(alpha, power, sides)
    return (z_a + z_b) ** 2 / (p * (1.0 - p) * math.log(hr) ** 2)


def power_from_events(events: float, hazard_ratio: float, *, alpha: float = 0.05,
                      allocation: float = 0.5, sides: int = 2) -> float:
    """Power of the log-rank test with ``events`` events (Schoenfeld's approximation)."""
    d = _check("events", events, 0.0, math.inf)
    hr = _check("hazard_ratio", hazard_ratio, 0.0, math.inf)
    p = _check("allocation", allocation, 0.0, 1.0)
    z_a, _ = _z(alpha, 0.5, sides)
    return float(stats.norm.cdf(math.sqrt(d * p * (1.0 - p)) * abs(math.log(hr)) - z_a))


def event_probability(hazard_per_month: float, accrual_months: float,
                      follow_up_months: float) -> float:
    """P(event observed) for exponential times, uniform accrual over A and follow-up F."""
    lam = _check("hazard_per_month", hazard_per_month, 0.0, math.inf)
    a = _check("accrual_months", accrual_months, 0.0, math.inf, open_low=False)
    f = _check("follow_up_months", follow_up_months, 0.0, math.inf, open_low=False)
    if a == 0.0:
        return 1.0 - math.exp(-lam * f)
    return 1.0 - (math.exp(-lam * f) - math.exp(-lam * (a + f))) / (lam * a)


@dataclass(frozen=True)
class SurvivalDesign:
    """A two-arm trial on a time-to-event endpoint with exponential times (module notes)."""

    control_median_months: float
    hazard_ratio: float
    accrual_months: float
    follow_up_months: float
    alpha: float = 0.05
    power: float = 0.8
    allocation: float = 0.5
    sides: int = 2

    @property
    def control_hazard_per_month(self) -> float:
        return math.log(2.0) / _check("control_median_months", self.control_median_months,
                                      0.0, math.inf)

    def events(self) -> float:
        return events_required(self.hazard_ratio, alpha=self.alpha, power=self.power,
                               allocation=self.allocation, sides=self.sides)

    def patients(self) -> float:
        """Patients (both arms, not rounded) expected to give :meth:`events` events."""
        lam = self.control_hazard_per_month
        p = self.allocation
        observed = (p * event_probability(lam * self.hazard_ratio, self.accrual_months,
                                          self.follow_up_months)
                    + (1.0 - p) * event_probability(lam, self.accrual_months,
                                                    self.follow_up_months))
        return self.events() / observed


def patients_required(design: SurvivalDesign) -> int:
    """Patients to enrol (both arms), rounded up to a whole number per arm at the allocation."""
    n = design.patients()
    p = design.allocation
    experimental = math.ceil(n * p - 1e-9)
    control = math.ceil(n * (1.0 - p) - 1e-9)
    return int(experimental + control)


def simulated_power(design: SurvivalDesign, n_patients: int, *, n_trials: int = 1000,
                    seed: int = 1) -> float:
    """Share of simulated trials (exponential times, uniform accrual, analysis at A + F) whose
    log-rank test rejects at ``alpha`` in the design's direction (two-sided: either)."""
    n = int(n_patients)
    if n < 4 or n_trials < 1:
        raise InputError(f"n_patients = {n_patients}, n_trials = {n_trials}: expected ≥ 4 and "
                         "≥ 1", source=_SOURCE, field="n_patients")
    rng = np.random.default_rng(seed)
    lam = design.control_hazard_per_month
    n_exp = int(round(n * design.allocation))
    arm = np.array(["experimental"] * n_exp + ["control"] * (n - n_exp))
    hazard = np.where(arm == "experimental", lam * design.hazard_ratio, lam)
    end = design.accrual_months + design.follow_up_months
    critical = stats.chi2.ppf(1.0 - design.alpha * (2 if design.sides == 1 else 1), df=1)
    rejected = 0
    for _ in range(int(n_trials)):
        entry = rng.uniform(0.0, design.accrual_months, n)
        time = rng.exponential(1.0 / hazard)
        available = end - entry
        observed = np.minimum(time, available)
        event = time <= available
        if not event.any():
            continue
        test = logrank_test(observed, event, arm, source="simulated trial")
        k = list(test.groups).index("experimental")
        # direction: the experimental arm has fewer events than expected when HR < 1
        fewer = float(test.observed[k]) < float(test.expected[k])
        if test.statistic >= critical and (design.sides == 2 or fewer == (design.hazard_ratio
                                                                           < 1.0)):
            rejected += 1
    return rejected / int(n_trials)


def response_rate_patients_per_arm(p_control: float, p_experimental: float, *,
                                   alpha: float = 0.05, power: float = 0.8,
                                   sides: int = 2) -> int:
    """Patients per arm to detect ``p_experimental`` vs ``p_control`` (module notes), rounded
    up."""
    p1 = _check("p_control", p_control, 0.0, 1.0)
    p2 = _check("p_experimental", p_experimental, 0.0, 1.0)
    if p1 == p2:
        raise InputError("equal response rates: no difference to detect", source=_SOURCE,
                         field="p_experimental")
    z_a, z_b = _z(alpha, power, sides)
    mean = (p1 + p2) / 2.0
    n = (z_a * math.sqrt(2.0 * mean * (1.0 - mean))
         + z_b * math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))) ** 2 / (p1 - p2) ** 2
    return int(math.ceil(n - 1e-9))


def sample_size_table(hazard_ratios: list[float], *, control_median_months: float,
                      accrual_months: float, follow_up_months: float, alpha: float = 0.05,
                      power: float = 0.8, allocation: float = 0.5) -> pd.DataFrame:
    """Events and patients per hazard ratio (one row each)."""
    rows = []
    for hr in hazard_ratios:
        design = SurvivalDesign(control_median_months, hr, accrual_months, follow_up_months,
                                alpha, power, allocation)
        rows.append({"hazard_ratio": hr, "events": math.ceil(design.events() - 1e-9),
                     "patients": patients_required(design),
                     "experimental_median_months": control_median_months / hr})
    return pd.DataFrame(rows)

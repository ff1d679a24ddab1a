"""The cycle decision of the ILUMINET protocol.

After each cycle the cumulative kidney BED so far, the BED the next 7.4 GBq cycle is predicted to
add, and the patient's state decide what happens next:

* ``next_cycle`` — give another cycle (step 1 or step 2) within the 10 ± 2 week window;
* ``step1_complete_step2_eligible`` — step 1 is complete and every step-2 criterion holds: the next
  cycle (step 2) may be offered;
* ``step1_complete_not_eligible`` — step 1 is complete and a step-2 criterion fails (every criterion
  at step-2 entry; during step 2 only those the protocol applies continuously, see below);
  treatment ends, with each failed criterion;
* ``stop_at_limit`` — the step-2 limit (or the cycle cap) is reached; treatment ends;
* ``withhold`` — dosimetry of a cycle is missing or flagged: no cumulative BED can be trusted, so no
  recommendation is made until it is resolved.

The last cycle of a step
------------------------
With ~4.9 Gy per cycle, cumulative BEDs step over the 27 ± 2 Gy window (24.6 Gy after 5 cycles,
29.5 Gy after 6), so the rule for the last cycle must be explicit. ``last_cycle_policy``:

``within_tolerance`` (default)
    give a cycle only if the predicted cumulative BED after it stays ≤ limit + tolerance;
``within_limit``
    give a cycle only if the predicted cumulative BED after it stays ≤ limit (the tolerance is
    kept as a margin for the prediction's error);
``reach_lower_bound``
    give cycles while the cumulative BED is below limit − tolerance, even if the predicted
    cumulative BED then exceeds limit + tolerance;
``nearest``
    give the cycle if the predicted cumulative BED after it lies nearer the limit than the current
    one (ties: do not give);
``risk_limited``
    give a cycle only if the probability that the cumulative BED after it exceeds limit +
    tolerance is at most ``max_overshoot_probability``. The probability is the normal one,
    ``P = 1 − Φ((L + tol − B_k) / σ_k)``, with ``B_k`` the predicted cumulative BED after ``k``
    more cycles and ``σ_k`` its standard uncertainty from :class:`BedCovariance` (the measured
    cycles' covariance, shared errors included, and the variability of every future cycle). Without
    a covariance (σ = 0) it gives the same cycles as ``within_tolerance``.

The next cycle's BED is predicted from the cycles so far (``bed_prediction``: mean, last or max of
the per-cycle BEDs; ``max`` is the cautious choice).

Decision state: what the step-2 criteria see
--------------------------------------------
The paper (Sundlöv et al. 2022, "Patients"): *"Patients entering step 2 […] had to have maintained
a GFR > 50 ml/min with a maximum decrease of 40% from baseline, no grade 3–4 toxicity, and a
maximum age of 70 years. Furthermore, patients were excluded from step 2 if they had a history of
diabetes or uncontrolled hypertension or if they previously had received liver embolization or
chemotherapy."*

* "maintained" and "no grade 3–4 toxicity" describe the whole course, not the last visit: the
  state the criteria see is :func:`cumulative_state` of the per-cycle states — the **worst
  toxicity grade over all cycles so far**, the **lowest GFR** so far and with it the **largest
  fall from baseline**. A grade 3 in cycle 2 is not forgotten because cycle 3 had grade 1.
* The criteria are an *entry* condition: all of them are checked once, at the decision that ends
  step 1 (age on that date).
* During step 2 only the criteria the protocol words as maintained are re-checked before every
  step-2 cycle (:data:`CONTINUOUS_STEP2_CRITERIA`): GFR > 50 ml/min, fall from baseline ≤ 40 %,
  no grade 3–4 toxicity. Age and the history exclusions (diabetes, uncontrolled hypertension,
  earlier liver embolization or chemotherapy) are not re-checked: a patient who turns 71 during
  step 2 continues. The paper does not state continuous criteria explicitly; kidney function and
  toxicity are the reasons the step-2 limit exists, so they are the conservative reading.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, get_args

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from iluminet.config.models import (
    MAX_PLANNED_CYCLES,
    BedPrediction,
    LastCyclePolicy,
    ProtocolConfig,
)
from iluminet.config.params import validation_error
from iluminet.errors import InputError

POLICIES: tuple[str, ...] = get_args(LastCyclePolicy)
PREDICTIONS: tuple[str, ...] = get_args(BedPrediction)
#: Step-2 criteria re-checked before every step-2 cycle (module docstring, "Decision state").
CONTINUOUS_STEP2_CRITERIA: tuple[str, ...] = ("gfr_min_ml_min", "gfr_max_decrease_fraction",
                                              "max_toxicity_grade")


class Action(str, Enum):
    NEXT_CYCLE = "next_cycle"
    STEP1_COMPLETE_STEP2_ELIGIBLE = "step1_complete_step2_eligible"
    STEP1_COMPLETE_NOT_ELIGIBLE = "step1_complete_not_eligible"
    STOP_AT_LIMIT = "stop_at_limit"
    WITHHOLD = "withhold"


@dataclass(frozen=True)
class Step2Criteria:
    """Who may continue to step 2 (all must hold after step 1)."""

    gfr_min_ml_min: float
    gfr_max_decrease_fraction: float
    max_toxicity_grade: int
    max_age_years: float
    exclude_diabetes: bool
    exclude_uncontrolled_hypertension: bool
    exclude_previous_liver_embolization: bool
    exclude_previous_chemotherapy: bool


@dataclass(frozen=True)
class Protocol:
    """The protocol numbers used by the decision (from ``params/protocol.yaml``)."""

    activity_per_cycle_gbq: float
    interval_nominal_weeks: float
    interval_tolerance_weeks: float
    alpha_beta_gy: float
    repair_half_time_h: float
    step1_bed_limit_gy: float
    step1_tolerance_gy: float
    step2_bed_limit_gy: float
    step2_tolerance_gy: float
    step2_criteria: Step2Criteria
    last_cycle_policy: str = "within_tolerance"
    bed_prediction: str = "mean"
    max_cycles: int | None = None
    #: red-marrow limit, shown beside the kidney BED (it decides only when enforced)
    marrow_limit_gy: float = 2.0
    marrow_limit_enforced: bool = False
    #: risk_limited policy: the largest accepted overshoot probability of the next cycle
    max_overshoot_probability: float = 0.10

    def __post_init__(self) -> None:
        # The rules (types, finite values, ranges, relations) live in the typed configuration,
        # so a Protocol built directly is held to exactly the rules of params/protocol.yaml.
        try:
            ProtocolConfig.model_validate(self.to_config())
        except ValidationError as exc:
            raise validation_error(exc, "protocol", root=ProtocolConfig) from None

    def to_config(self) -> dict[str, Any]:
        """The ``protocol`` section as ``params/protocol.yaml`` holds it."""
        return {
            "activity_per_cycle_gbq": self.activity_per_cycle_gbq,
            "interval": {"nominal_weeks": self.interval_nominal_weeks,
                         "tolerance_weeks": self.interval_tolerance_weeks},
            "radiobiology": {"alpha_beta_gy": self.alpha_beta_gy,
                             "repair_half_time_h": self.repair_half_time_h},
            "step1": {"bed_limit_gy": self.step1_bed_limit_gy,
                      "tolerance_gy": self.step1_tolerance_gy},
            "step2": {"bed_limit_gy": self.step2_bed_limit_gy,
                      "tolerance_gy": self.step2_tolerance_gy,
                      "criteria": asdict(self.step2_criteria)},
            "last_cycle_policy": self.last_cycle_policy,
            "bed_prediction": self.bed_prediction,
            "max_cycles": self.max_cycles,
            "marrow_limit": {"limit_gy": self.marrow_limit_gy,
                             "enforced": self.marrow_limit_enforced},
            "max_overshoot_probability": self.max_overshoot_probability,
        }

    @classmethod
    def from_parameters(cls, protocol: ProtocolConfig | Mapping[str, Any]) -> Protocol:
        """Build from the typed ``protocol`` section (:func:`iluminet.config.params.load_config`)
        or the same section as a mapping (validated)."""
        if not isinstance(protocol, ProtocolConfig):
            try:
                protocol = ProtocolConfig.model_validate(protocol)
            except ValidationError as exc:
                raise validation_error(exc, "protocol", root=ProtocolConfig) from None
        c = protocol.step2.criteria
        return cls(
            activity_per_cycle_gbq=protocol.activity_per_cycle_gbq,
            interval_nominal_weeks=protocol.interval.nominal_weeks,
            interval_tolerance_weeks=protocol.interval.tolerance_weeks,
            alpha_beta_gy=protocol.radiobiology.alpha_beta_gy,
            repair_half_time_h=protocol.radiobiology.repair_half_time_h,
            step1_bed_limit_gy=protocol.step1.bed_limit_gy,
            step1_tolerance_gy=protocol.step1.tolerance_gy,
            step2_bed_limit_gy=protocol.step2.bed_limit_gy,
            step2_tolerance_gy=protocol.step2.tolerance_gy,
            step2_criteria=Step2Criteria(**c.model_dump()),
            last_cycle_policy=protocol.last_cycle_policy,
            bed_prediction=protocol.bed_prediction,
            max_cycles=protocol.max_cycles,
            marrow_limit_gy=protocol.marrow_limit.limit_gy,
            marrow_limit_enforced=protocol.marrow_limit.enforced,
            max_overshoot_probability=protocol.max_overshoot_probability,
        )


@dataclass(frozen=True)
class CycleDosimetry:
    """What the decision needs to know about one given cycle."""

    cycle: int
    administration_datetime: datetime
    bed_gy: float | None
    dose_gy: float | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BedCovariance:
    """The uncertainty of the measured per-cycle BEDs, for the ``risk_limited`` policy.

    Attributes
    ----------
    covariance_gy2 : ndarray, shape (n, n)
        Covariance of the n measured per-cycle (decision) BEDs, Gy²; shared errors (camera
        calibration, S-value model) make it non-diagonal.
    future_relative_sd : float
        Relative standard deviation of each future cycle's BED about its prediction that does not
        come from the measured cycles (the cycle-to-cycle variability and the administered
        activity), independent between future cycles.
    """

    covariance_gy2: NDArray[np.float64]
    future_relative_sd: float = 0.0

    def sd_after_gy(self, beds_gy: Sequence[float], n_ahead: int, method: str) -> float:
        """Standard uncertainty of ``Σ beds + n_ahead · prediction(beds)`` (Gy).

        With the gradient ``g = 1 + n_ahead · w`` (``w`` the weights of the prediction: 1/k each
        for the mean, the last or the largest cycle for ``last``/``max``),
        ``σ² = gᵀ C g + n_ahead · (r · p)²`` with ``C`` the covariance of the first k cycles,
        ``p`` the prediction and ``r`` ``future_relative_sd``.
        """
        values = np.asarray(beds_gy, dtype=float)
        k = values.size
        cov = np.asarray(self.covariance_gy2, dtype=float)[:k, :k]
        w = np.zeros(k)
        if method == "mean":
            w[:] = 1.0 / k
        elif method == "last":
            w[-1] = 1.0
        else:
            w[int(np.argmax(values))] = 1.0
        g = 1.0 + n_ahead * w
        predicted = predict_cycle_bed(values.tolist(), method)
        var = float(g @ cov @ g) + n_ahead * (self.future_relative_sd * predicted) ** 2
        return math.sqrt(max(var, 0.0))


def overshoot_probability(after_gy: float, sd_gy: float, upper_gy: float) -> float:
    """``P(B > upper)`` for a normal ``B`` with mean ``after_gy`` and SD ``sd_gy`` (0 or 1 when
    the SD is 0)."""
    if sd_gy <= 0:
        return float(after_gy > upper_gy)
    # normal survival function 1 − Φ(z) = erfc(z/√2)/2 (math, not scipy.stats: the chain's
    # import stays free of the image stack that scipy.stats pulls in)
    return 0.5 * math.erfc((upper_gy - after_gy) / (sd_gy * math.sqrt(2.0)))


@dataclass(frozen=True)
class PatientState:
    """The patient's state at the time of the decision. ``None`` means unknown.

    For the decision, ``current_gfr_ml_min`` is the GFR the criteria see and
    ``worst_toxicity_grade`` the worst grade so far: build the state with
    :func:`cumulative_state` from one state per cycle so that neither is only the latest value.
    """

    age_years: float | None
    baseline_gfr_ml_min: float | None
    current_gfr_ml_min: float | None
    worst_toxicity_grade: int | None
    diabetes: bool | None
    uncontrolled_hypertension: bool | None
    previous_liver_embolization: bool | None
    previous_chemotherapy: bool | None


@dataclass(frozen=True)
class Decision:
    """The recommendation after the cycles so far, with every reason behind it."""

    action: Action
    step: int | None
    next_cycle: int | None
    earliest_date: datetime | None
    latest_date: datetime | None
    cumulative_bed_gy: float | None
    predicted_cycle_bed_gy: float | None
    predicted_cumulative_bed_gy: float | None
    predicted_cycles_remaining: int | None
    reasons: tuple[str, ...] = ()
    failed_criteria: tuple[str, ...] = field(default_factory=tuple)

    @property
    def gives_cycle(self) -> bool:
        return self.action in (Action.NEXT_CYCLE, Action.STEP1_COMPLETE_STEP2_ELIGIBLE)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["action"] = self.action.value
        for key in ("earliest_date", "latest_date"):
            out[key] = None if out[key] is None else out[key].date().isoformat()
        out["reasons"] = list(self.reasons)
        out["failed_criteria"] = list(self.failed_criteria)
        return out

    def summary(self) -> str:
        """One line a physicist reads, e.g. for a report."""
        text = {
            Action.NEXT_CYCLE: f"give cycle {self.next_cycle} (step {self.step})",
            Action.STEP1_COMPLETE_STEP2_ELIGIBLE:
                f"step 1 complete; eligible for step 2: give cycle {self.next_cycle} (step 2)",
            Action.STEP1_COMPLETE_NOT_ELIGIBLE: "step 1 complete; not eligible for step 2: stop",
            Action.STOP_AT_LIMIT: "stop: limit reached",
            Action.WITHHOLD: "withhold: no recommendation until dosimetry is resolved",
        }[self.action]
        if self.earliest_date is not None and self.latest_date is not None:
            text += (f" between {self.earliest_date.date().isoformat()} and "
                     f"{self.latest_date.date().isoformat()}")
        return text


def cumulative_state(history: Sequence[PatientState]) -> PatientState:
    """The decision state from one state per cycle so far (oldest first).

    * ``worst_toxicity_grade``: the maximum over every cycle (unknown if any cycle's is unknown,
      since an unknown grade could be the worst);
    * ``current_gfr_ml_min``: the lowest GFR measured so far — with a fixed baseline it also
      gives the largest fall from baseline (cycles without a measurement are skipped; unknown if
      none was measured);
    * age and the history flags: from the latest state (age on the decision date).
    """
    if not history:
        raise InputError("expected at least one per-cycle state", source="decision state",
                         field="history")
    last = history[-1]
    grades = [h.worst_toxicity_grade for h in history]
    grade = None if any(g is None for g in grades) else max(int(g) for g in grades
                                                            if g is not None)
    gfrs = [float(h.current_gfr_ml_min) for h in history if h.current_gfr_ml_min is not None]
    return PatientState(
        age_years=last.age_years, baseline_gfr_ml_min=last.baseline_gfr_ml_min,
        current_gfr_ml_min=min(gfrs) if gfrs else None, worst_toxicity_grade=grade,
        diabetes=last.diabetes, uncontrolled_hypertension=last.uncontrolled_hypertension,
        previous_liver_embolization=last.previous_liver_embolization,
        previous_chemotherapy=last.previous_chemotherapy)


def step2_failures(state: PatientState, criteria: Step2Criteria, *,
                   continuous_only: bool = False) -> list[str]:
    """The step-2 criteria the patient fails, each named with its value; unknown values fail.

    ``continuous_only``: only :data:`CONTINUOUS_STEP2_CRITERIA` (GFR, fall from baseline,
    toxicity), as re-checked during step 2.
    """
    failures: list[str] = []
    gfr, baseline = state.current_gfr_ml_min, state.baseline_gfr_ml_min
    if gfr is None:
        failures.append("GFR unknown")
    elif not gfr > criteria.gfr_min_ml_min:
        failures.append(f"GFR {gfr:.0f} ml/min not above {criteria.gfr_min_ml_min:.0f} ml/min")
    if gfr is None or baseline is None:
        failures.append("GFR change from baseline unknown")
    else:
        decrease = (baseline - gfr) / baseline
        if decrease > criteria.gfr_max_decrease_fraction:
            failures.append(f"GFR decreased {100 * decrease:.0f} % from baseline "
                            f"(at most {100 * criteria.gfr_max_decrease_fraction:.0f} %)")
    if state.worst_toxicity_grade is None:
        failures.append("toxicity grade unknown")
    elif state.worst_toxicity_grade > criteria.max_toxicity_grade:
        failures.append(f"grade {state.worst_toxicity_grade} toxicity "
                        f"(at most grade {criteria.max_toxicity_grade} allowed)")
    if continuous_only:
        return failures
    if state.age_years is None:
        failures.append("age unknown")
    elif state.age_years > criteria.max_age_years:
        age = float(state.age_years)  # whole years as such, else to 0.1 year (70.5 is over 70)
        shown = f"{age:.0f}" if age == round(age) else f"{age:.1f}"
        failures.append(f"age {shown} years above {criteria.max_age_years:.0f}")
    exclusions = (
        (criteria.exclude_diabetes, state.diabetes, "diabetes"),
        (criteria.exclude_uncontrolled_hypertension, state.uncontrolled_hypertension,
         "uncontrolled hypertension"),
        (criteria.exclude_previous_liver_embolization, state.previous_liver_embolization,
         "earlier liver embolization"),
        (criteria.exclude_previous_chemotherapy, state.previous_chemotherapy,
         "earlier chemotherapy"),
    )
    for applies, present, label in exclusions:
        if not applies:
            continue
        if present is None:
            failures.append(f"{label}: unknown")
        elif present:
            failures.append(label)
    return failures


def predict_cycle_bed(per_cycle_bed_gy: Sequence[float], method: str = "mean") -> float:
    """BED the next cycle is expected to add, from the cycles so far."""
    values = np.asarray(per_cycle_bed_gy, dtype=float)
    if values.size == 0:
        raise InputError("no cycles to predict from", field="bed_gy")
    if method == "mean":
        return float(np.mean(values))
    if method == "last":
        return float(values[-1])
    if method == "max":
        return float(np.max(values))
    raise InputError(f"must be one of {', '.join(PREDICTIONS)}, got {method!r}",
                     field="bed_prediction")


def allows_another_cycle(cumulative_bed_gy: float, predicted_cycle_bed_gy: float,
                         limit_gy: float, tolerance_gy: float, policy: str, *,
                         sd_after_gy: float = 0.0, max_overshoot_probability: float = 0.10
                         ) -> bool:
    """Whether ``policy`` gives one more cycle of the step whose target is ``limit_gy``
    (``sd_after_gy``: the standard uncertainty of the cumulative BED after it, ``risk_limited``
    only)."""
    after = cumulative_bed_gy + predicted_cycle_bed_gy
    if policy == "risk_limited":
        return overshoot_probability(after, sd_after_gy, limit_gy + tolerance_gy) \
            <= max_overshoot_probability
    if policy == "within_tolerance":
        return after <= limit_gy + tolerance_gy
    if policy == "within_limit":
        return after <= limit_gy
    if policy == "reach_lower_bound":
        return cumulative_bed_gy < limit_gy - tolerance_gy
    if policy == "nearest":
        return abs(after - limit_gy) < abs(cumulative_bed_gy - limit_gy)
    raise InputError(f"unknown last-cycle policy {policy!r}", field="last_cycle_policy")


def cycles_allowed(cumulative_bed_gy: float, predicted_cycle_bed_gy: float, limit_gy: float,
                   tolerance_gy: float, policy: str, cap: int | None = None, *,
                   sd_after: Callable[[int], float] | None = None,
                   max_overshoot_probability: float = 0.10) -> int:
    """How many more cycles ``policy`` gives if each adds ``predicted_cycle_bed_gy``.

    Closed form, not a loop over future cycles: every policy gives the ``k``-th further cycle
    while ``cumulative + k·p`` is below a bound (``p`` the predicted BED per cycle), so the count
    follows from one division, then is checked against :func:`allows_another_cycle` itself at the
    boundary (floating-point rounding).

    Raises
    ------
    InputError
        For a non-finite input, a predicted BED per cycle ≤ 0, or a plan of more than
        ``MAX_PLANNED_CYCLES`` cycles (a near-zero BED per cycle: a unit error or broken input).
    """
    inputs = {"cumulative_bed_gy": cumulative_bed_gy, "bed_gy": predicted_cycle_bed_gy,
              "bed_limit_gy": limit_gy, "tolerance_gy": tolerance_gy}
    for name, value in inputs.items():
        if not math.isfinite(float(value)):
            raise InputError(f"expected a finite number, got {float(value)!r}",
                             source="cycle planning", field=name)
    if predicted_cycle_bed_gy <= 0:
        raise InputError(f"predicted BED per cycle must be > 0, got {predicted_cycle_bed_gy!r}",
                         source="cycle planning", field="bed_gy")
    if policy not in POLICIES:
        raise InputError(f"expected one of {', '.join(POLICIES)}, got {policy!r}",
                         source="cycle planning", field="last_cycle_policy")
    p = float(predicted_cycle_bed_gy)
    if policy == "risk_limited":
        near = math.floor((limit_gy + tolerance_gy - cumulative_bed_gy) / p)
        if near > MAX_PLANNED_CYCLES + 2:
            raise InputError(
                f"a predicted BED of {p:.3g} Gy per cycle would need about {near} more cycles to "
                f"reach the {limit_gy:g} Gy limit, more than any plan ({MAX_PLANNED_CYCLES}): "
                "check the units and the dosimetry of the cycles", source="cycle planning",
                field="bed_gy")
        # the k-th further cycle while P(cumulative after it > limit + tol) stays acceptable;
        # σ grows with k, so the count is found by stepping (at most MAX_PLANNED_CYCLES steps)
        count = 0
        while count <= MAX_PLANNED_CYCLES and allows_another_cycle(
                cumulative_bed_gy + count * p, p, limit_gy, tolerance_gy, policy,
                sd_after_gy=0.0 if sd_after is None else sd_after(count + 1),
                max_overshoot_probability=max_overshoot_probability):
            count += 1
        if count > MAX_PLANNED_CYCLES:
            raise InputError(
                f"a predicted BED of {p:.3g} Gy per cycle would need more than "
                f"{MAX_PLANNED_CYCLES} more cycles: check the units and the dosimetry of the "
                "cycles", source="cycle planning", field="bed_gy")
        return count if cap is None else min(count, max(int(cap), 0))
    room = (limit_gy - cumulative_bed_gy) / p  # the limit, in predicted cycles from now
    estimate = {"within_tolerance": math.floor(room + tolerance_gy / p),
                "within_limit": math.floor(room),
                "reach_lower_bound": math.ceil(room - tolerance_gy / p),
                "nearest": math.ceil(room - 0.5)}[policy]
    if estimate > MAX_PLANNED_CYCLES + 2:
        raise InputError(
            f"a predicted BED of {p:.3g} Gy per cycle would need about {estimate} more cycles to "
            f"reach the {limit_gy:g} Gy limit, more than any plan ({MAX_PLANNED_CYCLES}): check "
            "the units and the dosimetry of the cycles", source="cycle planning", field="bed_gy")

    def allows(k: int) -> bool:
        return allows_another_cycle(cumulative_bed_gy + k * p, p, limit_gy, tolerance_gy, policy)

    count = max(estimate, 0)
    for _ in range(2):  # rounding at the boundary moves the count by at most one
        if count > 0 and not allows(count - 1):
            count -= 1
        elif allows(count):
            count += 1
    if count > MAX_PLANNED_CYCLES:
        raise InputError(
            f"a predicted BED of {p:.3g} Gy per cycle would need {count} more cycles, more than "
            f"any plan ({MAX_PLANNED_CYCLES}): check the units and the dosimetry of the cycles",
            source="cycle planning", field="bed_gy")
    return count if cap is None else min(count, max(int(cap), 0))


def _validate_cycles(cycles: Sequence[CycleDosimetry]) -> None:
    for position, cycle in enumerate(cycles, start=1):
        if cycle.cycle != position:
            raise InputError(f"cycles must be numbered 1, 2, … in order; found {cycle.cycle} at "
                             f"position {position}", source="cycles", field="cycle")
        if cycle.administration_datetime.tzinfo is None:
            raise InputError(f"cycle {cycle.cycle}: administration time has no timezone",
                             source="cycles", field="administration_datetime")
        if (
            position > 1
            and cycle.administration_datetime <= cycles[position - 2].administration_datetime
        ):
            raise InputError(f"cycle {cycle.cycle} is not after cycle {cycle.cycle - 1}",
                             source="cycles", field="administration_datetime")


def decide_next_cycle(cycles: Sequence[CycleDosimetry],
                      state: PatientState | Sequence[PatientState],
                      protocol: Protocol, uncertainty: BedCovariance | None = None) -> Decision:
    """Decide what follows the cycles given so far.

    Parameters
    ----------
    cycles
        Every cycle given so far, in order, with its kidney BED (``None`` if not yet computed) and
        the flags raised by its dosimetry.
    state
        The patient's state for the step-2 criteria: one :class:`PatientState` per cycle given
        (oldest first; combined by :func:`cumulative_state`), or one state already combined so.
    protocol
        The protocol numbers.
    uncertainty
        The covariance of the per-cycle BEDs (``risk_limited`` policy; None: no uncertainty).

    Notes
    -----
    Step 1 ends after the first cycle ``k`` at which the last-cycle policy gives no further step-1
    cycle, with the BED prediction made from cycles ``1..k``. Every step-2 criterion is checked at
    that decision (entry); during step 2 only :data:`CONTINUOUS_STEP2_CRITERIA` are re-checked,
    so a patient whose kidney function falls or who has a grade 3–4 toxicity during step 2 stops,
    and one who turns 71 does not (module docstring, "Decision state").
    """
    _validate_cycles(cycles)
    states: list[PatientState] | None = None
    if not isinstance(state, PatientState):
        states = list(state)
        if cycles and len(states) != len(cycles):
            raise InputError(f"expected one state per cycle given ({len(cycles)}), got "
                             f"{len(states)}", source="decision state", field="history")
        state = cumulative_state(states) if states else PatientState(
            None, None, None, None, None, None, None, None)
    window = _window(cycles, protocol)
    if not cycles:
        return Decision(Action.NEXT_CYCLE, 1, 1, None, None, 0.0, None, None, None,
                        reasons=("no cycle given yet",))

    problems = [f"cycle {c.cycle}: kidney BED missing" for c in cycles if c.bed_gy is None]
    problems += [f"cycle {c.cycle}: {flag}" for c in cycles for flag in c.flags]
    problems += [
        f"cycle {c.cycle}: kidney BED {c.bed_gy!r} is not a positive number"
        for c in cycles
        if c.bed_gy is not None and not (np.isfinite(c.bed_gy) and c.bed_gy > 0)
    ]
    if problems:
        return Decision(Action.WITHHOLD, None, None, None, None, None, None, None, None,
                        reasons=tuple(problems))

    beds = [float(c.bed_gy) for c in cycles]  # type: ignore[arg-type]
    cumulative = float(np.sum(beds))
    predicted = predict_cycle_bed(beds, protocol.bed_prediction)
    after = cumulative + predicted
    n_given = len(cycles)
    policy = protocol.last_cycle_policy
    common: dict[str, Any] = dict(cumulative_bed_gy=cumulative, predicted_cycle_bed_gy=predicted)
    basis = (f"cumulative kidney BED {cumulative:.2f} Gy after {n_given} cycle(s); "
             f"next cycle predicted to add {predicted:.2f} Gy ({protocol.bed_prediction} of "
             f"cycles so far), giving {after:.2f} Gy")

    cap_left = None if protocol.max_cycles is None else protocol.max_cycles - n_given
    if cap_left is not None and cap_left <= 0:
        return Decision(Action.STOP_AT_LIMIT, None, None, None, None, **common,
                        predicted_cumulative_bed_gy=None, predicted_cycles_remaining=0,
                        reasons=(basis, f"maximum of {protocol.max_cycles} cycles reached"))

    def sd_for(prefix: Sequence[float]) -> Callable[[int], float]:
        def sd(n_ahead: int) -> float:
            if uncertainty is None:
                return 0.0
            return uncertainty.sd_after_gy(prefix, n_ahead, protocol.bed_prediction)
        return sd

    risk: dict[str, Any] = dict(sd_after=sd_for(beds),
                                max_overshoot_probability=protocol.max_overshoot_probability)
    step1_end = _step1_end(beds, protocol, sd_for)
    limit1 = f"step 1 limit {protocol.step1_bed_limit_gy:g} ± {protocol.step1_tolerance_gy:g} Gy"
    if step1_end is None:  # still in step 1
        remaining = cycles_allowed(cumulative, predicted, protocol.step1_bed_limit_gy,
                                   protocol.step1_tolerance_gy, policy, cap_left, **risk)
        return Decision(Action.NEXT_CYCLE, 1, n_given + 1, *window, **common,
                        predicted_cumulative_bed_gy=after, predicted_cycles_remaining=remaining,
                        reasons=(basis, f"within the {limit1} under policy '{policy}'"))

    entering = step1_end == n_given
    failures = step2_failures(state, protocol.step2_criteria, continuous_only=not entering)
    if not entering and states:
        # the entry criteria with the state as it was when step 1 ended: a policy that places the
        # end of step 1 before the cycles given must not skip them
        entry = step2_failures(cumulative_state(states[:step1_end]), protocol.step2_criteria,
                               continuous_only=False)
        failures = list(dict.fromkeys([*entry, *failures]))
    limit2 = f"step 2 limit {protocol.step2_bed_limit_gy:g} ± {protocol.step2_tolerance_gy:g} Gy"
    if failures:
        # In step 2 the continuous criteria are re-checked: a patient who stops meeting them stops.
        label = ("step 1 complete; step-2 criteria not met" if entering else
                 f"in step 2 (since cycle {step1_end + 1}); continuous step-2 criteria not met")
        return Decision(Action.STEP1_COMPLETE_NOT_ELIGIBLE, None, None, None, None, **common,
                        predicted_cumulative_bed_gy=None, predicted_cycles_remaining=0,
                        reasons=(basis, label),
                        failed_criteria=tuple(failures))
    remaining = cycles_allowed(cumulative, predicted, protocol.step2_bed_limit_gy,
                               protocol.step2_tolerance_gy, policy, cap_left, **risk)
    if remaining == 0:
        return Decision(Action.STOP_AT_LIMIT, None, None, None, None, **common,
                        predicted_cumulative_bed_gy=None, predicted_cycles_remaining=0,
                        reasons=(basis, f"no further cycle within the {limit2} "
                                        f"under policy '{policy}'"))
    action = Action.STEP1_COMPLETE_STEP2_ELIGIBLE if step1_end == n_given else Action.NEXT_CYCLE
    return Decision(action, 2, n_given + 1, *window, **common, predicted_cumulative_bed_gy=after,
                    predicted_cycles_remaining=remaining,
                    reasons=(basis, f"every step-2 criterion met; within the {limit2} "
                                    f"under policy '{policy}'"))


def _step1_end(per_cycle_bed_gy: Sequence[float], protocol: Protocol,
               sd_for: Callable[[Sequence[float]], Callable[[int], float]] | None = None
               ) -> int | None:
    """The cycle after which step 1 ended, or ``None`` if it continues."""
    total = 0.0
    for k, bed in enumerate(per_cycle_bed_gy, start=1):
        total += bed
        predicted = predict_cycle_bed(per_cycle_bed_gy[:k], protocol.bed_prediction)
        sd = 0.0 if sd_for is None else sd_for(per_cycle_bed_gy[:k])(1)
        if not allows_another_cycle(total, predicted, protocol.step1_bed_limit_gy,
                                    protocol.step1_tolerance_gy, protocol.last_cycle_policy,
                                    sd_after_gy=sd,
                                    max_overshoot_probability=protocol.max_overshoot_probability):
            return k
    return None


def _window(cycles: Sequence[CycleDosimetry], protocol: Protocol
            ) -> tuple[datetime | None, datetime | None]:
    if not cycles:
        return None, None
    last = cycles[-1].administration_datetime
    return (
        last + timedelta(weeks=protocol.interval_nominal_weeks - protocol.interval_tolerance_weeks),
        last + timedelta(weeks=protocol.interval_nominal_weeks + protocol.interval_tolerance_weeks),
    )

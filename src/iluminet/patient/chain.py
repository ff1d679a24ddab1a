"""The measurement-level chain for one patient: kidney TAC fit → TIA → absorbed dose → BED →
cumulative BED → cycle decision.

Per cycle and kidney the time-activity data are fitted (:mod:`iluminet.patient.kinetics`), the TIA
turned into absorbed dose with the mass-scaled S-value (:mod:`iluminet.patient.dosimetry`) and the
dose into BED with the dose-rate curve of the fitted model (:mod:`iluminet.patient.radiobiology`):
the mono-exponential model gives the instant-uptake G factor, the uptake-and-clearance model its own
closed form.

The cycle's kidney BED is the mean of the two kidneys' BEDs
(``analysis.dosimetry.kidney_for_decision = mean``, as ILUMINET reports the mean kidney) or the
higher one (``max``, the cautious choice for a patient with asymmetric kidneys). Each kidney keeps
its own kinetics, so the mean of the BEDs is used rather than the BED of the mean dose. Any flag
raised by a fit is carried to the cycle and withholds the decision.

Uncertainty (:mod:`iluminet.uncertainty`): every measured input is propagated to the TIA, dose,
BED and cumulative BED (analytic and Monte Carlo, ``analysis.uncertainty``). A kidney-cycle whose
full relative TIA uncertainty exceeds ``analysis.kinetics.max_relative_tia_se`` is flagged
"uncertain" (beside the fit's own residual-based check); the covariance of the cycle BEDs feeds the
``risk_limited`` policy, and the next-cycle probabilities are added to the decision's reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from iluminet.config.models import Kinetics, Parameters
from iluminet.config.params import as_parameters, validation_error
from iluminet.errors import InputError
from iluminet.patient import dosimetry, kinetics, plausibility, radiobiology
from iluminet.patient.planning import CycleDosimetry, Decision, Protocol, decide_next_cycle
from iluminet.patient.records import KIDNEYS, PatientRecord

FIT_COLUMNS = ("cycle", "kidney", "model", "n_points", "a0_mbq", "effective_half_life_h",
               "effective_half_life_se_h", "uptake_half_life_h", "tia_mbq_h", "tia_se_mbq_h",
               "r_squared", "tia_trapezoid_mbq_h", "tia_hanscheid_mbq_h", "flags")


@dataclass
class KidneyFit:
    """The fit of one kidney in one cycle (``fitter`` is None when no fit was possible)."""

    cycle: int
    kidney: str
    time_h: np.ndarray
    activity_mbq: np.ndarray
    used: np.ndarray  # which points entered the fit
    fitter: Any | None
    flags: list[str] = field(default_factory=list)


@dataclass
class PatientDosimetry:
    """Results of the chain for one patient.

    Attributes
    ----------
    fits_ : DataFrame
        Per cycle and kidney: model, kinetic parameters, TIA with SE, comparison TIAs, flags.
    kidney_doses_ : DataFrame
        Per cycle and kidney: mass, S-value, dose (Gy), Gy/GBq, BED (Gy).
    cycles_ : DataFrame
        Per cycle: administered activity, mean dose, decision dose and BED, cumulative BED, flags.
    decision_ : Decision
        What follows the cycles so far.
    warnings_ : list of str
        Findings shown in the report that do not withhold the decision (e.g. a delayed cycle).
    """

    record: PatientRecord
    parameters: dict[str, Any]
    kidney_fits: list[KidneyFit]
    fits_: pd.DataFrame
    kidney_doses_: pd.DataFrame
    cycles_: pd.DataFrame
    decision_: Decision
    warnings_: list[str] = field(default_factory=list)
    marrow_: Any | None = None  # marrow_chain.MarrowDosimetry when blood samples are given
    #: iluminet.uncertainty.assess.PatientUncertainty (None when no kidney-cycle has a fit)
    uncertainty_: Any | None = None
    #: iluminet.uncertainty.decision.NextCycleProbabilities of the decision's step
    next_cycle_probabilities_: Any | None = None

    @property
    def protocol(self) -> Protocol:
        return Protocol.from_parameters(self.parameters["protocol"])


def fit_kidney(cycle: int, kidney: str, time_h: np.ndarray, activity_mbq: np.ndarray,
               kinetics_params: Kinetics | Mapping[str, Any], source: str) -> KidneyFit:
    """Fit one kidney's curve with the configured model; too few points → a flagged empty fit.

    ``kinetics_params`` is the typed ``analysis.kinetics`` section (a mapping is validated)."""
    if isinstance(kinetics_params, Kinetics):
        kin = kinetics_params
    else:
        try:
            kin = Kinetics.model_validate(kinetics_params)
        except ValidationError as exc:
            raise validation_error(exc, "analysis parameters", root=Kinetics) from None
    used = np.ones(time_h.size, dtype=bool)
    if kin.model == "mono":
        used = time_h >= kin.mono_fit_from_h
    label = f"{kidney} kidney"
    if used.sum() < kin.min_points:
        return KidneyFit(cycle, kidney, time_h, activity_mbq, used, None, [
            f"{label}: only {int(used.sum())} usable scan(s), at least "
            f"{kin.min_points} needed (missing time point?)"])
    fitter = kinetics.fit_time_activity(
        time_h[used], activity_mbq[used], model=kin.model,
        max_relative_tia_se=kin.max_relative_tia_se,
        source=f"{source}, cycle {cycle}, {label}")
    return KidneyFit(cycle, kidney, time_h, activity_mbq, used, fitter,
                     [f"{label}: {flag}" for flag in fitter.flags_])


def _fit_row(fit: KidneyFit) -> dict[str, Any]:
    f = fit.fitter
    hanscheid = trapezoid = np.nan  # a cycle without scans has neither comparison
    if fit.time_h.size:
        nearest_96h = int(np.argmin(np.abs(fit.time_h - 96.0)))  # single-time-point comparison
        hanscheid = kinetics.hanscheid_tia(float(fit.activity_mbq[nearest_96h]),
                                           float(fit.time_h[nearest_96h]))
    if fit.time_h.size >= 2:
        trapezoid = kinetics.trapezoid_tia(fit.time_h, fit.activity_mbq,
                                           tail="physical").tia_mbq_h
    return {
        "cycle": fit.cycle, "kidney": fit.kidney,
        "model": None if f is None else f.model_name,
        "n_points": int(fit.used.sum()),
        "a0_mbq": np.nan if f is None else float(f.params_["A0_mbq"]),
        "effective_half_life_h": np.nan if f is None else f.effective_half_life_h_,
        "effective_half_life_se_h": np.nan if f is None else f.effective_half_life_se_h_,
        "uptake_half_life_h": getattr(f, "uptake_half_life_h_", np.nan),
        "tia_mbq_h": np.nan if f is None else f.tia_mbq_h_,
        "tia_se_mbq_h": np.nan if f is None else f.tia_se_mbq_h_,
        "r_squared": np.nan if f is None else f.r_squared_,
        "tia_trapezoid_mbq_h": trapezoid,
        "tia_hanscheid_mbq_h": hanscheid,
        "flags": "; ".join(fit.flags),
    }


def _kidney_bed_gy(dose_gy: float, fit: KidneyFit, protocol: Protocol) -> float:
    f = fit.fitter
    if f is None or not np.isfinite(dose_gy) or not np.isfinite(f.effective_half_life_h_) \
            or f.effective_half_life_h_ <= 0:
        return np.nan
    ab, trep = protocol.alpha_beta_gy, protocol.repair_half_time_h
    if f.model_name == "biexp":
        return float(radiobiology.bed_biexponential(dose_gy, f.effective_half_life_h_,
                                                    f.uptake_half_life_h_, ab, trep))
    return float(radiobiology.bed_monoexponential(dose_gy, f.effective_half_life_h_, ab, trep))


def run_patient_dosimetry(record: PatientRecord, parameters: Parameters | Mapping[str, Any]
                          ) -> PatientDosimetry:
    """Run the chain on a validated patient record with the parameters in force (typed, or the
    merged mapping of :func:`iluminet.config.params.load_parameters`)."""
    config = as_parameters(parameters)
    protocol = Protocol.from_parameters(config.protocol)
    analysis = config.analysis
    if analysis.dosimetry.method != "s_value":
        raise InputError("measurement-level data hold whole-kidney activities: only the s_value "
                         "method applies (concentration needs SPECT VOIs)",
                         source="analysis parameters", field="dosimetry.method")
    choice = analysis.dosimetry.kidney_for_decision
    limits = plausibility.PlausibilityLimits.from_parameters(
        {"plausibility": analysis.plausibility.model_dump()})
    source = str(record.folder / "kidney_activity.csv")
    fits: list[KidneyFit] = []
    dose_rows: list[dict[str, Any]] = []
    per_cycle: list[dict[str, Any]] = []
    for _, cycle in record.cycles.iterrows():
        number = int(cycle["cycle"])
        activity_mbq = float(cycle["administered_activity_mbq"])
        per_kidney: dict[str, tuple[float, float]] = {}
        flags: list[str] = []
        for kidney in KIDNEYS:
            rows = record.activity[(record.activity["cycle"] == number)
                                   & (record.activity["kidney"] == kidney)]
            if rows.empty:
                flags.append(f"{kidney} kidney: no scan in {source.rsplit('/', 1)[-1]} "
                             "(cycle without images or measurements)")
            fit = fit_kidney(number, kidney, rows["time_h"].to_numpy(float),
                             rows["activity_mbq"].to_numpy(float), analysis.kinetics, source)
            fits.append(fit)
            flags += fit.flags
            mass_g = float(cycle[f"{kidney}_kidney_mass_g"])
            s_value = dosimetry.kidney_s_value_mgy_per_mbq_h(mass_g, analysis.dosimetry.phantom)
            tia = np.nan if fit.fitter is None else fit.fitter.tia_mbq_h_
            dose = dosimetry.absorbed_dose_gy(tia, s_value) if np.isfinite(tia) else np.nan
            bed = _kidney_bed_gy(dose, fit, protocol)
            per_kidney[kidney] = (dose, bed)
            dose_rows.append({"cycle": number, "kidney": kidney, "mass_g": mass_g,
                              "s_mgy_per_mbq_h": s_value, "tia_mbq_h": tia, "dose_gy": dose,
                              "dose_gy_per_gbq": dose / (activity_mbq / 1000.0), "bed_gy": bed})
        doses = np.array([per_kidney[k][0] for k in KIDNEYS])
        beds = np.array([per_kidney[k][1] for k in KIDNEYS])
        combine = np.mean if choice == "mean" else np.max
        cycle_dose = float(combine(doses)) if np.all(np.isfinite(doses)) else np.nan
        cycle_bed = float(combine(beds)) if np.all(np.isfinite(beds)) else np.nan
        per_cycle.append({"number": number, "cycle": cycle, "activity_mbq": activity_mbq,
                          "dose": cycle_dose, "bed": cycle_bed, "flags": flags})

    # Plausibility interlocks (iluminet.patient.plausibility): implausible values flag their cycle,
    # and a flagged cycle withholds the decision with the flag as the reason.
    fraction_flags = plausibility.kidney_fraction_flags(record.activity, record.cycles, limits)
    gbq_flags = plausibility.dose_per_gbq_flags(
        {c["number"]: c["dose"] / (c["activity_mbq"] / 1000.0) for c in per_cycle}, limits)
    intervals = plausibility.interval_checks(
        list(record.cycles["administration_datetime"]), protocol.interval_nominal_weeks,
        protocol.interval_tolerance_weeks, limits)
    for c in per_cycle:
        number = c["number"]
        c["flags"] += [f"implausible: {flag}" for flag in (
            fraction_flags.get(number, []) + gbq_flags.get(number, [])
            + plausibility.cycle_bed_flags(c["bed"], limits) + intervals.flags.get(number, []))]
        c["flags"] += list(record.cycle_flags.get(number, ()))  # e.g. a misplaced kidney VOI

    # full uncertainty (iluminet.uncertainty): every measured input, shared errors included; the
    # "uncertain" flag compares the full relative TIA uncertainty with max_relative_tia_se
    assessment = _assess(fits, record, per_cycle, protocol, analysis)
    if assessment is not None:
        full_u = assessment.relative_tia_u()
        limit = analysis.kinetics.max_relative_tia_se
        for c in per_cycle:
            for kidney in KIDNEYS:
                rel = full_u.get((c["number"], kidney), np.nan)
                if np.isfinite(rel) and rel > limit:
                    c["flags"].append(
                        f"{kidney} kidney: uncertain: relative standard uncertainty of the TIA "
                        f"{100 * rel:.0f} % (every measured input) exceeds the limit "
                        f"{100 * limit:.0f} %")
        usable_now = [c["number"] for c in per_cycle
                      if np.isfinite(c["bed"]) and not c["flags"]]
        if usable_now != assessment.model.usable_cycles:
            assessment = _assess(fits, record, per_cycle, protocol, analysis)

    cycle_rows, cycle_inputs = [], []
    cumulative = 0.0
    for c in per_cycle:
        number, cycle, activity_mbq = c["number"], c["cycle"], c["activity_mbq"]
        cycle_dose, cycle_bed, flags = c["dose"], c["bed"], c["flags"]
        usable = np.isfinite(cycle_bed) and not flags
        cumulative = cumulative + cycle_bed if (usable and np.isfinite(cumulative)) else np.nan
        cycle_rows.append({
            "cycle": number,
            "administration_datetime": cycle["administration_datetime"],
            "administered_activity_mbq": activity_mbq,
            "dose_gy": cycle_dose,
            "dose_gy_per_gbq": cycle_dose / (activity_mbq / 1000.0),
            "bed_gy": cycle_bed,
            "cumulative_bed_gy": cumulative,
            "eqd2_gy": float(radiobiology.eqd2(cycle_bed, protocol.alpha_beta_gy))
            if np.isfinite(cycle_bed) else np.nan,
            "flags": "; ".join(flags),
        })
        cycle_inputs.append(CycleDosimetry(number, cycle["administration_datetime"].to_pydatetime(),
                                           cycle_bed if np.isfinite(cycle_bed) else None,
                                           cycle_dose if np.isfinite(cycle_dose) else None,
                                           tuple(flags)))
    decision = decide_next_cycle(cycle_inputs, record.states(), protocol,
                                 None if assessment is None else assessment.bed_covariance())
    probabilities = None
    if assessment is not None:
        from iluminet.uncertainty.probabilities import next_cycle_probabilities

        probabilities = next_cycle_probabilities(assessment, decision, protocol)
        if probabilities is not None:
            decision = replace(decision, reasons=(*decision.reasons, probabilities.text()))
    # red marrow beside the kidney BED: one line in the reasons (a limit only if enforced)
    from iluminet.patient import marrow_chain

    merged = config.to_dict()
    warnings = list(intervals.warnings)
    try:
        marrow_result = marrow_chain.run_marrow_dosimetry(record.folder, record.info,
                                                          record.cycles, merged)
    except InputError as exc:
        if merged["protocol"]["marrow_limit"]["enforced"]:
            raise
        # advisory marrow limit: a marrow input that cannot be used leaves the kidney decision
        # as it is and says why the marrow dose is missing
        marrow_result = None
        warnings.append(f"no red-marrow dose: {exc}")
    decision = marrow_chain.annotate_decision(decision, marrow_result, len(cycle_rows),
                                              merged["protocol"]["marrow_limit"])
    return PatientDosimetry(
        record=record, parameters=config.to_dict(), kidney_fits=fits,
        fits_=pd.DataFrame([_fit_row(f) for f in fits], columns=list(FIT_COLUMNS)),
        kidney_doses_=pd.DataFrame(dose_rows), cycles_=pd.DataFrame(cycle_rows),
        decision_=decision, warnings_=warnings, marrow_=marrow_result,
        uncertainty_=assessment, next_cycle_probabilities_=probabilities)


def _assess(fits: list[KidneyFit], record: PatientRecord, per_cycle: list[dict[str, Any]],
            protocol: Protocol, analysis: Any) -> Any | None:
    """The patient's :class:`iluminet.uncertainty.assess.PatientUncertainty` (None: no fit)."""
    from iluminet.uncertainty.assess import assess_uncertainty

    if not any(f.fitter is not None for f in fits):
        return None
    masses = {(c["number"], kidney): float(c["cycle"][f"{kidney}_kidney_mass_g"])
              for c in per_cycle for kidney in KIDNEYS}
    usable = [c["number"] for c in per_cycle if np.isfinite(c["bed"]) and not c["flags"]]
    return assess_uncertainty(
        fits, record.activity, masses, [c["number"] for c in per_cycle], usable,
        uncertainty=analysis.uncertainty, alpha_beta_gy=protocol.alpha_beta_gy,
        repair_half_time_h=protocol.repair_half_time_h, phantom=analysis.dosimetry.phantom,
        kidney_for_decision=analysis.dosimetry.kidney_for_decision)

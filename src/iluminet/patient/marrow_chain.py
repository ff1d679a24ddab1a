"""Marrow dosimetry of a patient over cycles, and its line in the cycle decision.

Per cycle with blood samples (``blood_samples.csv``): the blood curve is fitted
(:class:`~iluminet.patient.marrow.BloodCurveFitter`), the remainder-of-body TIA taken from
``whole_body_activity.csv`` (trapezoids of the whole-body and of the organ activities, the head held
at the first value, the tail from the last two points; absent → no cross-dose, flagged) and the
blood-based marrow dose computed with the patient's red-marrow mass
(:func:`~iluminet.patient.marrow.red_marrow_mass_g`). The cumulative dose is compared with the
marrow limit of ``protocol.marrow_limit`` (default 2 Gy, EANM; advisory unless ``enforced``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.patient import kinetics, marrow
from iluminet.patient.marrow_records import (
    BLOOD_FILE,
    MARROW_SPECT_FILE,
    WHOLE_BODY_FILE,
    read_blood_samples,
    read_marrow_spect,
    read_whole_body_activity,
)
from iluminet.patient.planning import Action, Decision

__all__ = ["MarrowDosimetry", "annotate_decision", "has_marrow_data", "run_marrow_dosimetry"]

MARROW_COLUMNS = ("cycle", "method", "n_samples", "blood_model", "blood_tia_mbq_h_per_ml",
                  "rmblr", "red_marrow_mass_g", "tia_rm_mbq_h", "tia_rb_mbq_h", "self_dose_gy",
                  "cross_dose_gy", "dose_gy", "dose_gy_per_gbq", "cumulative_dose_gy", "flags",
                  # image-based beside it (marrow_spect.csv), not used for the limit
                  "image_vertebral_activity_mbq", "image_tia_rm_mbq_h", "image_dose_gy",
                  "skeletal_lesion")


@dataclass
class MarrowDosimetry:
    """Per-cycle marrow doses (``cycles_``), the fits, and the limit check (``limit_``)."""

    cycles_: pd.DataFrame
    blood_fits: dict[int, marrow.BloodCurveFitter]
    limit_: marrow.MarrowLimitCheck | None
    s_values: marrow.MarrowSValues
    flags: list[str]


def has_marrow_data(folder: str | Path) -> bool:
    return (Path(folder) / BLOOD_FILE).is_file()


def _masses(info: Mapping[str, Any], scaling: str,
            source: str = "patient.yaml") -> tuple[float, float, list[str]]:
    sex = info.get("sex")
    ref = marrow.REFERENCE_ADULTS.get(str(sex))
    if ref is None:
        raise InputError("sex needed for the reference red-marrow mass", source=source,
                         field="sex")
    weight = info.get("weight_kg")
    if weight is None:
        return ref.red_marrow_mass_g, ref.body_mass_kg, [
            "patient weight unknown: ICRP 89 reference red-marrow and body masses used"]
    mass = marrow.red_marrow_mass_g(str(sex), float(weight), info.get("height_cm"),
                                    scaling)  # type: ignore[arg-type]
    return mass, float(weight), []


def _remainder_tias(wb: pd.DataFrame) -> tuple[float, float]:
    t = wb["time_h"].to_numpy(float)
    whole = kinetics.trapezoid_tia(t, wb["whole_body_activity_mbq"].to_numpy(float), tail="fit",
                                   head="constant").tia_mbq_h
    organs = wb["organs_activity_mbq"].to_numpy(float)
    if not np.any(organs > 0):
        return whole, 0.0
    # organ uptake starts at administration (head from zero); a zero entry cannot be fitted
    organs = np.maximum(organs, 1e-9 * float(np.max(organs)))
    organ_tia = kinetics.trapezoid_tia(t, organs, tail="fit", head="zero").tia_mbq_h
    return whole, organ_tia


def run_marrow_dosimetry(folder: str | Path, info: Mapping[str, Any], cycles: pd.DataFrame,
                         parameters: Mapping[str, Any]) -> MarrowDosimetry | None:
    """Blood-based marrow dose per cycle from the patient folder's marrow files (None: none)."""
    folder = Path(folder)
    if not has_marrow_data(folder):
        return None
    options = parameters["analysis"]["marrow"]
    limit_params = parameters["protocol"]["marrow_limit"]
    blood = read_blood_samples(folder / BLOOD_FILE, cycles)
    wb_path = folder / WHOLE_BODY_FILE
    wb = read_whole_body_activity(wb_path, cycles) if wb_path.is_file() else None
    m_rm, m_tb, flags = _masses(info, str(options["mass_scaling"]),
                                source=str(folder / "patient.yaml"))
    s = marrow.marrow_s_values(m_rm, m_tb,
                               electron_absorbed_fraction=float(
                                   options["electron_absorbed_fraction"]))
    spect_path = folder / MARROW_SPECT_FILE
    spect = read_marrow_spect(spect_path, cycles) if spect_path.is_file() else None
    f_vert = marrow.VERTEBRAL_MARROW_FRACTIONS[str(options["vertebral_group"])]
    rows, fits = [], {}
    cumulative = 0.0
    for _, cycle in cycles.iterrows():
        number = int(cycle["cycle"])
        activity_gbq = float(cycle["administered_activity_mbq"]) / 1000.0
        samples = blood[blood["cycle"] == number]
        row: dict[str, Any] = {c: math.nan for c in MARROW_COLUMNS}
        row.update(cycle=number, method="blood", n_samples=len(samples), flags="")
        if len(samples) < int(options["min_blood_samples"]):
            row["flags"] = (f"only {len(samples)} blood sample(s), at least "
                            f"{options['min_blood_samples']} needed")
            cumulative = math.nan
            row["cumulative_dose_gy"] = cumulative
            rows.append(row)
            continue
        fit = marrow.BloodCurveFitter(options["blood_model"]).fit(
            samples["time_h"], samples["concentration_mbq_per_ml"],
            source=f"{folder / BLOOD_FILE}, cycle {number}")
        fits[number] = fit
        if bool(options["rmblr_from_haematocrit"]):
            hct = samples["haematocrit"].dropna()
            if hct.empty:
                raise InputError(f"cycle {number}: haematocrit needed for the haematocrit form of "
                                 "RMBLR", source=str(folder / BLOOD_FILE), field="haematocrit")
            rmblr = marrow.rmblr_from_haematocrit(float(hct.mean()))
        else:
            rmblr = float(options["rmblr"])
        wb_tia = organ_tia = None
        if wb is not None and (wb["cycle"] == number).sum() >= 2:
            wb_tia, organ_tia = _remainder_tias(wb[wb["cycle"] == number])
        dose = marrow.blood_based_marrow_dose(
            fit.tia_mbq_h_per_ml_, s, rmblr=rmblr, whole_body_tia_mbq_h=wb_tia,
            other_sources_tia_mbq_h=organ_tia or 0.0, flags=fit.flags_)
        cumulative += dose.dose_gy
        row.update(blood_model=fit.model_, blood_tia_mbq_h_per_ml=fit.tia_mbq_h_per_ml_,
                   rmblr=rmblr, red_marrow_mass_g=m_rm, tia_rm_mbq_h=dose.tia_rm_mbq_h,
                   tia_rb_mbq_h=dose.tia_rb_mbq_h, self_dose_gy=dose.self_dose_gy,
                   cross_dose_gy=dose.cross_dose_gy, dose_gy=dose.dose_gy,
                   dose_gy_per_gbq=dose.dose_gy / activity_gbq, cumulative_dose_gy=cumulative,
                   flags="; ".join(dose.flags))
        level = None if spect is None else spect[spect["cycle"] == number]
        if level is not None and len(level):
            # image-based (Hagmarker 2019): SPECT level / reference fraction, blood-curve shape
            t_s = float(level["time_h"].iloc[0])
            a_vert = float(level["vertebral_marrow_activity_mbq"].iloc[0])
            image = marrow.image_based_marrow_dose(
                marrow.VertebralMarrow(a_vert, 0.0, math.nan, 0.0,
                                       bool(level["skeletal_lesion"].iloc[0]), False, ()),
                t_s, fit, s, vertebral_fraction=f_vert, whole_body_tia_mbq_h=wb_tia,
                other_sources_tia_mbq_h=organ_tia or 0.0)
            row.update(image_vertebral_activity_mbq=a_vert, image_tia_rm_mbq_h=image.tia_rm_mbq_h,
                       image_dose_gy=image.dose_gy,
                       skeletal_lesion=bool(level["skeletal_lesion"].iloc[0]))
            if row["skeletal_lesion"]:
                flags.append(f"cycle {number}: skeletal lesion in the marrow VOI — the "
                             "image-based marrow dose is raised by metastases (Hagmarker 2019); "
                             "the blood-based dose is the one compared with the limit")
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(MARROW_COLUMNS))
    doses = table["dose_gy"].to_numpy(float)
    limit = None
    if doses.size and np.all(np.isfinite(doses)):
        limit = marrow.marrow_limit_check(doses, float(limit_params["limit_gy"]),
                                          enforced=bool(limit_params["enforced"]),
                                          prediction=str(parameters["protocol"]["bed_prediction"]))
    return MarrowDosimetry(table, fits, limit, s, flags)


def annotate_decision(decision: Decision, result: MarrowDosimetry | None, n_cycles: int,
                      limit_params: Mapping[str, Any]) -> Decision:
    """The decision with the marrow line among its reasons; an enforced limit can stop it.

    Not enforced (default): the marrow dose is shown beside the kidney BED and changes nothing.
    Enforced: a predicted cumulative marrow dose above the limit stops treatment
    (``stop_at_limit``); a missing marrow dose withholds the decision.
    """
    enforced = bool(limit_params["enforced"])
    if result is None:
        if not enforced:
            return decision
        return dataclasses.replace(decision, action=Action.WITHHOLD, step=None, next_cycle=None,
                                   earliest_date=None, latest_date=None,
                                   reasons=decision.reasons + (
                                       "marrow limit enforced but no blood samples",))
    if result.limit_ is None:
        missing = result.cycles_.loc[~np.isfinite(result.cycles_["dose_gy"].astype(float)),
                                     "cycle"].tolist()
        line = f"red-marrow dose missing for cycle(s) {missing}"
        if enforced and decision.gives_cycle:
            return dataclasses.replace(decision, action=Action.WITHHOLD, step=None,
                                       next_cycle=None, earliest_date=None, latest_date=None,
                                       reasons=decision.reasons + (line,))
        return dataclasses.replace(decision, reasons=decision.reasons + (line,))
    check = result.limit_
    reasons = decision.reasons + check.reasons
    if enforced and check.exceeded and decision.gives_cycle:
        return dataclasses.replace(decision, action=Action.STOP_AT_LIMIT, step=None,
                                   next_cycle=None, earliest_date=None, latest_date=None,
                                   predicted_cumulative_bed_gy=None, predicted_cycles_remaining=0,
                                   reasons=reasons)
    return dataclasses.replace(decision, reasons=reasons)


def format_marrow(result: MarrowDosimetry | None, decimals: int = 3) -> str:
    """The per-cycle marrow doses and the limit line, for a report or a notebook."""
    if result is None:
        return "no blood_samples.csv: no red-marrow dose (data/README.md)"
    d = decimals
    lines = [f"red-marrow mass {result.s_values.red_marrow_mass_g:.0f} g, body "
             f"{result.s_values.body_mass_g / 1000:.1f} kg; S(RM<-RM) "
             f"{result.s_values.rm_from_rm:.5f}, S(RM<-RB) {result.s_values.rm_from_rb:.3e} "
             "mGy/(MBq h)", f"S values: {result.s_values.source}"] + list(result.flags)
    lines.append(f"{'cycle':>5s} {'model':>6s} {'TIA RM (MBq h)':>15s} {'self (Gy)':>10s} "
                 f"{'cross (Gy)':>10s} {'dose (Gy)':>10s} {'Gy/GBq':>8s} {'cum. (Gy)':>10s}")
    for _, r in result.cycles_.iterrows():
        lines.append(f"{int(r['cycle']):5d} {str(r['blood_model']):>6s} {r['tia_rm_mbq_h']:15.1f} "
                     f"{r['self_dose_gy']:10.{d}f} {r['cross_dose_gy']:10.{d}f} "
                     f"{r['dose_gy']:10.{d}f} {r['dose_gy_per_gbq']:8.4f} "
                     f"{r['cumulative_dose_gy']:10.{d}f}"
                     + (f"  [{r['flags']}]" if r['flags'] else ""))
    if result.limit_ is not None:
        lines += list(result.limit_.reasons)
    return "\n".join(lines)

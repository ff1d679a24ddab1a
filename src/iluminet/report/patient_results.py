"""Per-patient results: printed tables with fixed precision (stable for nbval) and ``results.json``
with provenance."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from iluminet.config.params import workbook_root
from iluminet.patient.chain import PatientDosimetry
from iluminet.patient.entry import PreparedPatient
from iluminet.provenance import provenance, write_json_atomic, write_text_atomic
from iluminet.report.data_source import patient_source

RESULTS_FILE = "results.json"


def _text(table: pd.DataFrame, decimals: int) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.{decimals}f}", na_rep="—")


def format_entry(prepared: PreparedPatient) -> str:
    """How the kidney activities were obtained, and any warning from the image quantification."""
    if prepared.entry_level == "measurements":
        lines = [
            "entry level: measurements (calibrated kidney activities from kidney_activity.csv)"
        ]
    else:
        calibration = prepared.calibration
        assert calibration is not None  # image-level entry always has its camera calibration
        lines = ["entry level: images (hybrid planar/SPECT quantification; kidney masses from "
                 "the CT VOIs)",
                 "camera calibration: none" if calibration is None else
                 f"camera calibration: {calibration.camera_name} of "
                 f"{calibration.acquisition_date}"]
    lines += [f"warning: {warning}" for warning in prepared.warnings]
    return "\n".join(lines)


def format_image_quantification(prepared: PreparedPatient) -> str:
    """Per scan and kidney: the planar (conjugate-view) and the hybrid (SPECT-scaled) activity;
    per cycle and kidney: the SPECT VOI volume, mass, recovery coefficient and activity at 24 h."""
    if prepared.quantification is None:
        return "no images: nothing quantified here"
    scans = prepared.quantification.per_scan[["cycle", "kidney", "time_h", "planar_activity_mbq",
                                              "hybrid_activity_mbq"]]
    spect = prepared.quantification.spect[["cycle", "kidney", "time_h", "volume_ml", "mass_g",
                                           "recovery_coefficient", "activity_mbq"]]
    return (_text(scans, 2) + "\n\nSPECT/CT\n"
            + _text(spect.rename(columns={"activity_mbq": "spect_activity_mbq"}), 3))


def format_measurements(result: PatientDosimetry) -> str:
    """The kidney activities as read (time after administration, MBq), one row per scan."""
    wide = result.record.activity.pivot_table(index=["cycle", "time_h"], columns="kidney",
                                              values="activity_mbq").reset_index()
    wide.columns = ["cycle", "time_h", "left_mbq", "right_mbq"]
    return _text(wide, 2)


def format_fits(result: PatientDosimetry) -> str:
    columns = ["cycle", "kidney", "model", "n_points", "effective_half_life_h",
               "effective_half_life_se_h", "tia_mbq_h", "tia_se_mbq_h", "r_squared"]
    return _text(result.fits_[columns], 2)


def format_kidney_doses(result: PatientDosimetry, decimals: int = 3) -> str:
    columns = ["cycle", "kidney", "mass_g", "s_mgy_per_mbq_h", "tia_mbq_h", "dose_gy",
               "dose_gy_per_gbq", "bed_gy"]
    table = result.kidney_doses_[columns].copy()
    table["tia_mbq_h"] = table["tia_mbq_h"].round(0)
    return _text(table, decimals)


def format_cycles(result: PatientDosimetry, decimals: int = 3) -> str:
    table = result.cycles_.copy()
    table["date"] = [t.date().isoformat() for t in table.pop("administration_datetime")]
    columns = ["cycle", "date", "administered_activity_mbq", "dose_gy", "dose_gy_per_gbq",
               "bed_gy", "cumulative_bed_gy", "eqd2_gy"]
    return _text(table[columns], decimals)


def format_flags(result: PatientDosimetry) -> str:
    flagged = result.fits_[result.fits_["flags"] != ""]
    lines = [f"cycle {row.cycle}: {row.flags!s}" for row in flagged.itertuples()]
    # plausibility interlocks flag a cycle, not a fit
    lines += [f"cycle {row.cycle}: {flag}" for row in result.cycles_.itertuples()
              for flag in str(row.flags).split("; ") if flag.startswith("implausible:")]
    lines += [f"warning: {warning}" for warning in result.warnings_]
    return "\n".join(lines) if lines else "no fit flagged"


def format_decision(result: PatientDosimetry) -> str:
    decision = result.decision_
    lines = [f"decision: {decision.summary()}"]
    lines += [f"  because: {reason}" for reason in decision.reasons]
    lines += [f"  step-2 criterion not met: {item}" for item in decision.failed_criteria]
    if decision.predicted_cycles_remaining is not None and decision.gives_cycle:
        lines.append(f"  predicted cycles remaining in step {decision.step}: "
                     f"{decision.predicted_cycles_remaining}")
    return "\n".join(lines)


def patient_results(result: PatientDosimetry, decimals: int = 4) -> dict[str, Any]:
    """The machine-readable results of one patient (see ``results.json`` in the README)."""
    cycles = []
    row: Any  # a row of the cycles table (heterogeneous columns)
    for row in result.cycles_.itertuples():
        doses = result.kidney_doses_[result.kidney_doses_["cycle"] == row.cycle]
        dose_rows: Iterable[Any] = doses.itertuples()
        cycles.append({
            "cycle": int(row.cycle),
            "administration_datetime": row.administration_datetime.isoformat(),
            "administered_activity_mbq": round(row.administered_activity_mbq, 1),
            "dose_gy": round(row.dose_gy, decimals),
            "dose_gy_per_gbq": round(row.dose_gy_per_gbq, decimals),
            "bed_gy": round(row.bed_gy, decimals),
            "cumulative_bed_gy": round(row.cumulative_bed_gy, decimals),
            "kidneys": {d.kidney: {"mass_g": d.mass_g, "tia_mbq_h": round(d.tia_mbq_h, 1),
                                   "dose_gy": round(d.dose_gy, decimals),
                                   "bed_gy": round(d.bed_gy, decimals)}
                        for d in dose_rows},
            "flags": [flag for flag in row.flags.split("; ") if flag],
        })
    out = {"patient_id": result.record.patient_id, "cycles": cycles,
           "decision": result.decision_.to_dict()}
    _add_uncertainty(out, result, decimals)
    return out


def _num(value: Any, decimals: int) -> float | None:
    value = float(value)
    return round(value, decimals) if math.isfinite(value) else None


def _add_uncertainty(out: dict[str, Any], result: PatientDosimetry, decimals: int) -> None:
    """Add (never rename) the uncertainty keys: per cycle ``<key>_u`` (standard uncertainty) and
    ``<key>_95`` ([lower, upper]), per kidney the same for TIA, dose and BED, the next-cycle
    probabilities under ``decision.probabilities`` and the budget under ``uncertainty``."""
    u = result.uncertainty_
    if u is None:
        return
    cycles = u.cycle_table().set_index("cycle")
    kidneys = u.kidney_table().set_index(["cycle", "kidney"])
    for entry in out["cycles"]:
        number = entry["cycle"]
        if number in cycles.index:
            row = cycles.loc[number]
            for key, name in (("dose_gy", "cycle_dose_gy"), ("bed_gy", "cycle_bed_gy"),
                              ("cumulative_bed_gy", "cumulative_bed_gy")):
                entry[f"{key}_u"] = _num(row[f"{name}_u"], decimals)
                entry[f"{key}_95"] = [_num(row[f"{name}_lower95"], decimals),
                                      _num(row[f"{name}_upper95"], decimals)]
        for kidney, values in entry["kidneys"].items():
            if (number, kidney) not in kidneys.index:
                continue
            row = kidneys.loc[(number, kidney)]
            for key, unit in (("tia", "mbq_h"), ("dose", "gy"), ("bed", "gy")):
                sd = float(row[f"{key}_u_{unit}"])
                value = float(row[f"{key}_{unit}"])
                values[f"{key}_u_{unit}"] = _num(sd, decimals)
                values[f"{key}_{unit}_95"] = [_num(value - 1.959964 * sd, decimals),
                                              _num(value + 1.959964 * sd, decimals)]
    probabilities = result.next_cycle_probabilities_
    out["decision"]["probabilities"] = None if probabilities is None else probabilities.to_dict()
    budget = u.dose_budget()
    out["uncertainty"] = {
        "method": u.method, "n_draws": int(u.monte_carlo.eps.shape[0]),
        "components": dict(u.model.budget.relative),
        "latest_cycle_dose_budget": [
            {"component": r.component, "fraction": _num(r.fraction, 4),
             "relative_u": _num(r.relative_u, 4)} for r in budget.itertuples()],
        "dominant_source": u.dominant_source_sentence(),
    }


def write_dosimetry_tables(result: PatientDosimetry, results_dir: str | Path) -> list[Path]:
    """Write the fit and kidney-dose tables as CSV into ``results_dir`` (nothing if it is empty)."""
    if not str(results_dir):
        return []
    return [write_text_atomic(Path(results_dir) / name, table.to_csv(index=False))
            for name, table in (("fits.csv", result.fits_),
                                ("kidney_doses.csv", result.kidney_doses_))]


def write_patient_results(result: PatientDosimetry, results_dir: str | Path,
                          prepared: PreparedPatient | None = None) -> Path | None:
    """Write ``results.json`` (with provenance) and ``cycles.csv`` into ``results_dir``
    (nothing if it is empty, as in an interactive session). With ``prepared`` from image-level
    entry, the provenance hashes the DICOM and VOI files too."""
    if not str(results_dir):
        return None
    results_dir = Path(results_dir)
    content = patient_results(result)
    content["entry_level"] = prepared.entry_level if prepared else "measurements"
    folder = Path(prepared.quantification.folder) if prepared and prepared.quantification \
        else result.record.folder
    source = patient_source(folder)
    content["data_source"] = {"synthetic": source.synthetic, "description": source.description}
    inputs = prepared.input_files() if prepared else result.record.input_files()
    data_root = prepared.data_root() if prepared else result.record.folder.resolve().parent
    content["provenance"] = provenance(inputs, result.parameters, workbook_root(),
                                       data_root=data_root)
    write_text_atomic(results_dir / "cycles.csv", result.cycles_.to_csv(index=False))
    return write_json_atomic(results_dir / RESULTS_FILE, content)

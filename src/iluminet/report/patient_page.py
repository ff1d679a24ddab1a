"""The clinician's view of one patient: the decision first, in a box (what, when, why, which
kidney drove it, flags), then the numbers as styled tables with units and per-column precision,
flagged values marked. Each patient notebook opens with :func:`patient_header` (banner + decision),
so whichever report a reader opens, the decision is the first thing on the page.

Presentation only: every number comes from :class:`iluminet.patient.chain.PatientDosimetry`.
"""

from __future__ import annotations

import math
from pathlib import Path

from pandas.io.formats.style import Styler

from iluminet.patient.chain import PatientDosimetry
from iluminet.patient.entry import PreparedPatient
from iluminet.patient.planning import Action, Decision
from iluminet.report.data_source import DataSource, patient_source
from iluminet.report.html import (
    FLAG_STYLE,
    Html,
    escape,
    short_flags,
    styled_table,
    synthetic_banner,
)
from iluminet.scalars import as_int

__all__ = ["ACTION_STYLE", "cycles_table", "decision_box", "driving_kidney", "fits_table",
           "image_quantification_tables", "kidney_doses_table", "measurements_table",
           "patient_header", "patient_source_of", "source_folder"]

#: Action → (headline, border colour, background) of the decision box.
ACTION_STYLE: dict[Action, tuple[str, str, str]] = {
    Action.NEXT_CYCLE: ("Give the next cycle", "#1a7f37", "#e9f7ee"),
    Action.STEP1_COMPLETE_STEP2_ELIGIBLE: ("Step 1 complete — continue with step 2", "#1a7f37",
                                           "#e9f7ee"),
    Action.STEP1_COMPLETE_NOT_ELIGIBLE: ("Step 1 complete — stop (not eligible for step 2)",
                                         "#0b4f8a", "#e8f1fa"),
    Action.STOP_AT_LIMIT: ("Stop — kidney BED limit reached", "#0b4f8a", "#e8f1fa"),
    Action.WITHHOLD: ("Withhold — no recommendation until the dosimetry is resolved", "#a50f15",
                      "#fde0dd"),
}


def patient_source_of(result: PatientDosimetry,
                      prepared: PreparedPatient | None = None) -> DataSource:
    """The data source of the patient's input folder (at image level the DICOM folder, not the
    derived tables the record was read from)."""
    return patient_source(source_folder(result, prepared))


def source_folder(result: PatientDosimetry, prepared: PreparedPatient | None = None) -> Path:
    if prepared is not None and prepared.quantification is not None:
        return Path(prepared.quantification.folder)
    return Path(result.record.folder)


def _cycle_flags(result: PatientDosimetry) -> list[str]:
    return [str(f) for f in result.cycles_["flags"].fillna("")]


def driving_kidney(result: PatientDosimetry) -> str:
    """Which kidney's BED the decision follows, in words, with each kidney's cumulative BED.

    The cycle BED is the mean or the maximum of the two kidneys
    (``analysis.dosimetry.kidney_for_decision``); the cumulative BED per kidney is the sum of that
    kidney's cycle BEDs over the unflagged cycles (missing if any is missing)."""
    choice = result.parameters["analysis"]["dosimetry"]["kidney_for_decision"]
    doses = result.kidney_doses_
    flagged = {as_int(r.cycle) for r in result.cycles_.itertuples() if r.flags}
    doses = doses[~doses["cycle"].isin(flagged)]
    per_kidney = {}
    for kidney in ("left", "right"):
        beds = doses.loc[doses["kidney"] == kidney, "bed_gy"].astype(float)
        per_kidney[kidney] = float(beds.sum()) if beds.notna().all() and len(beds) else math.nan
    parts = ", ".join(f"{k} {v:.2f} Gy" if math.isfinite(v) else f"{k} not computable"
                      for k, v in per_kidney.items())
    if all(math.isfinite(v) for v in per_kidney.values()):
        higher = max(per_kidney, key=lambda k: per_kidney[k])
        lead = f"the {higher} kidney has the higher BED"
    else:
        lead = "a kidney's BED could not be computed"
    rule = ("the higher-BED kidney of each cycle (max)" if choice == "max"
            else "the mean of both kidneys")
    skipped = f"; flagged cycle(s) {', '.join(map(str, sorted(flagged)))} not counted" \
        if flagged else ""
    return f"Decision BED = {rule}; {lead} (cumulative: {parts}{skipped})."


def _window(decision: Decision) -> str:
    if decision.earliest_date is None or decision.latest_date is None:
        return "no further cycle scheduled"
    return (f"between {decision.earliest_date:%d %b %Y} and {decision.latest_date:%d %b %Y} "
            f"({decision.earliest_date.date().isoformat()} – "
            f"{decision.latest_date.date().isoformat()})")


def decision_box(result: PatientDosimetry) -> Html:
    """The decision as a coloured box: what, when (the date window of the next cycle), why,
    which kidney drove it, and every flag."""
    decision = result.decision_
    headline, border, background = ACTION_STYLE[decision.action]
    what = escape(decision.summary().split(" between ")[0])
    cum = decision.cumulative_bed_gy
    rows = [("What", f"<strong>{what}</strong>"),
            ("When", escape(_window(decision)))]
    if cum is not None:
        bed = f"cumulative kidney BED {cum:.2f} Gy after {len(result.cycles_)} cycle(s)"
        if decision.gives_cycle and decision.predicted_cumulative_bed_gy is not None:
            bed += (f"; predicted after cycle {decision.next_cycle}: "
                    f"{decision.predicted_cumulative_bed_gy:.2f} Gy")
        if decision.predicted_cycles_remaining is not None and decision.gives_cycle:
            bed += (f"; predicted cycles remaining in step {decision.step}: "
                    f"{decision.predicted_cycles_remaining}")
        rows.append(("BED", escape(bed)))
    why = "".join(f"<li>{escape(r)}</li>" for r in decision.reasons)
    why += "".join(f"<li>step-2 criterion not met: {escape(c)}</li>"
                   for c in decision.failed_criteria)
    rows.append(("Why", f"<ul style='margin:0; padding-left:1.2em'>{why}</ul>" if why else "—"))
    rows.append(("Kidney", escape(driving_kidney(result))))
    flags = [(row.cycle, row.flags) for row in result.cycles_.itertuples() if row.flags]
    if flags:
        items = "".join(f"<li><span style='{FLAG_STYLE}'>cycle {c}</span>: "
                        f"{escape(short_flags(str(f)))} — its BED is not counted</li>"
                        for c, f in flags)
        rows.append(("Flags", f"<ul style='margin:0; padding-left:1.2em'>{items}</ul>"))
    else:
        rows.append(("Flags", "none: every kidney fit passed its checks"))
    body = "".join(
        f"<tr><th style='text-align:left; vertical-align:top; padding:3px 12px 3px 0; "
        f"white-space:nowrap'>{escape(k)}</th><td style='text-align:left; padding:3px 0'>{v}</td>"
        "</tr>" for k, v in rows)
    patient = escape(result.record.patient_id)
    return Html(
        f"<div class='decision-box' data-action='{decision.action.value}' style='border: 3px "
        f"solid {border}; background: {background}; border-radius: 8px; padding: 10px 16px; "
        "margin: 8px 0 14px 0; max-width: 60em;'>"
        f"<div style='font-size: 1.3em; font-weight: 700; color: {border}; margin-bottom: 6px'>"
        f"{patient}: {escape(headline)}</div>"
        f"<table style='border-collapse: collapse; font-size: 0.98em'>{body}</table></div>")


def patient_header(result: PatientDosimetry, prepared: PreparedPatient | None = None,
                   notebook: str = "") -> Html:
    """Banner (when the data are generated) and decision box: the top of every patient report."""
    source = patient_source_of(result, prepared)
    title = f"<div style='color:#555; font-size:0.95em'>{escape(notebook)}</div>" \
        if notebook else ""
    return Html(str(synthetic_banner(source)) + title + str(decision_box(result)))


def _number_or_text(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def cycles_table(result: PatientDosimetry) -> Styler:
    """Cycles so far: date, activity (MBq, whole numbers), dose and BED (Gy, 2 decimals);
    a flagged cycle's dose, BED and flags marked (its BED does not count in the cumulative)."""
    t = result.cycles_.copy()
    t["date"] = [d.date().isoformat() for d in t["administration_datetime"]]
    flagged = [bool(f) for f in _cycle_flags(result)]
    t["flags"] = [short_flags(f) if f else "—" for f in _cycle_flags(result)]
    t["cumulative_bed_gy"] = t["cumulative_bed_gy"].astype(object).where(
        t["cumulative_bed_gy"].notna(), "not computable")
    return styled_table(t, {
        "cycle": ("Cycle", "{:d}"),
        "date": ("Date", ""),
        "administered_activity_mbq": ("Activity (MBq)", "{:,.0f}"),
        "dose_gy": ("Kidney dose (Gy)", "{:.2f}"),
        "dose_gy_per_gbq": ("Dose per activity (Gy/GBq)", "{:.3f}"),
        "bed_gy": ("BED (Gy)", "{:.2f}"),
        "cumulative_bed_gy": ("Cumulative BED (Gy)", _number_or_text),
        "eqd2_gy": ("EQD2 (Gy)", "{:.2f}"),
        "flags": ("Flags", ""),
    }, caption="Cycles so far (decision kidney BED)", flagged_rows=flagged,
        flag_columns=("dose_gy", "bed_gy", "cumulative_bed_gy", "flags"),
        text_columns=("flags",))


def kidney_doses_table(result: PatientDosimetry) -> Styler:
    """Absorbed dose per kidney and cycle; kidneys of a flagged fit marked."""
    t = result.kidney_doses_.copy()
    fit_flags = {(r.cycle, r.kidney): r.flags for r in result.fits_.itertuples()}
    flagged = [bool(fit_flags.get((r.cycle, r.kidney), "")) for r in t.itertuples()]
    return styled_table(t, {
        "cycle": ("Cycle", "{:d}"),
        "kidney": ("Kidney", ""),
        "mass_g": ("Mass (g)", "{:.0f}"),
        "s_mgy_per_mbq_h": ("S (mGy/(MBq·h))", "{:.3f}"),
        "tia_mbq_h": ("TIA (MBq·h)", "{:,.0f}"),
        "dose_gy": ("Dose (Gy)", "{:.2f}"),
        "dose_gy_per_gbq": ("Dose per activity (Gy/GBq)", "{:.3f}"),
        "bed_gy": ("BED (Gy)", "{:.2f}"),
    }, caption="Absorbed dose per kidney", flagged_rows=flagged,
        flag_columns=("tia_mbq_h", "dose_gy", "dose_gy_per_gbq", "bed_gy"),
        text_columns=("kidney",))


def fits_table(result: PatientDosimetry) -> Styler:
    """Kidney time-activity fits with standard errors; flagged fits marked with their flags."""
    t = result.fits_.copy()
    flagged = [bool(f) for f in t["flags"].fillna("")]
    t["flags"] = t["flags"].fillna("").replace("", "—")
    return styled_table(t, {
        "cycle": ("Cycle", "{:d}"),
        "kidney": ("Kidney", ""),
        "model": ("Model", ""),
        "n_points": ("Points fitted", "{:d}"),
        "effective_half_life_h": ("Effective half-life (h)", "{:.1f}"),
        "effective_half_life_se_h": ("± SE (h)", "{:.1f}"),
        "tia_mbq_h": ("TIA (MBq·h)", "{:,.0f}"),
        "tia_se_mbq_h": ("± SE (MBq·h)", "{:,.0f}"),
        "r_squared": ("R²", "{:.3f}"),
        "flags": ("Flags", ""),
    }, caption="Time-activity fits", flagged_rows=flagged,
        flag_columns=("tia_mbq_h", "tia_se_mbq_h", "flags"),
        text_columns=("kidney", "model", "flags"))


def measurements_table(result: PatientDosimetry) -> Styler:
    """The kidney activities as read, one row per scan."""
    wide = result.record.activity.pivot_table(index=["cycle", "time_h"], columns="kidney",
                                              values="activity_mbq").reset_index()
    wide.columns = ["cycle", "time_h", "left_mbq", "right_mbq"]
    return styled_table(wide, {
        "cycle": ("Cycle", "{:d}"),
        "time_h": ("Time after administration (h)", "{:.1f}"),
        "left_mbq": ("Left kidney (MBq)", "{:.1f}"),
        "right_mbq": ("Right kidney (MBq)", "{:.1f}"),
    }, caption="Kidney activities used")


def image_quantification_tables(prepared: PreparedPatient) -> list[Styler]:
    """Planar/hybrid activity per scan and the SPECT/CT VOI values (image level; empty list
    otherwise)."""
    if prepared.quantification is None:
        return []
    scans = prepared.quantification.per_scan
    spect = prepared.quantification.spect
    return [
        styled_table(scans, {
            "cycle": ("Cycle", "{:d}"), "kidney": ("Kidney", ""),
            "time_h": ("Time (h)", "{:.1f}"),
            "planar_activity_mbq": ("Planar, conjugate view (MBq)", "{:.1f}"),
            "hybrid_activity_mbq": ("Hybrid, SPECT-scaled (MBq)", "{:.1f}"),
        }, caption="Kidney activity per planar scan", text_columns=("kidney",)),
        styled_table(spect, {
            "cycle": ("Cycle", "{:d}"), "kidney": ("Kidney", ""),
            "time_h": ("Time (h)", "{:.1f}"), "volume_ml": ("VOI volume (ml)", "{:.1f}"),
            "mass_g": ("Mass from the CT VOI, used (g)", "{:.0f}"),
            "recorded_mass_g": ("Mass in cycles.csv (g)", "{:.0f}"),
            "recovery_coefficient": ("Recovery coefficient", "{:.3f}"),
            "activity_mbq": ("SPECT activity (MBq)", "{:.1f}"),
        }, caption="SPECT/CT at 24 h", text_columns=("kidney",)),
    ]

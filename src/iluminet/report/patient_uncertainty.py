"""Per-patient uncertainty for the report: the interval table, the budget sentence, the next-cycle
probabilities and the radiobiological sensitivity table (fixed precision, stable for nbval)."""

from __future__ import annotations

import pandas as pd

from iluminet.patient.chain import PatientDosimetry
from iluminet.uncertainty.sensitivity import radiobiology_table


def uncertainty_table(result: PatientDosimetry, decimals: int = 2) -> pd.DataFrame:
    """Per cycle: kidney dose, BED and cumulative BED with standard uncertainty (analytic and
    Monte Carlo) and the 95 % interval of the method in force."""
    u = result.uncertainty_
    if u is None:
        return pd.DataFrame()
    table = u.cycle_table()
    out = pd.DataFrame({"cycle": table["cycle"]})
    for name, label in (("cycle_dose_gy", "dose (Gy)"), ("cycle_bed_gy", "BED (Gy)"),
                        ("cumulative_bed_gy", "cumulative BED (Gy)")):
        out[label] = table[name].round(decimals)
        out[f"{label} u"] = table[f"{name}_u"].round(decimals)
        out[f"{label} u (MC)"] = table[f"{name}_u_mc"].round(decimals)
        out[f"{label} 95 %"] = [f"{lo:.{decimals}f}–{hi:.{decimals}f}" if pd.notna(lo) else "—"
                                for lo, hi in zip(table[f"{name}_lower95"],
                                                  table[f"{name}_upper95"])]
    return out


def format_uncertainty(result: PatientDosimetry, decimals: int = 2) -> str:
    """The printed uncertainty section: table, dominant source, next-cycle probabilities."""
    u = result.uncertainty_
    if u is None:
        return "no uncertainty: no kidney-cycle has a usable fit"
    lines = [uncertainty_table(result, decimals).to_string(index=False), "",
             u.dominant_source_sentence()]
    if result.next_cycle_probabilities_ is not None:
        lines.append(result.next_cycle_probabilities_.text())
    return "\n".join(lines)


def sensitivity_table(result: PatientDosimetry, decimals: int = 2) -> pd.DataFrame:
    """Cumulative BED for α/β 1.5–3.5 Gy and repair half-time 0.5–3 h (not drawn as random)."""
    if result.uncertainty_ is None:
        return pd.DataFrame()
    return radiobiology_table(result.uncertainty_.model).round(decimals)

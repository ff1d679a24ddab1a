"""The uncertainty of one patient's chain, in the tables and numbers the report and results use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from iluminet.patient.planning import BedCovariance
from iluminet.uncertainty.budget import BY_NAME, Budget
from iluminet.uncertainty.model import PatientErrorModel, build_error_model
from iluminet.uncertainty.propagation import (
    AnalyticResult,
    MonteCarloResult,
    propagate_analytic,
    propagate_monte_carlo,
)

Z95 = 1.959964


@dataclass
class PatientUncertainty:
    """Analytic and Monte Carlo uncertainty of every kidney-cycle and cycle of a patient."""

    model: PatientErrorModel
    analytic: AnalyticResult
    monte_carlo: MonteCarloResult
    method: str  # which one the decision and the report quote

    # ---- tables ------------------------------------------------------------------------------
    def kidney_table(self) -> pd.DataFrame:
        """Per kidney-cycle: TIA, dose and BED with analytic and Monte Carlo uncertainty."""
        rows = []
        a, mc = self.analytic, self.monte_carlo
        for k, kc in enumerate(self.model.kidney_cycles):
            row: dict[str, Any] = {"cycle": kc.cycle, "kidney": kc.kidney}
            for name in ("tia_mbq_h", "dose_gy", "bed_gy"):
                value, u = float(a.value[name][k]), float(a.sd(name)[k])
                lo, hi = mc.interval95(name)
                row[name] = value
                row[name.replace("_mbq_h", "_u_mbq_h").replace("_gy", "_u_gy")] = u
                row[name.replace("_mbq_h", "_u_mc_mbq_h").replace("_gy", "_u_mc_gy")] = \
                    float(mc.sd(name)[k])
                row[f"{name}_relative_u"] = u / value if value else np.nan
                row[f"{name}_mc_lower95"], row[f"{name}_mc_upper95"] = float(lo[k]), float(hi[k])
            rows.append(row)
        return pd.DataFrame(rows)

    def cycle_table(self) -> pd.DataFrame:
        """Per cycle: dose, BED and cumulative BED with uncertainty and 95 % intervals."""
        rows = []
        a, mc = self.analytic, self.monte_carlo
        for c, number in enumerate(self.model.cycles):
            row: dict[str, Any] = {"cycle": number}
            for name in ("cycle_dose_gy", "cycle_bed_gy", "cumulative_bed_gy"):
                value = float(a.value[name][c])
                u = float(a.sd(name)[c]) if np.isfinite(value) else np.nan
                lo, hi = self.interval95(name)
                row[name] = value
                row[f"{name}_u"] = u
                row[f"{name}_u_mc"] = float(mc.sd(name)[c]) if np.isfinite(value) else np.nan
                row[f"{name}_lower95"], row[f"{name}_upper95"] = float(lo[c]), float(hi[c])
            rows.append(row)
        return pd.DataFrame(rows)

    def interval95(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if self.method == "monte_carlo":
            return self.monte_carlo.interval95(name)
        return self.analytic.interval95(name)

    def sd(self, name: str) -> np.ndarray:
        return self.monte_carlo.sd(name) if self.method == "monte_carlo" \
            else self.analytic.sd(name)

    def relative_tia_u(self) -> dict[tuple[int, str], float]:
        sd = self.sd("tia_mbq_h")
        return {(kc.cycle, kc.kidney): float(sd[k] / kc.tia_mbq_h)
                for k, kc in enumerate(self.model.kidney_cycles)}

    def dose_budget(self, cycle: int | None = None) -> pd.DataFrame:
        """Variance contribution of each component to a cycle's (decision) dose, latest by
        default: columns component, label, variance_gy2, fraction, relative_u."""
        cycles = self.model.cycles
        position = len(cycles) - 1 if cycle is None else cycles.index(cycle)
        contrib = self.analytic.contributions("cycle_dose_gy", position)
        total = sum(contrib.values())
        value = float(self.analytic.value["cycle_dose_gy"][position])
        rows = [{"component": name, "label": BY_NAME[name].label, "variance_gy2": v,
                 "fraction": v / total if total > 0 else np.nan,
                 "relative_u": np.sqrt(v) / value if value else np.nan}
                for name, v in contrib.items()]
        return pd.DataFrame(rows).sort_values("variance_gy2", ascending=False,
                                              ignore_index=True)

    def dominant_source_sentence(self, cycle: int | None = None) -> str:
        table = self.dose_budget(cycle)
        if table.empty or not np.isfinite(table["fraction"]).all():
            return "no uncertainty budget: the dose of the cycle is not computable"
        top = table.iloc[0]
        number = self.model.cycles[-1] if cycle is None else cycle
        total_u = float(np.sqrt(table["variance_gy2"].sum())
                        / self.analytic.value["cycle_dose_gy"][self.model.cycles.index(number)])
        return (f"The dominant source of uncertainty of the cycle {number} kidney dose "
                f"(total {100 * total_u:.1f} %, 1 SD) is the {top['label']}, "
                f"{100 * top['fraction']:.0f} % of its variance.")

    def bed_covariance(self) -> BedCovariance:
        """Covariance of the measured (decision) per-cycle BEDs, for the decision."""
        if self.method == "monte_carlo":
            cov = self.monte_carlo.covariance("cycle_bed_gy")
        else:
            cov = self.analytic.covariance("cycle_bed_gy")
        return BedCovariance(np.nan_to_num(cov), self.model.budget.future_relative_sd)


def assess_uncertainty(kidney_fits: Sequence[Any], activity: pd.DataFrame,
                       masses_g: Mapping[tuple[int, str], float], cycles: Sequence[int],
                       usable_cycles: Sequence[int], *, uncertainty: Any, alpha_beta_gy: float,
                       repair_half_time_h: float, phantom: str, kidney_for_decision: str
                       ) -> PatientUncertainty:
    """Build the error model from the chain's fits and propagate it both ways.

    ``activity`` is the long ``kidney_activity`` table of the record (its ``activity_u_relative``
    column holds the per-scan uncertainties given in the file); ``uncertainty`` the typed
    ``analysis.uncertainty`` section."""
    budget = Budget.from_config(uncertainty)
    count_u: dict[tuple[int, str], dict[float, float]] = {}
    if "activity_u_relative" in activity:
        for cyc, kid, t, u in zip(activity["cycle"], activity["kidney"], activity["time_h"],
                                  activity["activity_u_relative"], strict=True):
            count_u.setdefault((int(cyc), str(kid)), {})[float(t)] = float(u)
    model = build_error_model(kidney_fits, masses_g, count_u, cycles, usable_cycles,
                              budget=budget, alpha_beta_gy=alpha_beta_gy,
                              repair_half_time_h=repair_half_time_h, phantom=phantom,
                              kidney_for_decision=kidney_for_decision)
    analytic = propagate_analytic(model)
    mc = propagate_monte_carlo(model, uncertainty.n_draws, uncertainty.seed)
    return PatientUncertainty(model, analytic, mc, uncertainty.method)

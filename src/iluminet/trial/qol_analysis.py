"""Analysis of health-related quality of life (EORTC QLQ-C30, QLQ-GI.NET21) of a trial cohort.

:func:`qol_analysis` scores every returned questionnaire of ``qol.csv``
(:mod:`iluminet.trial.qol_scoring`) and reports, for the treated patients:

* **Assessment windows.** The ``baseline`` visit is time 0. Every later questionnaire is placed at
  the nearest multiple of ``window_months`` (3 months) of its time since inclusion,
  ``months = days / (365.25/12)``; when a patient has several in one window the one nearest the
  nominal time is used (the earlier on a tie). Windows after ``max_months`` are not tabulated.
* **Means over time** per scale and window: n, mean, SD and the t-based confidence interval
  ``mean ± t_{n−1}·SD/√n``.
* **Change from baseline** (patients with both): the same summaries of ``score − baseline``.
* **Responders** by the minimal important difference (MID, 10 points, Osoba et al., J Clin Oncol
  1998;16:139–144): *improved* when the change is ≥ MID in the better direction (up for global
  health and functional scales, down for symptom scales), *worsened* when ≥ MID in the worse
  direction, *stable* otherwise.
* **Time to deterioration** (TTD) per selected scale: months from inclusion to the first
  post-baseline questionnaire with a score at least MID worse than baseline; patients without
  deterioration are censored at their last post-baseline questionnaire (with
  ``death_as_event``, death without prior deterioration is an event). Patients without a baseline
  score or without any later score are not evaluable. Kaplan–Meier with R's conventions
  (:class:`iluminet.trial.survival.KaplanMeier`, log interval).
* **Completion** per window: questionnaires received (a QLQ-C30 with at least one scale scored)
  out of the treated patients *expected*, i.e. alive and under follow-up at the nominal time
  (``inclusion + window`` on or before the last follow-up and before death); baseline expected
  from every treated patient.
* **Mixed model** for repeated measures of global health status (QL2): linear mixed model
  ``QL2_ij = β0 + β1·months_ij + β_BED[g(i)] + b_i (+ b1_i·months_ij) + ε_ij`` fitted by REML
  (statsmodels ``MixedLM``), random intercept per patient (random slope optional), the delivered
  kidney BED group (:func:`iluminet.trial.tables.bed_group`, reference ``< 25 Gy``) as covariate,
  baseline at months 0 and every questionnaire up to ``model_max_months``. Missing
  questionnaires are ignored, which is valid under missing at random given the observed scores;
  the informative dropout before death and after progression makes that assumption doubtful —
  the completion table shows how much is missing.

All definitions are choices of this workbook, not of the ILUMINET protocol (the trial's QoL
analysis is unpublished).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from iluminet.errors import InputError
from iluminet.provenance import provenance, write_json_atomic, write_text_atomic
from iluminet.trial.qol_scoring import C30, GINET21, QUESTIONNAIRES, scales, score_responses
from iluminet.trial.schema import QOL_BASELINE_VISIT
from iluminet.trial.survival import KaplanMeier
from iluminet.trial.tables import bed_group, delivered_bed_gy
from iluminet.units import DAYS_PER_MONTH

__all__ = [
    "QolParameters",
    "QolResults",
    "deterioration_times",
    "fit_ghs_mixed_model",
    "qol_analysis",
    "score_qol",
    "scale_info",
    "write_qol_outputs",
]


@dataclass(frozen=True)
class QolParameters:
    """Options of :func:`qol_analysis` (module notes)."""

    mid_points: float = 10.0
    window_months: float = 3.0
    max_months: float = 36.0
    min_patients: int = 5
    conf_level: float = 0.95
    deterioration_scales: tuple[str, ...] = ("QL2", "PF2", "RF2", "FA", "DI", "SUM", "GI")
    death_as_event: bool = False
    model_max_months: float = 24.0
    random_slope: bool = False

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None) -> QolParameters:
        """Defaults with ``overrides`` applied; an unknown name is an :class:`InputError`."""
        names = {f.name for f in fields(cls)}
        values = dict(overrides or {})
        unknown = sorted(set(values) - names)
        if unknown:
            raise InputError(f"unknown QoL parameter(s) {unknown}; expected {sorted(names)}",
                             field=unknown[0])
        if "deterioration_scales" in values:
            values["deterioration_scales"] = tuple(values["deterioration_scales"])
        p = cls(**values)
        if not p.mid_points > 0 or not p.window_months > 0 or not 0 < p.conf_level < 1:
            raise InputError("expected mid_points > 0, window_months > 0, 0 < conf_level < 1",
                             field="parameter_overrides")
        known = set(scale_info()["scale"])
        bad = [s for s in p.deterioration_scales if s not in known]
        if bad:
            raise InputError(f"unknown scale(s) {bad}; expected codes of {sorted(known)}",
                             field="deterioration_scales")
        return p

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["deterioration_scales"] = list(self.deterioration_scales)
        return out


def scale_info() -> pd.DataFrame:
    """Every scored quantity: ``questionnaire``, ``scale``, ``label``, ``higher_is_better``."""
    rows = [{"questionnaire": s.questionnaire, "scale": s.code, "label": s.label,
             "higher_is_better": s.higher_is_better}
            for name in QUESTIONNAIRES for s in scales(name)]
    rows.insert(len(scales(C30)), {"questionnaire": C30, "scale": "SUM",
                                   "label": "Summary score", "higher_is_better": True})
    return pd.DataFrame(rows)


def score_qol(qol: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Scale scores of every returned questionnaire, in long form.

    Parameters
    ----------
    qol
        The typed ``qol`` table (one row per item).
    patients
        The typed ``patients`` table (for the inclusion dates).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``visit``, ``date``, ``months`` (since inclusion), ``questionnaire``,
        ``scale``, ``score`` (0–100; NaN where the half-items rule leaves the scale unscored).
    """
    frames = []
    inclusion = patients.set_index("patient_id")["inclusion_date"]
    for name in QUESTIONNAIRES:
        part = qol[qol["questionnaire"] == name]
        if not len(part):
            continue
        # keys are unique (validated), so unstacking yields only the observed forms
        responses = part["response"].astype("float64")
        responses.index = pd.MultiIndex.from_frame(part[["patient_id", "visit", "date", "item"]])
        wide = responses.unstack("item")
        scored = score_responses(wide, name)
        stacked = cast(pd.Series, scored.stack(future_stack=True))
        stacked.name = "score"
        long = stacked.reset_index()
        long = long.rename(columns={long.columns[3]: "scale"})
        long.insert(3, "questionnaire", name)
        frames.append(long)
    columns = ["patient_id", "visit", "date", "months", "questionnaire", "scale", "score"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    out = pd.concat(frames, ignore_index=True)
    out["months"] = (out["date"] - out["patient_id"].map(inclusion)).dt.days / DAYS_PER_MONTH
    return out[columns].sort_values(["patient_id", "date", "questionnaire", "scale"],
                                    kind="mergesort").reset_index(drop=True)


def _assign_windows(scores: pd.DataFrame, window: float, max_months: float) -> pd.DataFrame:
    """Add ``timepoint`` (months; 0 = baseline) and keep one questionnaire per window."""
    s = scores.copy()
    base = s["visit"] == QOL_BASELINE_VISIT
    nominal = np.maximum(window, np.round(s["months"] / window) * window)
    s["timepoint"] = np.where(base, 0.0, nominal)
    s["distance"] = np.where(base, 0.0, np.abs(s["months"] - s["timepoint"]))
    s = s[s["timepoint"] <= max_months + 1e-9]
    forms = s.drop_duplicates(["patient_id", "visit", "questionnaire"])
    keep = forms.sort_values(["patient_id", "questionnaire", "timepoint", "distance", "date"],
                             kind="mergesort").drop_duplicates(
        ["patient_id", "questionnaire", "timepoint"])
    chosen = set(zip(keep["patient_id"], keep["visit"], keep["questionnaire"]))
    mask = [k in chosen for k in zip(s["patient_id"], s["visit"], s["questionnaire"])]
    return s[mask].drop(columns="distance").reset_index(drop=True)


def _mean_ci(values: np.ndarray, level: float) -> tuple[int, float, float, float, float]:
    v = values[np.isfinite(values)]
    n = int(v.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(v.mean())
    if n == 1:
        return 1, mean, math.nan, math.nan, math.nan
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def _summaries(windowed: pd.DataFrame, column: str, level: float, min_patients: int
               ) -> pd.DataFrame:
    rows = []
    for (name, scale, tp), g in windowed.groupby(["questionnaire", "scale", "timepoint"],
                                                 sort=True):
        n, mean, sd, lo, hi = _mean_ci(g[column].to_numpy(dtype=float), level)
        if n < min_patients:
            continue
        rows.append({"questionnaire": name, "scale": scale, "timepoint": float(cast(float, tp)),
                     "n": n, "mean": mean, "sd": sd, "lower": lo, "upper": hi})
    return pd.DataFrame(rows, columns=["questionnaire", "scale", "timepoint", "n", "mean", "sd",
                                       "lower", "upper"])


def _with_change(windowed: pd.DataFrame) -> pd.DataFrame:
    base = windowed[windowed["timepoint"] == 0.0].set_index(
        ["patient_id", "questionnaire", "scale"])["score"]
    key = pd.MultiIndex.from_frame(windowed[["patient_id", "questionnaire", "scale"]])
    out = windowed.copy()
    out["baseline"] = base.reindex(key).to_numpy()
    out["change"] = out["score"] - out["baseline"]
    return out


def _responders(changed: pd.DataFrame, mid: float, min_patients: int) -> pd.DataFrame:
    better = scale_info().set_index("scale")["higher_is_better"]
    post = changed[(changed["timepoint"] > 0) & changed["change"].notna()]
    rows = []
    for (name, scale, tp), g in post.groupby(["questionnaire", "scale", "timepoint"], sort=True):
        signed = g["change"].to_numpy() * (1.0 if better[cast(str, scale)] else -1.0)
        n = int(signed.size)
        if n < min_patients:
            continue
        improved = int((signed >= mid).sum())
        worsened = int((signed <= -mid).sum())
        stable = n - improved - worsened
        rows.append({"questionnaire": name, "scale": scale, "timepoint": float(cast(float, tp)),
                     "n": n, "improved": improved, "stable": stable, "worsened": worsened,
                     "improved_pct": 100.0 * improved / n, "stable_pct": 100.0 * stable / n,
                     "worsened_pct": 100.0 * worsened / n})
    return pd.DataFrame(rows, columns=["questionnaire", "scale", "timepoint", "n", "improved",
                                       "stable", "worsened", "improved_pct", "stable_pct",
                                       "worsened_pct"])


def deterioration_times(scores: pd.DataFrame, events: pd.DataFrame, scale: str, *,
                        mid: float = 10.0, death_as_event: bool = False,
                        inclusion: pd.Series | None = None) -> pd.DataFrame:
    """Per patient: time to the first deterioration of ``scale`` by at least ``mid`` points.

    Parameters
    ----------
    scores
        Output of :func:`score_qol` (all questionnaires, not windowed).
    events
        Typed ``events`` table (death dates; used with ``death_as_event``).
    scale
        Scale code, e.g. ``"QL2"``.
    mid
        Minimal important difference (points).
    death_as_event
        Count death without prior deterioration as an event at the death date.
    inclusion
        ``inclusion_date`` by ``patient_id`` (needed with ``death_as_event``).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``scale``, ``baseline``, ``time_months``, ``event`` (1/0), ``reason``
        (``deterioration``, ``death``, ``censored``), evaluable patients only.
    """
    better = bool(scale_info().set_index("scale").at[scale, "higher_is_better"])
    s = scores[(scores["scale"] == scale) & scores["score"].notna()]
    base = s[s["visit"] == QOL_BASELINE_VISIT].set_index("patient_id")["score"]
    post = s[(s["visit"] != QOL_BASELINE_VISIT) & s["patient_id"].isin(base.index)]
    deaths = events.set_index("patient_id")["death_date"] if len(events) else pd.Series(
        dtype="datetime64[ns]")
    rows = []
    for pid, g in post.sort_values(["patient_id", "date"], kind="mergesort").groupby(
            "patient_id", sort=True):
        change = (g["score"].to_numpy() - base[pid]) * (1.0 if better else -1.0)
        worse = np.flatnonzero(change <= -mid)
        months = g["months"].to_numpy()
        if worse.size:
            rows.append((pid, base[pid], float(months[worse[0]]), 1, "deterioration"))
            continue
        death = deaths.get(pid, pd.NaT)
        if death_as_event and not pd.isna(death):
            if inclusion is None:
                raise InputError("death_as_event needs the inclusion dates",
                                 field="inclusion")
            t = (pd.Timestamp(death) - inclusion[pid]).days / DAYS_PER_MONTH
            rows.append((pid, base[pid], float(t), 1, "death"))
            continue
        rows.append((pid, base[pid], float(months[-1]), 0, "censored"))
    out = pd.DataFrame(rows, columns=["patient_id", "baseline", "time_months", "event", "reason"])
    out.insert(1, "scale", scale)
    return out


def fit_ghs_mixed_model(data: pd.DataFrame, *, random_slope: bool = False,
                        conf_level: float = 0.95) -> dict[str, Any]:
    """REML linear mixed model of a score over time with the BED group (module notes).

    Parameters
    ----------
    data
        ``patient_id``, ``months``, ``bed_group`` (categorical; first category = reference),
        ``score``; rows with a missing value are not allowed.
    random_slope
        Random slope of ``months`` per patient besides the random intercept.
    conf_level
        Level of the Wald intervals of the fixed effects.

    Returns
    -------
    dict
        ``fixed_effects`` (DataFrame: ``term``, ``estimate``, ``std_error``, ``lower``,
        ``upper``, ``p_value``), ``random_effects_cov`` (list of lists), ``residual_variance``,
        ``n_observations``, ``n_patients``, ``converged``, ``log_likelihood`` (REML),
        ``formula``.
    """
    # the model module alone: statsmodels.api would also import its graphics and time series
    from statsmodels.regression.mixed_linear_model import (  # type: ignore[import-untyped]
        MixedLM,
    )

    if data[["patient_id", "months", "bed_group", "score"]].isna().any().any():
        raise InputError("missing values in the mixed-model data", field="score")
    groups = pd.Categorical(data["bed_group"])
    levels = list(groups.categories)
    used = [lv for lv in levels[1:] if (groups == lv).any()]
    exog = pd.DataFrame({"(Intercept)": 1.0, "months": data["months"].to_numpy(dtype=float)})
    for lv in used:
        exog[f"bed_group[{lv}]"] = (groups == lv).astype(float)
    exog_re = np.ones((len(data), 1)) if not random_slope else np.column_stack(
        [np.ones(len(data)), data["months"].to_numpy(dtype=float)])
    model = MixedLM(data["score"].to_numpy(dtype=float), exog,
                       groups=data["patient_id"].to_numpy(), exog_re=exog_re)
    fit = model.fit(reml=True, method=["lbfgs", "bfgs", "nm"], maxiter=2000)
    params = fit.fe_params
    se = fit.bse_fe
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    fixed = pd.DataFrame({
        "term": list(exog.columns), "estimate": params.to_numpy(), "std_error": se.to_numpy(),
        "lower": params.to_numpy() - z * se.to_numpy(),
        "upper": params.to_numpy() + z * se.to_numpy(),
        "p_value": 2.0 * stats.norm.sf(np.abs(params.to_numpy() / se.to_numpy()))})
    terms = " + ".join(["months", *(["bed_group"] if used else [])])
    random = "(1 + months | patient_id)" if random_slope else "(1 | patient_id)"
    return {"fixed_effects": fixed,
            "random_effects_cov": np.asarray(fit.cov_re, dtype=float).tolist(),
            "residual_variance": float(fit.scale),
            "n_observations": int(len(data)), "n_patients": int(data["patient_id"].nunique()),
            "converged": bool(fit.converged), "log_likelihood": float(fit.llf),
            "reference_bed_group": levels[0], "formula": f"score ~ {terms} + {random}"}


@dataclass
class QolResults:
    """Everything :func:`qol_analysis` computes (tables as DataFrames)."""

    parameters: QolParameters
    scores: pd.DataFrame
    windowed: pd.DataFrame
    means: pd.DataFrame
    change: pd.DataFrame
    responders: pd.DataFrame
    completion: pd.DataFrame
    deterioration: pd.DataFrame
    deterioration_summary: pd.DataFrame
    model_data: pd.DataFrame
    mixed_model: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)

    def km(self, scale: str) -> KaplanMeier:
        """The time-to-deterioration Kaplan–Meier fit of ``scale``."""
        d = self.deterioration[self.deterioration["scale"] == scale]
        if not len(d):
            raise InputError(f"no evaluable patients for time to deterioration of {scale}",
                             field="scale")
        return KaplanMeier(conf_level=self.parameters.conf_level).fit(
            d["time_months"], d["event"], label=scale)

    def to_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{str(k): (None if isinstance(v, float) and math.isnan(v) else v)
                     for k, v in row.items()} for row in df.to_dict(orient="records")]

        model = dict(self.mixed_model)
        model["fixed_effects"] = records(model["fixed_effects"])
        return {"parameters": self.parameters.to_dict(), "counts": self.counts,
                "completion": records(self.completion), "means": records(self.means),
                "change_from_baseline": records(self.change),
                "responders": records(self.responders),
                "time_to_deterioration": records(self.deterioration_summary),
                "mixed_model_ghs": model}


def _completion(windowed: pd.DataFrame, patients: pd.DataFrame, events: pd.DataFrame,
                p: QolParameters) -> pd.DataFrame:
    treated = patients[patients["treated"]].set_index("patient_id")
    ev = events.set_index("patient_id").reindex(treated.index)
    inc = treated["inclusion_date"]
    scored = windowed[windowed["score"].notna()]
    rows = []
    steps = np.arange(0.0, p.max_months + 1e-9, p.window_months)
    for tp in steps:
        nominal = inc + pd.to_timedelta(np.round(tp * DAYS_PER_MONTH), unit="D")
        if tp == 0:
            expected = pd.Series(True, index=inc.index)
        else:
            alive = ev["death_date"].isna() | (ev["death_date"] > nominal)
            expected = alive & (ev["last_followup_date"] >= nominal)
        row: dict[str, Any] = {"timepoint": float(tp), "expected": int(expected.sum())}
        for name, label in ((C30, "c30"), (GINET21, "ginet21")):
            got = set(scored.loc[(scored["questionnaire"] == name)
                                 & (scored["timepoint"] == tp), "patient_id"])
            received = int(sum(pid in got for pid in expected[expected].index))
            row[f"{label}_received"] = received
            row[f"{label}_rate_pct"] = (100.0 * received / row["expected"]
                                        if row["expected"] else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def qol_analysis(patients: pd.DataFrame, cycles: pd.DataFrame, events: pd.DataFrame,
                 qol: pd.DataFrame, parameters: QolParameters | None = None) -> QolResults:
    """Score and analyse the questionnaires of the treated patients (module notes).

    Parameters
    ----------
    patients, cycles, events, qol
        Typed, validated cohort tables (:func:`iluminet.trial.read_cohort`).
    parameters
        Options; default :class:`QolParameters()`.

    Returns
    -------
    QolResults

    Raises
    ------
    InputError
        No questionnaire of a treated patient.
    """
    p = parameters or QolParameters()
    treated_ids = set(patients.loc[patients["treated"], "patient_id"])
    q = qol[qol["patient_id"].isin(treated_ids)]
    if not len(q):
        raise InputError("no questionnaire of a treated patient; expected rows in qol.csv",
                         source="qol", field="patient_id")
    scores = score_qol(q, patients)
    windowed = _with_change(_assign_windows(scores, p.window_months, p.max_months))
    means = _summaries(windowed, "score", p.conf_level, p.min_patients)
    change = _summaries(windowed[windowed["timepoint"] > 0], "change", p.conf_level,
                        p.min_patients)
    responders = _responders(windowed, p.mid_points, p.min_patients)
    completion = _completion(windowed, patients, events, p)

    inclusion = patients.set_index("patient_id")["inclusion_date"]
    det = pd.concat([deterioration_times(scores, events, s, mid=p.mid_points,
                                         death_as_event=p.death_as_event, inclusion=inclusion)
                     for s in p.deterioration_scales], ignore_index=True)
    info = scale_info().set_index("scale")
    summary_rows = []
    for s in p.deterioration_scales:
        d = det[det["scale"] == s]
        row: dict[str, Any] = {"scale": s, "label": info.at[s, "label"], "n": int(len(d)),
                               "events": int(d["event"].sum())}
        if len(d):
            km = KaplanMeier(conf_level=p.conf_level).fit(d["time_months"], d["event"])
            med = km.median_estimate_
            row.update(median_months=med.median, lower=med.lower, upper=med.upper)
            for t in (6.0, 12.0):
                surv, lo, hi = km.survival_at(t)
                row[f"free_at_{t:g}m"] = surv
                row[f"free_at_{t:g}m_lower"] = lo
                row[f"free_at_{t:g}m_upper"] = hi
        summary_rows.append(row)
    det_summary = pd.DataFrame(summary_rows)

    bed = bed_group(delivered_bed_gy(cycles))
    ghs = scores[(scores["scale"] == "QL2") & scores["score"].notna()].copy()
    ghs["months"] = np.where(ghs["visit"] == QOL_BASELINE_VISIT, 0.0, ghs["months"])
    ghs = ghs[ghs["months"] <= p.model_max_months]
    ghs["bed_group"] = pd.Categorical(ghs["patient_id"].map(bed), categories=bed.cat.categories)
    model_data = ghs.loc[ghs["bed_group"].notna(),
                         ["patient_id", "months", "bed_group", "score"]].reset_index(drop=True)
    mixed = fit_ghs_mixed_model(model_data, random_slope=p.random_slope,
                                conf_level=p.conf_level)

    forms = scores.drop_duplicates(["patient_id", "visit", "questionnaire"])
    counts = {"treated": len(treated_ids),
              "patients_with_questionnaires": int(scores["patient_id"].nunique()),
              "c30_forms": int((forms["questionnaire"] == C30).sum()),
              "ginet21_forms": int((forms["questionnaire"] == GINET21).sum()),
              "with_baseline_c30": int(forms[(forms["questionnaire"] == C30) & (
                  forms["visit"] == QOL_BASELINE_VISIT)]["patient_id"].nunique())}
    return QolResults(p, scores, windowed, means, change, responders, completion, det,
                      det_summary, model_data, mixed, counts)


def write_qol_outputs(results: QolResults, out_dir: str | Path, *,
                      input_files: Iterable[str | Path] = (),
                      root: str | Path | None = None) -> list[Path]:
    """Write ``qol.json`` (with provenance) and the tables as CSV, each atomically.

    Files: ``qol.json``, ``qol_scores.csv``, ``qol_means.csv``, ``qol_change.csv``,
    ``qol_responders.csv``, ``qol_completion.csv``, ``qol_deterioration.csv`` (per patient),
    ``qol_deterioration_summary.csv``, ``qol_mixed_model.csv``. Nothing is written when
    ``out_dir`` is empty (an interactive session).
    """
    if not str(out_dir):
        return []
    out = Path(out_dir)
    if root is None:
        from iluminet.config.params import workbook_root

        root = workbook_root()
    scores = results.scores.copy()
    scores["date"] = scores["date"].dt.strftime("%Y-%m-%d")
    csvs = {"qol_scores.csv": scores, "qol_means.csv": results.means,
            "qol_change.csv": results.change, "qol_responders.csv": results.responders,
            "qol_completion.csv": results.completion,
            "qol_deterioration.csv": results.deterioration,
            "qol_deterioration_summary.csv": results.deterioration_summary,
            "qol_mixed_model.csv": results.mixed_model["fixed_effects"]}
    written = [write_text_atomic(out / name, table.to_csv(index=False))
               for name, table in csvs.items()]
    content = results.to_dict()
    content["provenance"] = provenance(list(input_files), results.parameters.to_dict(), root)
    written.insert(0, write_json_atomic(out / "qol.json", content))
    return written

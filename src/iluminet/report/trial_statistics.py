"""Printed summaries of the BED analyses (landmark, Cox), the null-effect simulation and the
response variants, with fixed precision for notebooks and nbval.

The null-effect simulation's per-seed table is committed at ``validation/null_effect_bed.csv``
(made by ``validation/null_effect_bed.py``); :func:`null_effect_summary` reads it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
from scipy import stats

from iluminet.errors import InputError
from iluminet.scalars import as_int

if TYPE_CHECKING:
    from iluminet.trial.bed_effect import BedEffectResults
    from iluminet.trial.efficacy import EfficacyResults

__all__ = ["NULL_EFFECT_CSV", "format_cox", "format_landmark", "format_null_effect",
           "format_response_variants", "null_effect_caution", "null_effect_summary"]

#: Committed output of ``validation/null_effect_bed.py`` (relative to the workbook root).
NULL_EFFECT_CSV = Path("validation") / "null_effect_bed.csv"
NULL_ANALYSES: dict[str, str] = {
    "naive_logrank": "log-rank by delivered-BED group (naive)",
    "naive_cox_group": "Cox, delivered-BED group (naive)",
    "landmark_12_logrank": "landmark 12 months, log-rank",
    "landmark_18_logrank": "landmark 18 months, log-rank",
    "time_varying_cox": "Cox, cumulative BED time-varying",
}


def _f(v: Any, decimals: int) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "inf"
    return f"{x:.{decimals}f}"


def _p(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "NA"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


def format_landmark(bed: BedEffectResults) -> str:
    """Landmark table: per endpoint, landmark and BED group at the landmark, n, events, median
    months from the landmark, HR (95 % CI) against the lowest group, log-rank p."""
    t = bed.landmark
    lines = []
    for (ep, lm), g in t.groupby(["endpoint", "landmark_months"], sort=False):
        g0 = g.iloc[0]
        lines.append(f"{str(ep).upper()} from {lm:g} months: {int(g0['n_landmark'])} patients "
                     f"event-free at the landmark ({int(g0['n_excluded_before_landmark'])} "
                     f"left out), log-rank p = {_p(g0['logrank_p_value'])}")
        for _, r in g.iterrows():
            hr = ("reference" if r["hr"] == 1.0 and math.isnan(float(r["hr_lower"]))
                  else f"HR {_f(r['hr'], 2)} ({_f(r['hr_lower'], 2)}–{_f(r['hr_upper'], 2)})")
            med = "NR" if math.isnan(float(r["median"])) else _f(r["median"], 1)
            lines.append(f"  {str(r['group']):>9}: n {int(r['n']):>4}, events {int(r['events']):>4}"
                         f", median {med:>5} months; {hr}")
    return "\n".join(lines)


def format_cox(bed: BedEffectResults, models: tuple[str, ...] | None = None) -> str:
    """Cox coefficients as HR (95 % CI), Wald p and Schoenfeld PH p, with each model's
    likelihood-ratio and Wald tests; ``models`` restricts the models shown."""
    c, tests = bed.cox, bed.cox_tests
    lines = []
    for (ep, model), g in c.groupby(["endpoint", "model"], sort=False):
        if models is not None and model not in models:
            continue
        t = tests[(tests["endpoint"] == ep) & (tests["model"] == model)].iloc[0]
        infinite = (g["infinite_estimate"].astype(bool) if "infinite_estimate" in g
                    else pd.Series(False, index=g.index))
        wald = ("Wald not computable (an infinite estimate)" if infinite.any() else
                f"Wald {_f(t['wald_statistic'], 2)}, p {_p(t['wald_p_value'])}")
        lines.append(f"{str(ep).upper()} · {model} (n {int(t['n'])}, {int(t['events'])} events; "
                     f"LR {_f(t['lr_statistic'], 2)} on {int(t['lr_df'])} df, "
                     f"p {_p(t['lr_p_value'])}; {wald})")
        for i, r in g.iterrows():
            ph = "" if math.isnan(float(r["ph_p_value"])) else f"; PH p {_p(r['ph_p_value'])}"
            flag = " [guarantee-time biased]" if bool(r["guarantee_time_bias"]) else ""
            if bool(infinite.loc[cast(Any, i)]):
                lines.append(f"  {r['covariate']}: HR {'0' if r['coef'] < 0 else '∞'} (no finite "
                             f"estimate: no events in one group; see the LR test){flag}")
                continue
            lines.append(f"  {r['covariate']}: HR {_f(r['hr'], 3)} ({_f(r['hr_lower'], 3)}–"
                         f"{_f(r['hr_upper'], 3)}), p {_p(r['p_value'])}{ph}{flag}")
    return "\n".join(lines)


def _workbook_root() -> Path:
    from iluminet.config.params import workbook_root

    return Path(workbook_root())


def null_effect_summary(path: str | Path | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """How often each analysis was significant (p < ``alpha``) over the null-effect seeds.

    Returns
    -------
    pandas.DataFrame
        ``endpoint``, ``analysis`` (key of :data:`NULL_ANALYSES`), ``label``, ``seeds`` (with a
        p-value), ``significant``, ``percent`` and its Clopper–Pearson 95 % interval
        ``percent_lower``, ``percent_upper``.
    """
    p = Path(path) if path is not None else _workbook_root() / NULL_EFFECT_CSV
    if not p.is_file():
        raise InputError("file not found; run validation/null_effect_bed.py", source=str(p))
    table = pd.read_csv(p)
    missing = [c for c in ("seed", "endpoint", *NULL_ANALYSES) if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}", source=str(p), field=missing[0])
    rows = []
    for ep in ("pfs", "os"):
        sub = table[table["endpoint"] == ep]
        for key, label in NULL_ANALYSES.items():
            values = pd.to_numeric(sub[key], errors="coerce").dropna()
            n, k = int(values.size), int((values < alpha).sum())
            lo = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
            hi = 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))
            rows.append({"endpoint": ep, "analysis": key, "label": label, "seeds": n,
                         "significant": k, "percent": 100.0 * k / n if n else math.nan,
                         "percent_lower": 100.0 * lo, "percent_upper": 100.0 * hi})
    return pd.DataFrame(rows)


def format_null_effect(summary: pd.DataFrame) -> str:
    """The null-effect table: percent of seeds with p < 0.05 (95 % CI) per endpoint and analysis."""
    lines = [f"{'endpoint':<8} {'analysis':<36} {'seeds':>5} {'p<0.05':>6} {'percent':>8}  95 % CI"]
    for _, r in summary.iterrows():
        lines.append(f"{str(r['endpoint']).upper():<8} {r['label']:<36} {int(r['seeds']):>5} "
                     f"{int(r['significant']):>6} {r['percent']:>7.0f}%  "
                     f"{r['percent_lower']:.0f}–{r['percent_upper']:.0f} %")
    return "\n".join(lines)


def null_effect_caution(summary: pd.DataFrame | None = None) -> str:
    """The caution printed beside the naive BED comparison."""
    s = null_effect_summary() if summary is None else summary
    by = s.set_index(["endpoint", "analysis"])
    seeds = int(by["seeds"].max())

    def pct(ep: str, key: str) -> str:
        return f"{by.loc[(ep, key), 'percent']:.0f} %"

    return (
        "CAUTION — guarantee-time bias. The BED groups are formed from the BED a patient went on "
        "to receive, and reaching 25–29 Gy takes about a year without an event. In the synthetic "
        f"trial with NO effect of BED (every BED hazard ratio 1, {seeds} seeds, "
        "validation/null_effect_bed.csv) the naive log-rank by delivered BED was significant "
        f"(p < 0.05) in {pct('pfs', 'naive_logrank')} of trials for PFS and "
        f"{pct('os', 'naive_logrank')} for OS; the 12-month landmark analysis in "
        f"{pct('pfs', 'landmark_12_logrank')} / {pct('os', 'landmark_12_logrank')} and the "
        "time-dependent Cox model of cumulative BED in "
        f"{pct('pfs', 'time_varying_cox')} / {pct('os', 'time_varying_cox')} (nominal 5 %). "
        "A significant naive comparison below is therefore no evidence of a BED effect; read "
        "the landmark and time-dependent results instead, remembering that for OS they are not "
        "free of confounding either: progression stops treatment (so BED stops accruing) and "
        "raises the death hazard, so lower BED goes with higher mortality at any given time "
        "without any effect of BED.")


def format_response_variants(results: EfficacyResults) -> str:
    """Default and alternative response rules side by side: counts per category."""
    s = results.sensitivity
    if not s:
        return "no response-evaluable patient"
    o = results.options
    pairs = [
        ("response 3 months after step 1", results.response_after_step1,
         f"imputation {o.response_fallback!r} (default)", s["response_after_step1"],
         f"imputation {s['response_fallback']!r}"),
        ("best overall response", results.best_overall_response,
         f"confirmed {o.confirm_responses} (default)", s["best_overall_response"],
         f"confirmed {s['confirm_responses']}"),
    ]
    lines = []
    for title, a, la, b, lb in pairs:
        lines.append(f"{title}: {la} | {lb}")
        for code in a.index:
            ca, cb = as_int(a.at[code, "count"]), as_int(b.at[code, "count"])
            lines.append(f"  {code}: {ca:>4} ({a.at[code, 'percent']:5.1f} %) | "
                         f"{cb:>4} ({b.at[code, 'percent']:5.1f} %)")
    lines.append("patients whose 3-month response is imputed by carrying the last earlier scan "
                 f"forward ('last_before'): {s['response_imputed_last_before']}")
    return "\n".join(lines)

"""Survival by kidney BED beside its guarantee-time-free alternatives: naive and adjusted Cox models
by delivered BED, landmark analyses and the time-dependent Cox model (:mod:`iluminet.trial.cox`,
:mod:`iluminet.trial.landmark`).

:func:`bed_effect_analyses` fits, for PFS (PFS-evaluable set) and OS (every treated patient):

========================================  =====================================================
model                                     terms
========================================  =====================================================
``univariable``                           each of delivered-BED group, delivered BED (Gy),
                                          ECOG, Ki-67 group, origin group alone
``multivariable, BED group``              delivered-BED group + ECOG + Ki-67 group + origin
``multivariable, delivered BED``          delivered BED (Gy) + ECOG + Ki-67 group + origin
``time-varying, cumulative BED``          cumulative BED reached at ``t`` (Gy)
``time-varying, cumulative BED adjusted`` cumulative BED at ``t`` + ECOG + Ki-67 group + origin
========================================  =====================================================

The models with *delivered* BED (the total over the whole treatment) are **naive**: the BED is
known only at the end of treatment, so they carry the same guarantee-time bias as the paper's
Kaplan–Meier comparison (:mod:`iluminet.trial.landmark`, "Why"); they are reported because they
are what a reader would fit, with the column ``guarantee_time_bias`` saying so. The time-varying
models and the landmark analyses (default 12 and 18 months) are free of it.

Hazard ratios of the continuous BED are per 1 Gy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.trial.cox import CoxModel, TimeVaryingCoxModel, counting_process_bed
from iluminet.trial.landmark import landmark_analysis, landmark_table
from iluminet.trial.tables import BED_EDGES_GY

__all__ = ["BED_ENDPOINTS", "BedEffectResults", "bed_effect_analyses"]

BED_ENDPOINTS: tuple[str, ...] = ("pfs", "os")
ADJUSTMENT: tuple[str, ...] = ("ecog_level", "ki67_group", "origin_group")
UNIVARIABLE: tuple[str, ...] = ("bed_group", "delivered_bed_gy", *ADJUSTMENT)
NAIVE_TERMS = frozenset({"bed_group", "delivered_bed_gy"})


@dataclass
class BedEffectResults:
    """Tables of :func:`bed_effect_analyses`.

    Attributes
    ----------
    landmark
        :data:`iluminet.trial.landmark.LANDMARK_COLUMNS`, one row per endpoint, landmark and
        landmark BED group.
    cox
        One row per endpoint, model and coefficient: ``endpoint``, ``model``, ``term``,
        ``covariate``, ``coef``, ``se``, ``hr``, ``hr_lower``, ``hr_upper``, ``z``, ``p_value``,
        ``ph_statistic``, ``ph_p_value`` (Schoenfeld, NaN for time-varying models),
        ``guarantee_time_bias`` (True for a term formed from the delivered BED).
    cox_tests
        One row per endpoint and model: ``n``, ``events``, log-likelihoods, likelihood-ratio and
        global Wald tests.
    term_tests
        Joint Wald test of each term (a 3-level group has 2 df).
    """

    landmark: pd.DataFrame
    cox: pd.DataFrame
    cox_tests: pd.DataFrame
    term_tests: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            out = []
            for row in df.to_dict(orient="records"):
                out.append({str(k): _plain(v) for k, v in row.items()})
            return out

        return {"landmark": records(self.landmark), "cox": records(self.cox),
                "cox_tests": records(self.cox_tests), "term_tests": records(self.term_tests)}

    def bed_p_values(self) -> dict[str, float]:
        """The p-value of the BED comparison per analysis and endpoint (what the null-effect
        simulation counts): landmark log-rank at each landmark, the time-varying Cox Wald test
        of the cumulative BED, and the naive Cox Wald test of the delivered-BED group."""
        out: dict[str, float] = {}
        for (ep, lm), g in self.landmark.groupby(["endpoint", "landmark_months"], sort=False):
            out[f"{ep}_landmark_{lm:g}_logrank"] = float(g["logrank_p_value"].iloc[0])
        t = self.term_tests
        for ep in t["endpoint"].unique():
            for model, term, key in (("univariable: bed_group", "bed_group", "naive_cox_group"),
                                     ("time-varying, cumulative BED", "cumulative_bed_gy",
                                      "time_varying_cox")):
                row = t[(t["endpoint"] == ep) & (t["model"] == model) & (t["term"] == term)]
                out[f"{ep}_{key}"] = float(row["p_value"].iloc[0]) if len(row) else math.nan
        return out


def _plain(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    return v


def bed_effect_analyses(data: pd.DataFrame, cycles: pd.DataFrame, *,
                        landmark_months: Sequence[float] = (12.0, 18.0),
                        bed_edges_gy: tuple[float, float] = BED_EDGES_GY,
                        conf_level: float = 0.95, endpoints: Sequence[str] = BED_ENDPOINTS,
                        adjusted: bool = True, univariable: bool | Sequence[str] = True,
                        ph_test: bool = True) -> BedEffectResults:
    """Landmark and Cox analyses of PFS and OS by kidney BED (module docstring).

    Parameters
    ----------
    data
        One row per treated patient (index patient_id), as ``EfficacyResults.patients``:
        ``inclusion_date``, ``pfs_months``/``pfs_event``/``pfs_evaluable``, ``os_months``/
        ``os_event``, ``bed_group``, ``delivered_bed_gy``, ``ecog_level``, ``ki67_group``,
        ``origin_group``.
    cycles
        ``patient_id``, ``administration_date``, ``kidney_bed_gy``.
    landmark_months
        Landmark times (months from inclusion).
    adjusted, univariable
        Also fit the multivariable models / the univariable models (all, or of the terms
        named); the null-effect simulation needs only the delivered-BED group.
    ph_test
        Compute the Schoenfeld-residual test of each proportional-hazards model.
    """
    if not landmark_months:
        raise InputError("expected at least one landmark time", source="bed effect analyses",
                         field="landmark_months")
    cox_rows: list[pd.DataFrame] = []
    test_rows: list[dict[str, Any]] = []
    term_rows: list[pd.DataFrame] = []
    landmarks = []

    def record(endpoint: str, model: str, m: CoxModel | TimeVaryingCoxModel) -> None:
        c = m.coefficients_.copy()
        ph = getattr(m, "ph_test_", None)
        if ph is not None:
            c = c.merge(ph.rename(columns={"statistic": "ph_statistic",
                                           "p_value": "ph_p_value"}), on="covariate", how="left")
        else:
            c["ph_statistic"], c["ph_p_value"] = math.nan, math.nan
        c.insert(0, "model", model)
        c.insert(0, "endpoint", endpoint)
        c["guarantee_time_bias"] = c["term"].isin(NAIVE_TERMS)
        cox_rows.append(c)
        test_rows.append({"endpoint": endpoint, "model": model, **m.model_tests()})
        tt = m.term_tests()
        tt.insert(0, "model", model)
        tt.insert(0, "endpoint", endpoint)
        term_rows.append(tt)

    for endpoint in endpoints:
        if endpoint not in ("pfs", "os", "ttp"):
            raise InputError(f"expected pfs, os or ttp, got {endpoint!r}",
                             source="bed effect analyses", field="endpoints")
        d = data if endpoint == "os" else data[data["pfs_evaluable"].astype(bool)]
        tcol, ecol = f"{endpoint}_months", f"{endpoint}_event"
        for lm in landmark_months:
            landmarks.append(landmark_analysis(d, cycles, endpoint, float(lm),
                                               bed_edges_gy=bed_edges_gy, conf_level=conf_level))
        models: list[tuple[str, list[str]]] = []
        if univariable:
            uni = UNIVARIABLE if univariable is True else tuple(univariable)
            models += [(f"univariable: {t}", [t]) for t in uni]
        if adjusted:
            models += [("multivariable, BED group", ["bed_group", *ADJUSTMENT]),
                       ("multivariable, delivered BED", ["delivered_bed_gy", *ADJUSTMENT])]
        for name, terms in models:
            try:
                record(endpoint, name, CoxModel(conf_level).fit(
                    d, tcol, ecol, terms, ph_test=ph_test, source=f"{endpoint} {name}"))
            except InputError:
                continue  # e.g. a covariate nobody varies in a small cohort
        cp = counting_process_bed(d, cycles, endpoint, ADJUSTMENT if adjusted else ())
        tv_models = [("time-varying, cumulative BED", ["cumulative_bed_gy"])]
        if adjusted:
            tv_models.append(("time-varying, cumulative BED adjusted",
                              ["cumulative_bed_gy", *ADJUSTMENT]))
        for name, terms in tv_models:
            try:
                record(endpoint, name, TimeVaryingCoxModel(conf_level).fit(
                    cp, "patient_id", "start_months", "stop_months", "event", terms,
                    source=f"{endpoint} {name}"))
            except InputError:
                continue
    cox = pd.concat(cox_rows, ignore_index=True) if cox_rows else pd.DataFrame()
    return BedEffectResults(landmark=landmark_table(landmarks), cox=cox,
                            cox_tests=pd.DataFrame(test_rows),
                            term_tests=pd.concat(term_rows, ignore_index=True)
                            if term_rows else pd.DataFrame())

"""Known-answer, validation and property tests for iluminet.trial.survival (no R needed)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402
from lifelines.statistics import multivariate_logrank_test  # noqa: E402

from iluminet.errors import InputError  # noqa: E402
from iluminet.trial.survival import (  # noqa: E402
    R_TOLERANCE,
    KaplanMeier,
    MedianEstimate,
    _r_print_median,
    logrank_test,
    median_follow_up,
    plot_kaplan_meier,
    survival_summary,
)

Z95 = 1.959963984540054  # qnorm(0.975)

# Tiny example, worked by hand:
#   t=1: n=5 d=1       S = 4/5            σ² = 1/(5·4)              = 1/20
#   t=2: n=4 d=1 c=1   S = 4/5·3/4 = 3/5  σ² = 1/20 + 1/(4·3)       = 2/15
#   t=3: n=2 d=1       S = 3/5·1/2 = 3/10 σ² = 2/15 + 1/(2·1)       = 19/30
#   t=4: n=1 c=1       S = 3/10           σ² = 19/30
TINY_T = [1.0, 2.0, 2.0, 3.0, 4.0]
TINY_E = [1, 1, 0, 1, 0]
TINY_S = [0.8, 0.6, 0.3, 0.3]
TINY_VAR = [1 / 20, 2 / 15, 19 / 30, 19 / 30]

# Plateau at exactly 0.5: ten subjects, five events at 5..25 → S = 0.5 from 25 until the event
# at 40; R's median is the midpoint 32.5 (lifelines: 25).
PLATEAU_T = [5, 10, 15, 20, 25, 30, 40, 70, 80, 90]
PLATEAU_E = [1, 1, 1, 1, 1, 0, 1, 1, 0, 0]


# ------------------------------------------------------------------------------------------
# known answers
# ------------------------------------------------------------------------------------------


def test_event_table_and_greenwood_by_hand() -> None:
    tab = KaplanMeier().fit(TINY_T, TINY_E).survival_table_
    assert tab["time"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert tab["n_risk"].tolist() == [5, 4, 2, 1]
    assert tab["n_event"].tolist() == [1, 1, 1, 0]
    assert tab["n_censor"].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(tab["surv"], TINY_S, rtol=1e-15)
    np.testing.assert_allclose(tab["std_err"], np.sqrt(TINY_VAR), rtol=1e-14)
    np.testing.assert_allclose(tab["surv_std_err"], np.array(TINY_S) * np.sqrt(TINY_VAR),
                               rtol=1e-14)


def test_log_interval_by_hand() -> None:
    tab = KaplanMeier(conf_type="log").fit(TINY_T, TINY_E).survival_table_
    # t = 2: S = 0.6, σ = sqrt(2/15) = 0.365148 → 0.6·exp(∓1.959964·0.365148)
    sigma = math.sqrt(2 / 15)
    assert tab["lower"][1] == pytest.approx(0.6 * math.exp(-Z95 * sigma), rel=1e-12)
    # R 4.2.2: survfit(Surv(c(1,2,2,3,4), c(1,1,0,1,0)) ~ 1)$lower
    np.testing.assert_allclose(
        tab["lower"], [0.51612576034, 0.29331643164, 0.06305448426, 0.06305448426], rtol=1e-10)
    assert tab["upper"][1] == 1.0  # 0.6·exp(+0.7157) = 1.227 is capped at 1
    # t = 3: S = 0.3, σ = sqrt(19/30) = 0.795822
    sigma = math.sqrt(19 / 30)
    assert tab["lower"][2] == pytest.approx(0.3 * math.exp(-Z95 * sigma), rel=1e-12)
    assert tab["upper"][2] == 1.0  # 0.3·exp(1.5598) = 1.427, capped


def test_plain_and_loglog_intervals_by_hand() -> None:
    sigma = math.sqrt(1 / 20)
    plain = KaplanMeier(conf_type="plain").fit(TINY_T, TINY_E).survival_table_
    assert plain["lower"][0] == pytest.approx(0.8 - Z95 * sigma * 0.8, rel=1e-12)
    assert plain["upper"][0] == 1.0  # 0.8 + 0.351 capped
    loglog = KaplanMeier(conf_type="log-log").fit(TINY_T, TINY_E).survival_table_
    half = Z95 * sigma / math.log(0.8)
    assert loglog["lower"][0] == pytest.approx(
        math.exp(-math.exp(math.log(-math.log(0.8)) - half)), rel=1e-12)
    assert loglog["upper"][0] == pytest.approx(
        math.exp(-math.exp(math.log(-math.log(0.8)) + half)), rel=1e-12)
    assert loglog["lower"][0] < 0.8 < loglog["upper"][0] < 1.0


def test_conf_level_changes_z() -> None:
    km90 = KaplanMeier(conf_level=0.90).fit(TINY_T, TINY_E)
    assert km90.z_ == pytest.approx(1.6448536269514722, rel=1e-15)
    sigma = math.sqrt(1 / 20)
    assert km90.survival_table_["lower"][0] == pytest.approx(
        0.8 * math.exp(-1.6448536269514722 * sigma), rel=1e-12)


def test_curve_reaching_zero_gives_na_limits_like_r() -> None:
    # R: std.err Inf at the last time, lower/upper NA (log), plain NA as well
    for conf_type in ("log", "log-log", "plain"):
        tab = KaplanMeier(conf_type=conf_type).fit([1, 2, 2, 3], [1, 1, 1, 1]).survival_table_
        assert tab["surv"].iloc[-1] == 0.0
        assert math.isinf(tab["std_err"].iloc[-1])
        assert math.isnan(tab["lower"].iloc[-1]) and math.isnan(tab["upper"].iloc[-1])
    # R 4.2.2 / survival 3.5-3: lower at t = 2 is 0.04579076 (log)
    tab = KaplanMeier().fit([1, 2, 2, 3], [1, 1, 1, 1]).survival_table_
    assert tab["lower"][1] == pytest.approx(0.04579076, abs=5e-9)


def test_survival_at_follows_summary_times() -> None:
    km = KaplanMeier().fit(TINY_T, TINY_E)
    assert km.survival_at(0.5) == (1.0, 1.0, 1.0)  # before the first time
    s, lo, hi = km.survival_at(2.5)  # step function: value at t = 2
    assert s == pytest.approx(0.6) and lo == km.survival_table_["lower"][1] and hi == 1.0
    assert km.survival_at(2.0)[0] == pytest.approx(0.6)
    assert km.survival_at(4.0)[0] == pytest.approx(0.3)
    assert all(math.isnan(v) for v in km.survival_at(4.5))  # after the last time: R drops it
    assert km.survival_at(4.5, extend=True)[0] == pytest.approx(0.3)


def test_median_plateau_midpoint_rule() -> None:
    km = KaplanMeier().fit(PLATEAU_T, PLATEAU_E)
    assert km.median_ == 32.5
    # lifelines takes the first time with S ≤ 0.5
    assert KaplanMeierFitter().fit(PLATEAU_T, PLATEAU_E).median_survival_time_ == 25
    # log band: lower at t = 10 is 0.8·exp(−z·sqrt(1/40)) = 0.587 > 0.5,
    # at t = 15 it is 0.7·exp(−z·sqrt(3/70)) = 0.467 < 0.5 → 15; the upper band never gets
    # below 0.5 (0.797 at the last event) → not reached
    assert km.median_ci_ == (15.0, None)
    assert km.median_estimate_ == MedianEstimate(32.5, 15.0, None)
    assert km.quantile(0.5).loc[0.5].tolist()[:2] == [32.5, 15.0]


def test_median_plateau_to_end_print_and_quantile_rules() -> None:
    # S = 0.5 from t = 10 to the last (censored) time 75
    km = KaplanMeier().fit([2, 6, 10, 12, 70, 75], [1, 1, 1, 0, 0, 0])
    assert km.median_ == 10.0  # print.survfit: time the curve reached 0.5
    assert km.quantile(0.5)["quantile"].iloc[0] == 42.5  # quantile.survfit: (10 + 75) / 2


def test_median_tolerance_is_sqrt_machine_eps() -> None:
    assert R_TOLERANCE == pytest.approx(1.4901161193847656e-08, rel=1e-15)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    within = 0.5 + 0.5 * R_TOLERANCE
    assert _r_print_median(x, np.array([0.8, within, within, 0.3])) == 3.0
    outside = 0.5 + 2 * R_TOLERANCE
    assert _r_print_median(x, np.array([0.8, outside, outside, 0.3])) == 4.0
    below = 0.5 - 2 * R_TOLERANCE
    assert _r_print_median(x, np.array([0.8, below, below, 0.3])) == 2.0
    assert _r_print_median(x, np.array([0.9, 0.8, 0.7, 0.6])) is None


def test_median_ordinary_crossing_and_not_reached() -> None:
    km = KaplanMeier().fit([1, 2, 3, 4, 5], [1, 1, 1, 1, 1])  # 0.8, 0.6, 0.4, ...
    assert km.median_ == 3.0
    km = KaplanMeier().fit([1, 2, 3, 4, 5], [1, 0, 0, 0, 0])
    assert km.median_ is None and km.median_ci_[1] is None


def test_reverse_km_follow_up() -> None:
    # censored at 2, 4; events at 1, 3 → reverse KM has "events" at 2 (n=3) and 4 (n=1):
    # G = 2/3 after 2, 0 after 4 → median follow-up 4
    fu = median_follow_up([1, 2, 3, 4], [1, 0, 1, 0])
    assert fu.median == 4.0
    km = KaplanMeier().fit([1, 2, 3, 4], [0, 1, 0, 1])
    assert fu == km.median_estimate_


def test_logrank_two_groups_by_hand() -> None:
    # group a: events at 1, 3; group b: events at 2, 4 (no censoring)
    # t=1: n=4 (2,2) d=1 → E_a = 1/2, V = 1·3/(4·3)·2·(1 − 2/4) = 1/4
    # t=2: n=3 (1,2) d=1 → E_a = 1/3, V = 1·2/(3·2)·1·(1 − 1/3) = 2/9
    # t=3: n=2 (1,1) d=1 → E_a = 1/2, V = 1·1/(2·1)·1·(1 − 1/2) = 1/4
    # t=4: n=1 (0,1) d=1 → E_a = 0,   V = 0
    res = logrank_test([1, 3, 2, 4], [1, 1, 1, 1], ["a", "a", "b", "b"])
    e_a = 1 / 2 + 1 / 3 + 1 / 2
    v = 1 / 4 + 2 / 9 + 1 / 4
    assert res.expected[0] == pytest.approx(e_a, rel=1e-14)
    assert res.statistic == pytest.approx((2 - e_a) ** 2 / v, rel=1e-13)
    assert res.df == 1
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(res.statistic / 2)), rel=1e-12)
    assert res.table.loc["a", "n"] == 2 and res.table.loc["b", "observed"] == 2


def _random_groups(seed: int, k: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(k):
        m = 25 + 5 * i
        ev = np.ceil(rng.exponential(20.0 * (i + 1), m))
        cens = np.ceil(rng.uniform(5, 80, m))
        frames.append(pd.DataFrame({"time": np.minimum(ev, cens),
                                    "status": (ev <= cens).astype(int), "group": f"g{i}"}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(("seed", "k"), [(1, 2), (2, 3), (3, 4)])
def test_logrank_agrees_with_lifelines(seed: int, k: int) -> None:
    df = _random_groups(seed, k)
    mine = logrank_test(df["time"], df["status"], df["group"])
    ref = multivariate_logrank_test(df["time"], df["group"], df["status"])
    assert mine.df == ref.degrees_of_freedom == k - 1
    assert mine.statistic == pytest.approx(ref.test_statistic, rel=1e-8)
    assert mine.p_value == pytest.approx(ref.p_value, rel=1e-8)
    np.testing.assert_allclose(mine.observed.sum(), mine.expected.sum(), rtol=1e-12)


def test_logrank_drops_group_with_no_expected_events() -> None:
    # group c is censored before the first event: E_c = 0, so df = 1 (as survdiff)
    t = [2, 4, 3, 5, 0.5, 0.7]
    e = [1, 1, 1, 0, 0, 0]
    g = ["a", "a", "b", "b", "c", "c"]
    res = logrank_test(t, e, g)
    assert res.expected[2] == 0.0
    assert res.df == 1
    two = logrank_test(t[:4], e[:4], g[:4])
    assert res.statistic == pytest.approx(two.statistic, rel=1e-12)


# ------------------------------------------------------------------------------------------
# tables and figures
# ------------------------------------------------------------------------------------------


def test_survival_summary_table() -> None:
    df = pd.DataFrame({"t": PLATEAU_T + TINY_T, "e": PLATEAU_E + TINY_E,
                       "arm": ["p"] * 10 + ["t"] * 5})
    table = survival_summary(df, "t", "e", "arm", times=[20, 60])
    assert list(table.index) == ["p", "t"]
    assert table.loc["p", "n"] == 10 and table.loc["p", "events"] == 7
    assert table.loc["p", "median"] == 32.5
    assert table.loc["p", "median_lower"] == 15.0 and np.isnan(table.loc["p", "median_upper"])
    assert table.loc["p", "surv_20"] == pytest.approx(0.6)
    km_p = KaplanMeier().fit(PLATEAU_T, PLATEAU_E)
    assert table.loc["p", "surv_60_lower"] == km_p.survival_at(60)[1]
    assert np.isnan(table.loc["t", "surv_60"])  # follow-up of "t" ends at 4
    overall = survival_summary(df, "t", "e", times=[2])
    assert overall.index.tolist() == ["all"] and overall.loc["all", "n"] == 15


def test_summary_respects_categorical_order() -> None:
    df = pd.DataFrame({"t": PLATEAU_T + TINY_T, "e": PLATEAU_E + TINY_E,
                       "arm": pd.Categorical(["p"] * 10 + ["t"] * 5, categories=["t", "p"])})
    assert survival_summary(df, "t", "e", "arm").index.tolist() == ["t", "p"]


def test_plot_returns_figure_with_at_risk_table() -> None:
    df = _random_groups(7, 2)
    fig = plot_kaplan_meier(df, "time", "status", "group", xticks=[0, 20, 40, 60, 80])
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["g0", "g1"]
        assert len(ax.collections) >= 2  # one confidence band per group
        assert len(fig.axes) >= 2  # at-risk table axes added by lifelines
        texts = " ".join(t.get_text() for a in fig.axes[1:] for t in a.get_xticklabels())
        assert str(int((df["group"] == "g0").sum())) in texts  # n at risk at t = 0
    finally:
        plt.close(fig)


def test_plot_band_is_r_log_interval() -> None:
    df = pd.DataFrame({"t": TINY_T, "e": TINY_E})
    fig = plot_kaplan_meier(df, "t", "e", at_risk_counts=False)
    try:
        band = fig.axes[0].collections[-1]
        ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        lower = KaplanMeier().fit(TINY_T, TINY_E).survival_table_["lower"].min()
        assert ys.min() == pytest.approx(lower, rel=1e-12)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------
# input validation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("durations", "events", "field", "words"),
    [
        ([1, -2, 3], [1, 0, 1], "durations", "negative"),
        ([1, np.nan, 3], [1, 0, 1], "durations", "NaN"),
        ([1, np.inf, 3], [1, 0, 1], "durations", "infinite"),
        (["a", "b"], [1, 0], "durations", "numeric"),
        ([], [], "durations", "no observations"),
        ([1, 2, 3], [1, 2, 0], "events", "0/1"),
        ([1, 2, 3], [1, np.nan, 0], "events", "NaN"),
        ([1, 2, 3], ["yes", "no", "yes"], "events", "expected 1/True"),
        ([1, 2, 3], [1, 0], "events", "one event indicator per duration"),
    ],
)
def test_bad_input_names_the_field(durations: list, events: list, field: str,
                                   words: str) -> None:
    with pytest.raises(InputError) as info:
        KaplanMeier().fit(durations, events, source="os.csv")
    assert info.value.field == field
    assert info.value.source == "os.csv"
    assert words in str(info.value) and f"field '{field}'" in str(info.value)


def test_bool_events_accepted() -> None:
    a = KaplanMeier().fit(TINY_T, [bool(v) for v in TINY_E]).survival_table_
    b = KaplanMeier().fit(TINY_T, np.array(TINY_E, dtype=float)).survival_table_
    pd.testing.assert_frame_equal(a, b)


def test_group_validation() -> None:
    t, e = [1, 2, 3, 4], [1, 0, 1, 1]
    with pytest.raises(InputError, match="no subjects") as info:
        logrank_test(t, e, pd.Categorical(["a", "a", "b", "b"], categories=["a", "b", "c"]))
    assert info.value.field == "groups"
    with pytest.raises(InputError, match="missing group"):
        logrank_test(t, e, ["a", None, "b", "b"])
    with pytest.raises(InputError, match="at least two"):
        logrank_test(t, e, ["a"] * 4)
    with pytest.raises(InputError, match="one group label per subject"):
        logrank_test(t, e, ["a", "b"])
    with pytest.raises(InputError, match="no events"):
        logrank_test(t, [0, 0, 0, 0], ["a", "a", "b", "b"])
    df = pd.DataFrame({"t": t, "e": e, "arm": pd.Categorical(["a"] * 4, categories=["a", "b"])})
    with pytest.raises(InputError, match="no subjects") as info:
        survival_summary(df, "t", "e", "arm", source="trial.csv")
    assert info.value.field == "arm" and info.value.source == "trial.csv"
    with pytest.raises(InputError, match="column not found") as info:
        survival_summary(df, "time", "e")
    assert info.value.field == "time"
    df_bad = pd.DataFrame({"t": [1, -1], "e": [1, 0]})
    with pytest.raises(InputError, match="negative") as info:
        survival_summary(df_bad, "t", "e")
    assert info.value.field == "t"


def test_parameter_validation() -> None:
    with pytest.raises(InputError, match="conf_type|confidence interval type"):
        KaplanMeier(conf_type="logit")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="probability"):
        KaplanMeier(conf_level=95)
    with pytest.raises(RuntimeError, match="not fitted"):
        KaplanMeier().survival_at(1.0)


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------

_samples = st.lists(
    st.tuples(st.integers(min_value=0, max_value=30), st.booleans()), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(data=_samples, conf_type=st.sampled_from(["log", "log-log", "plain"]),
       level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_curve_and_band_invariants(data: list[tuple[int, bool]], conf_type: str,
                                   level: float) -> None:
    t = [d for d, _ in data]
    e = [ev for _, ev in data]
    km = KaplanMeier(conf_type=conf_type, conf_level=level).fit(t, e)  # type: ignore[arg-type]
    tab = km.survival_table_
    s = tab["surv"].to_numpy()
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s) <= 0)
    assert tab["n_risk"].iloc[0] == len(t)
    assert tab["n_event"].sum() == sum(e)
    assert (tab["n_event"] + tab["n_censor"]).sum() == len(t)
    lo, hi = tab["lower"].to_numpy(), tab["upper"].to_numpy()
    ok = ~np.isnan(lo)
    assert np.all(lo[ok] >= 0) and np.all(lo[ok] <= s[ok] + 1e-12)
    ok = ~np.isnan(hi)
    assert np.all(hi[ok] <= 1) and np.all(hi[ok] >= s[ok] - 1e-12)
    # a band that is defined everywhere brackets the median
    med, (mlo, mhi) = km.median_, km.median_ci_
    if med is not None and mlo is not None:
        assert mlo <= med
    if med is not None and mhi is not None:
        assert med <= mhi
    # survival_at is the step function through the table
    for i, time in enumerate(tab["time"]):
        assert km.survival_at(float(time))[0] == s[i]


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 20), st.booleans(), st.sampled_from("abc")),
                     min_size=6, max_size=40))
def test_logrank_invariants_and_lifelines_agreement(
    data: list[tuple[int, bool, str]]
) -> None:
    t = [d for d, _, _ in data]
    e = [ev for _, ev, _ in data]
    g = [x for _, _, x in data]
    assume(len(set(g)) >= 2 and any(e))
    res = logrank_test(t, e, g)
    np.testing.assert_allclose(res.observed.sum(), res.expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(res.variance.sum(axis=1), 0.0, atol=1e-9)
    if res.df >= 1:
        assert res.statistic >= -1e-12 and 0.0 <= res.p_value <= 1.0
    if res.df == len(set(g)) - 1 and res.df >= 1 and np.linalg.matrix_rank(res.variance) == res.df:
        ref = multivariate_logrank_test(t, g, e)
        assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-8, abs=1e-10)

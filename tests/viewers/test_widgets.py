"""Headless widget tests, as ipywidgets tests itself: build the widget, set ``.value``, and check
the figure's artist data and the displayed numbers against the package's chain."""

from __future__ import annotations

import re

import numpy as np
import pytest

from iluminet.config.params import merge_parameters
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.viewers import cohort_km as ce
from iluminet.viewers import whatif as bw
from iluminet.viewers import widgets as vw
from iluminet.viewers.tac import exclude_points


def shown(html: str, label: str) -> str:
    """The value shown in the numbers table next to ``label``."""
    match = re.search(re.escape(label) + r"</td><td class='value'>(.*?)</td>", html)
    assert match, f"{label!r} not shown in {html!r}"
    return match.group(1)


def total_cycles(html: str) -> int:
    match = re.search(r"<b class='total-cycles'>(\d+)</b>", html)
    assert match, html
    return int(match.group(1))


def with_all_points(result):
    """The patient's result when the mono-exponential fit uses every scan (1 h included)."""
    params = merge_parameters(result.parameters,
                              ("test", {"analysis": {"kinetics": {"mono_fit_from_h": 0.5}}}))
    return run_patient_dosimetry(result.record, params)


# -- time-activity explorer ------------------------------------------------------------------------
def test_dropping_a_point_shows_the_chains_tia_for_the_reduced_data(dosimetry):
    base = with_all_points(dosimetry["P001"])
    w = vw.tac_explorer(base)
    w.cycle.value, w.kidney.value = 2, "right"
    before_tia = float(shown(w.numbers.value, "TIA (MBq·h)"))
    before_png, fit_y = w.image.value, w.plot.fit_line.get_ydata().copy()
    w.exclude.value = (1,)  # the second scan (about 24 h)
    expected = run_patient_dosimetry(exclude_points(base.record, {(2, "right", 1)}),
                                     base.parameters)
    row = expected.kidney_doses_.query("cycle == 2 and kidney == 'right'").iloc[0]
    assert float(shown(w.numbers.value, "TIA (MBq·h)")) == pytest.approx(row.tia_mbq_h, abs=0.05)
    assert float(shown(w.numbers.value, "TIA (MBq·h)")) != pytest.approx(before_tia, abs=0.05)
    assert float(shown(w.numbers.value, "absorbed dose (Gy)")) == pytest.approx(row.dose_gy,
                                                                                abs=5e-4)
    assert float(shown(w.numbers.value, "kidney BED (Gy)")) == pytest.approx(row.bed_gy, abs=5e-4)
    cumulative = expected.cycles_["cumulative_bed_gy"].iloc[-1]
    assert float(shown(w.numbers.value, "cumulative BED (Gy)")) == pytest.approx(cumulative,
                                                                                 abs=5e-4)
    assert shown(w.numbers.value, "decision") == expected.decision_.summary()
    # the figure: the excluded point is drawn as a cross at its time, the curve is the new fit
    t_excluded = base.record.activity.query("cycle == 2 and kidney == 'right'")["time_h"].iloc[1]
    np.testing.assert_allclose(w.plot.excluded_line.get_xdata(), [t_excluded])
    assert len(w.plot.used_line.get_xdata()) == 3
    fit = next(f for f in expected.kidney_fits if (f.cycle, f.kidney) == (2, "right"))
    np.testing.assert_allclose(w.plot.fit_line.get_ydata(), fit.fitter.predict(w.plot.grid_h))
    assert not np.allclose(w.plot.fit_line.get_ydata(), fit_y)
    assert w.image.value != before_png
    # restoring the point restores the batch result
    w.exclude.value = ()
    assert float(shown(w.numbers.value, "TIA (MBq·h)")) == pytest.approx(before_tia, abs=0.05)


def test_too_few_points_withholds_the_decision(dosimetry):
    w = vw.tac_explorer(dosimetry["P001"])  # mono from 2 h: 3 of 4 scans used
    w.cycle.value = 1
    assert shown(w.numbers.value, "decision").startswith("give cycle 4")
    w.exclude.value = (2,)
    assert shown(w.numbers.value, "decision").startswith("withhold")
    assert "only 2 usable scan(s)" in w.numbers.value
    assert shown(w.numbers.value, "TIA (MBq·h)") == "—"
    assert len(w.plot.fit_line.get_xdata()) == 0
    assert w.plot.fit_line.get_linestyle() == "--"


def test_exclusions_are_kept_per_cycle_and_kidney(dosimetry):
    w = vw.tac_explorer(with_all_points(dosimetry["P001"]))
    w.cycle.value, w.kidney.value = 1, "left"
    w.exclude.value = (3,)
    w.kidney.value = "right"
    assert w.exclude.value == ()
    w.kidney.value = "left"
    assert w.exclude.value == (3,)
    assert w.exploration.excluded == {(1, "left", 3)}


def test_switching_the_model_reruns_the_chain(dosimetry):
    base = dosimetry["P002"]
    w = vw.tac_explorer(base)
    w.cycle.value, w.kidney.value = 3, "left"
    w.model.value = "biexp"
    params = merge_parameters(base.parameters,
                              ("test", {"analysis": {"kinetics": {"model": "biexp"}}}))
    expected = run_patient_dosimetry(base.record, params)
    row = expected.fits_.query("cycle == 3 and kidney == 'left'").iloc[0]
    assert shown(w.numbers.value, "fit model").startswith("biexp (4 points")
    assert float(shown(w.numbers.value, "TIA (MBq·h)")) == pytest.approx(row.tia_mbq_h, abs=0.05)
    assert w.result.parameters["analysis"]["kinetics"]["model"] == "biexp"


# -- BED what-if -----------------------------------------------------------------------------------
def test_raising_the_step1_limit_increases_the_predicted_cycles(dosimetry):
    w = vw.bed_whatif(dosimetry["P001"])  # in step 1 after 3 cycles
    before = total_cycles(w.numbers.value)
    predicted_x = w.plot.predicted.get_xdata().copy()
    w.controls["step1_bed_limit_gy"].value = 35.0
    after = total_cycles(w.numbers.value)
    assert after > before
    assert after == len(w.result.cycles_) + w.result.decision_.predicted_cycles_remaining
    assert w.plot.predicted.get_xdata()[-1] == after > predicted_x[-1]
    assert w.plot.limits[0].get_ydata()[0] == 35.0
    assert w.plot.bands[0].get_y() == pytest.approx(33.0)


def test_alpha_beta_changes_every_cycle_bed_as_the_chain(dosimetry):
    base = dosimetry["P002"]
    w = vw.bed_whatif(base)
    heights = [b.get_height() for b in w.plot.bars]
    w.controls["alpha_beta_gy"].value = 1.5
    expected = run_patient_dosimetry(base.record, merge_parameters(
        base.parameters, ("test", {"protocol": {"radiobiology": {"alpha_beta_gy": 1.5}}})))
    np.testing.assert_allclose([b.get_height() for b in w.plot.bars], expected.cycles_["bed_gy"])
    assert all(new > old for new, old in zip((b.get_height() for b in w.plot.bars), heights))
    np.testing.assert_allclose(w.plot.cumulative.get_ydata(), expected.cycles_["cumulative_bed_gy"])
    assert f"{expected.cycles_['cumulative_bed_gy'].iloc[-1]:.3f}" in w.numbers.value


def test_policy_and_prediction_controls(dosimetry):
    base = dosimetry["P001"]
    w = vw.bed_whatif(base)
    for policy in bw.POLICIES:
        w.controls["last_cycle_policy"].value = policy
        expected = bw.run_whatif(base, **w.values())
        assert total_cycles(w.numbers.value) == bw.planned_course(expected).total_cycles
    w.controls["last_cycle_policy"].value = "within_limit"
    lenient = total_cycles(w.numbers.value)
    w.controls["last_cycle_policy"].value = "reach_lower_bound"
    assert total_cycles(w.numbers.value) >= lenient


def test_an_impossible_protocol_is_shown_not_raised(dosimetry):
    w = vw.bed_whatif(dosimetry["P001"])
    shown_before = w.numbers.value
    w.controls["step1_bed_limit_gy"].value = 44.0  # above the 40 Gy step-2 limit
    assert "window must lie below step" in w.status.value
    assert w.numbers.value == shown_before
    w.controls["step2_bed_limit_gy"].value = 50.0
    assert w.status.value == ""
    assert w.result.protocol.step1_bed_limit_gy == 44.0


def test_withheld_patient_predicts_no_cycles(dosimetry):
    w = vw.bed_whatif(dosimetry["P004"])
    assert "withheld" in w.numbers.value
    assert len(w.plot.predicted.get_xdata()) == 0


def test_whatif_overrides_paths():
    assert bw.whatif_overrides(alpha_beta_gy=3, last_cycle_policy="nearest") == {
        "protocol": {"radiobiology": {"alpha_beta_gy": 3.0}, "last_cycle_policy": "nearest"}}


# -- cohort explorer -------------------------------------------------------------------------------
def test_cohort_explorer_matches_the_efficacy_logrank(efficacy_results):
    w = vw.cohort_explorer(efficacy_results)
    lr = efficacy_results.logrank
    for endpoint in ("pfs", "os", "ttp"):
        for grouping in ("bed_group", "ecog_level", "ki67_group", "origin_group"):
            w.endpoint.value, w.stratum.value = endpoint, grouping
            p = lr.query("endpoint == @endpoint and grouping == @grouping")["p_value"].iloc[0]
            assert w.current.logrank.p_value == pytest.approx(p, rel=1e-9)
            assert f"p = {p:.4f}" in w.numbers.value
    w.endpoint.value, w.stratum.value = "os", "bed_group"
    median = efficacy_results.median("os", "bed_group", "< 25 Gy")["median"]
    assert w.current.summary.loc["< 25 Gy", "median"] == pytest.approx(median)


def test_cohort_explorer_any_baseline_column(efficacy_results):
    w = vw.cohort_explorer(efficacy_results)
    png = w.image.value
    labels = {c: lbl for lbl, c in w.stratum.options}
    assert "age_years" in labels and "sex" in labels and "diabetes" in labels
    w.stratum.value = "age_years"  # numeric: split at the median
    groups = list(w.current.summary.index)
    assert len(groups) == 2 and groups[0].startswith("< ")
    median = np.median(ce.endpoint_data(efficacy_results, "pfs")["age_years"])
    assert groups == [f"< {median:g}", f"≥ {median:g}"]
    assert w.image.value != png
    ax = w.figure.axes[0]
    assert len([ln for ln in ax.get_lines() if ln.get_label() in groups]) == 2
    w.stratum.value = None
    assert w.current.logrank is None and "no stratification" in w.numbers.value
    assert list(w.current.summary["n"]) == [int(efficacy_results.patients["pfs_evaluable"].sum())]


# -- image viewers ---------------------------------------------------------------------------------
def test_spect_ct_slider_updates_image_and_numbers(virtual_cycle):
    w = vw.spect_ct_viewer(virtual_cycle)
    png, title = w.image.value, w.numbers.value
    w.slice.value = w.slice.value + 5
    vol = w.view.volumes
    np.testing.assert_array_equal(w.view.ct_image.get_array(), vol.ct_hu[w.slice.value])
    assert w.image.value != png and w.numbers.value != title
    assert f"slice {w.slice.value + 1}/" in w.numbers.value
    w.level.value, w.width.value = 0.0, 200.0
    assert w.view.ct_image.get_clim() == (-100.0, 100.0)
    w.plane.value = "coronal"
    assert w.slice.max == vol.shape_zyx[1] - 1 and w.slice.value == w.view.index
    np.testing.assert_array_equal(w.view.ct_image.get_array(), vol.ct_hu[:, w.view.index, :])


def test_planar_viewer_time_and_window(virtual_cycle):
    w = vw.planar_viewer(virtual_cycle)
    first = w.numbers.value
    w.time.value = 3
    assert w.numbers.value != first
    study = w.study
    np.testing.assert_array_equal(w.views["posterior"].image.get_array(),
                                  study.counts[3]["posterior"][0])
    w.window.value = 2
    np.testing.assert_array_equal(w.views["anterior"].image.get_array(),
                                  study.counts[3]["anterior"][2])
    assert study.window_names[2] in w.views["anterior"].ax.get_title()

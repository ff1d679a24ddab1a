"""One colour per group level across the cohort figures; natural order; readable titles;
p-values as a paper prints them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.colors import to_hex

from iluminet.report import trial_figures
from iluminet.report.palette import (
    GROUP_TITLES,
    LEVELS,
    bed_levels,
    colour_of,
    format_p,
    group_colours,
    ordered_levels,
)
from iluminet.trial.tables import bed_group


def _km_colours(fig) -> dict[str, str]:
    """Legend label prefix (the level) → line colour, from the KM axes' survival lines."""
    ax = fig.axes[0]
    out = {}
    for line in ax.get_lines():
        label = line.get_label()
        if label.startswith("_"):
            continue
        out[label.split(" (n = ")[0]] = to_hex(line.get_color())
    return out


def _bar_colours(fig) -> dict[str, str]:
    ax = fig.axes[0]
    out = {}
    for container in ax.containers:
        label = container.get_label()
        out[label.split(" (n = ")[0]] = to_hex(container.patches[0].get_facecolor())
    return out


def test_a_bed_group_has_the_same_colour_in_the_km_and_the_waterfall(efficacy_results):
    km = trial_figures.plot_survival(efficacy_results, "os", "bed_group")
    waterfall = trial_figures.plot_waterfall(efficacy_results, "bed_group")
    km_colours, bar_colours = _km_colours(km), _bar_colours(waterfall)
    # the waterfall lacks the middle group: colours assigned by drawing order or by sorting the
    # labels as text would then differ for "> 29 Gy"
    assert set(km_colours) == set(bed_levels())
    assert set(bar_colours) == {"< 25 Gy", "> 29 Gy"}
    for level, colour in bar_colours.items():
        assert colour == km_colours[level] == to_hex(colour_of("bed_group", level))
    assert len(set(km_colours.values())) == 3
    plt.close("all")


def test_legends_in_natural_order_with_readable_titles(efficacy_results):
    fig = trial_figures.plot_survival(efficacy_results, "pfs", "bed_group")
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == GROUP_TITLES["bed_group"] == "Delivered kidney BED"
    labels = [t.get_text().split(" (n = ")[0] for t in legend.get_texts()]
    assert labels == list(bed_levels())
    assert "bed_group" not in fig.axes[0].get_title()
    waterfall = trial_figures.plot_waterfall(efficacy_results, "bed_group")
    w_legend = waterfall.axes[0].get_legend()
    assert w_legend.get_title().get_text() == "Delivered kidney BED"
    assert [t.get_text().split(" (n = ")[0] for t in w_legend.get_texts()] == ["< 25 Gy",
                                                                             "> 29 Gy"]
    plt.close("all")


def test_km_title_p_value_is_formatted(efficacy_results):
    fig = trial_figures.plot_survival(efficacy_results, "os", "ecog_level")
    title = fig.axes[0].get_title()
    assert "log-rank p" in title and "p = 0.000" not in title
    plt.close("all")


@pytest.mark.parametrize(("p", "text"), [(0.0, "p < 0.001"), (2e-6, "p < 0.001"),
                                         (0.000999, "p < 0.001"), (0.001, "p = 0.001"),
                                         (0.0409, "p = 0.041"), (0.5, "p = 0.500"),
                                         (float("nan"), "p not computed")])
def test_format_p(p, text):
    assert format_p(p) == text


def test_ordered_levels_is_natural_not_alphabetical():
    assert ordered_levels("bed_group", ["> 29 Gy", "< 25 Gy", "25–29 Gy"]) == list(bed_levels())
    assert ordered_levels("ki67_group", ["> 20", "11–20", "0–2"]) == ["0–2", "11–20", "> 20"]
    other = bed_levels((20, 30))
    assert ordered_levels("bed_group", [other[2], other[0], other[1]]) == list(other)


@given(st.lists(st.floats(0, 60), min_size=1, max_size=30))
def test_a_figure_with_some_levels_uses_the_full_palette_restricted(beds):
    """Whatever subset of levels a figure shows, each level keeps the colour it has when all
    levels are shown, and different levels never share a colour."""
    full = group_colours("bed_group", LEVELS["bed_group"])
    present = ordered_levels("bed_group", bed_group(beds).astype(str))
    assert group_colours("bed_group", present) == {lv: full[lv] for lv in present}
    assert len(set(full.values())) == 3
    # other edges: still low/middle/high in the same three colours
    assert set(group_colours("bed_group", bed_levels((20, 30))).values()) == set(full.values())


def test_the_cohort_explorer_draws_each_group_in_the_report_colour(efficacy_results):
    """The interactive KM explorer uses the report's palette: before, it took matplotlib's colour
    cycle, so "> 29 Gy" was green in the widget and vermillion in the report."""
    from iluminet.viewers import cohort_km

    fig = plt.figure()
    s = cohort_km.stratified_survival(efficacy_results, "os", "bed_group")
    cohort_km.draw_stratified(fig, s)
    colours = _km_colours(fig)
    assert set(colours) == set(bed_levels())
    for level, colour in colours.items():
        assert colour == to_hex(colour_of("bed_group", level))
    ax = fig.axes[0]
    assert ax.get_legend().get_title().get_text() == "Delivered kidney BED"
    assert "bed_group" not in ax.get_title() and "log-rank p" in ax.get_title()
    plt.close("all")

"""Thin ipywidgets wrappers around the pure views: controls → ``update`` → PNG in an ``Image``.

Each explorer is an ``ipywidgets.VBox`` holding its controls, an ``Image`` widget with the figure
rendered by matplotlib's Agg canvas, and an ``HTML`` widget with the numbers. The matplotlib
figure is created once (without pyplot, so nothing is shown twice in a notebook) and a control
change only updates its artists before the figure is re-rendered; this needs no notebook backend
(ipympl) and behaves identically in JupyterLab, in tests and in a headless browser.

Widget state is not kept by papermill: these are for live exploration in JupyterLab; the reports
use the static figures of :mod:`iluminet.report.patient_figures`.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from iluminet.errors import InputError
from iluminet.patient.chain import PatientDosimetry
from iluminet.patient.records import KIDNEYS
from iluminet.trial.efficacy import ENDPOINTS, EfficacyResults
from iluminet.viewers import cohort_km as ce
from iluminet.viewers import whatif as bw
from iluminet.viewers.images import (
    PLANES,
    FusedSliceView,
    PlanarStudy,
    PlanarView,
    SpectCtVolumes,
    load_planar,
    load_spect_ct,
)
from iluminet.viewers.tac import MODELS, TacExploration, TacPlot, format_numbers, points


def render_png(fig: Figure) -> bytes:
    """Draw ``fig`` with the Agg canvas and return the PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # draws the figure on its (Agg) canvas, then encodes
    return buffer.getvalue()


def new_figure(width_in: float, height_in: float, dpi: float = 90.0) -> Figure:
    """A matplotlib figure on its own Agg canvas (not registered with pyplot)."""
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


class FigureExplorer(widgets.VBox):
    """Base: controls on top, the rendered figure, then the numbers and any error message.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
    image : ipywidgets.Image
        PNG of the figure, re-rendered after each change.
    numbers : ipywidgets.HTML
        The numbers that belong to the view.
    status : ipywidgets.HTML
        Empty, or the message of an :class:`~iluminet.errors.InputError` raised by a change.
    """

    def __init__(self, controls: list[widgets.Widget], figure: Figure, **kwargs: Any) -> None:
        self.figure = figure
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.numbers = widgets.HTML()
        self.status = widgets.HTML()
        super().__init__([widgets.HBox(controls, layout=widgets.Layout(flex_flow="row wrap")),
                          self.image, self.numbers, self.status], **kwargs)

    def refresh(self) -> None:
        """Re-render the figure into the image widget."""
        self.image.value = render_png(self.figure)

    def _guarded(self, action: Callable[[], None]) -> Callable[[Any], None]:
        """An observer that runs ``action`` and shows a bad-input message instead of failing."""
        def observer(_change: Any) -> None:
            try:
                action()
            except InputError as exc:
                self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
                return
            self.status.value = ""
        return observer


class SpectCtViewer(FigureExplorer):
    """SPECT fused on CT with kidney VOI contours: plane, slice, CT window/level, SPECT opacity."""

    def __init__(self, volumes: SpectCtVolumes, plane: str = "axial", *,
                 figsize: tuple[float, float] = (5.5, 5.5)) -> None:
        fig = new_figure(*figsize)
        ax = fig.add_subplot()
        self.view = FusedSliceView(ax, volumes, plane)  # type: ignore[arg-type]
        self.plane = widgets.ToggleButtons(options=list(PLANES), value=plane, description="plane")
        self.slice = widgets.IntSlider(value=self.view.index, min=0,
                                       max=volumes.n_slices(self.view.plane) - 1,
                                       description="slice", continuous_update=True)
        self.level = widgets.FloatSlider(value=40.0, min=-500.0, max=500.0, step=10.0,
                                         description="level (HU)")
        self.width = widgets.FloatSlider(value=400.0, min=50.0, max=2000.0, step=10.0,
                                         description="width (HU)")
        self.opacity = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                           description="SPECT opacity")
        super().__init__([self.plane, self.slice, self.level, self.width, self.opacity], fig)
        fig.tight_layout()
        self.plane.observe(self._guarded(self._on_plane), names="value")
        self.slice.observe(self._guarded(self._on_change), names="value")
        for control in (self.level, self.width, self.opacity):
            control.observe(self._guarded(self._on_change), names="value")
        self._show_numbers()
        self.refresh()

    def _on_plane(self) -> None:
        self.view.update(plane=self.plane.value)
        # Re-point the slider without triggering a second redraw from its observer.
        with self.slice.hold_trait_notifications():
            self.slice.max = self.view.volumes.n_slices(self.view.plane) - 1
            self.slice.value = self.view.index
        self._show_numbers()
        self.refresh()

    def _on_change(self) -> None:
        self.view.update(index=self.slice.value, level_hu=self.level.value,
                         width_hu=self.width.value, opacity=self.opacity.value)
        self._show_numbers()
        self.refresh()

    def _show_numbers(self) -> None:
        counts = self.view.voi_counts()
        cells = "".join(f"<td>{name}: <span class='value'>{value:.0f}</span> counts</td>"
                        for name, value in counts.items())
        self.numbers.value = (f"<table class='iluminet-numbers'><tr><td class='slice-title'>"
                              f"{self.view.title()}</td>{cells}</tr></table>")


class PlanarViewer(FigureExplorer):
    """Anterior and posterior planar views side by side: time point, energy window, grey scale."""

    def __init__(self, study: PlanarStudy, *, mirror_posterior: bool = False,
                 figsize: tuple[float, float] = (6.0, 7.0)) -> None:
        fig = new_figure(*figsize)
        self.study = study
        self.views = {view: PlanarView(fig.add_subplot(1, 2, i + 1), study, 0, view, 0,
                                       mirror_posterior=mirror_posterior)
                      for i, view in enumerate(("anterior", "posterior"))}
        self.time = widgets.SelectionSlider(options=list(zip(study.time_labels,
                                                             range(len(study.time_h)))),
                                            value=0, description="scan")
        self.window = widgets.Dropdown(options=list(zip(study.window_names,
                                                        range(len(study.window_names)))),
                                       value=0, description="energy window")
        self.display = widgets.FloatSlider(value=0.3, min=0.02, max=1.0, step=0.02,
                                           description="max (× peak)")
        super().__init__([self.time, self.window, self.display], fig)
        fig.tight_layout()
        for control in (self.time, self.window, self.display):
            control.observe(self._guarded(self._on_change), names="value")
        self._show_numbers()
        self.refresh()

    def _on_change(self) -> None:
        for view in self.views.values():
            view.update(time_index=self.time.value, window=self.window.value,
                        display_fraction=self.display.value)
        self._show_numbers()
        self.refresh()

    def _show_numbers(self) -> None:
        rows = []
        for name, view in self.views.items():
            counts = view.counts()
            if not counts:
                continue
            cells = "".join(f"<td class='value'>{counts[f'{roi} counts']:.0f}</td>"
                            for roi in ("left kidney", "right kidney", "left background",
                                        "right background"))
            rows.append(f"<tr><td>{name}</td>{cells}</tr>")
        self.numbers.value = (
            "<table class='iluminet-numbers'><tr><th>ROI counts</th><th>left kidney</th>"
            "<th>right kidney</th><th>left background</th><th>right background</th></tr>"
            + "".join(rows) + "</table>") if rows else "no planar ROIs found"


class TacExplorer(FigureExplorer):
    """Kidney time-activity curve of one cycle: exclude scans, switch the model, follow the
    TIA, dose, BED and the decision (the chain rerun on every change)."""

    def __init__(self, result: PatientDosimetry, *, figsize: tuple[float, float] = (6.5, 4.0)
                 ) -> None:
        self.exploration = TacExploration(result)
        fig = new_figure(*figsize)
        cycles = sorted(int(c) for c in result.cycles_["cycle"])
        self.cycle = widgets.Dropdown(options=cycles, value=cycles[-1], description="cycle")
        self.kidney = widgets.ToggleButtons(options=list(KIDNEYS), value=KIDNEYS[0],
                                            description="kidney")
        self.model = widgets.Dropdown(options=list(MODELS), value=self.exploration.model,
                                      description="model")
        self.exclude = widgets.SelectMultiple(options=[], description="exclude",
                                              layout=widgets.Layout(height="90px"))
        self.plot = TacPlot(fig.add_subplot(), self.exploration, self.cycle.value,
                            self.kidney.value)
        super().__init__([widgets.VBox([self.cycle, self.kidney, self.model]), self.exclude],
                         fig)
        fig.tight_layout()
        self._syncing = False
        self._sync_exclude_options()
        self.cycle.observe(self._guarded(self._on_selection), names="value")
        self.kidney.observe(self._guarded(self._on_selection), names="value")
        self.model.observe(self._guarded(self._on_model), names="value")
        self.exclude.observe(self._guarded(self._on_exclude), names="value")
        self._show()

    def _sync_exclude_options(self) -> None:
        cycle, kidney = self.cycle.value, self.kidney.value
        pts = points(self.exploration.base.record, cycle, kidney)
        self._syncing = True
        try:
            self.exclude.options = [(f"{t:.1f} h: {a:.1f} MBq", i) for i, t, a in pts]
            self.exclude.value = tuple(sorted(p for c, k, p in self.exploration.excluded
                                              if (c, k) == (cycle, kidney)))
        finally:
            self._syncing = False

    def _on_selection(self) -> None:
        self._sync_exclude_options()
        self._show()

    def _on_model(self) -> None:
        self.exploration.model = self.model.value
        self.exploration.recompute()
        self._show()

    def _on_exclude(self) -> None:
        if self._syncing:
            return
        self.exploration.set_excluded(self.cycle.value, self.kidney.value, self.exclude.value)
        self.exploration.recompute()
        self._show()

    def _show(self) -> None:
        self.plot.update(self.cycle.value, self.kidney.value)
        self.numbers.value = format_numbers(self.exploration.numbers(self.cycle.value,
                                                                     self.kidney.value))
        self.refresh()

    @property
    def result(self) -> PatientDosimetry:
        """The chain's result for the current exclusions and model."""
        return self.exploration.result_


class BedWhatIf(FigureExplorer):
    """α/β, T_rep, step limits and tolerances, last-cycle policy and BED prediction as controls;
    per-cycle and cumulative BED and the predicted cycles follow (the chain rerun)."""

    def __init__(self, result: PatientDosimetry, *, figsize: tuple[float, float] = (7.0, 4.0)
                 ) -> None:
        self.base = result
        self.result = result
        c = bw.current_controls(result.parameters)
        slider = {"continuous_update": False, "style": {"description_width": "120px"}}
        self.controls: dict[str, widgets.ValueWidget] = {
            "alpha_beta_gy": widgets.FloatSlider(value=c["alpha_beta_gy"], min=0.5, max=10.0,
                                                 step=0.1, description="α/β (Gy)", **slider),
            "repair_half_time_h": widgets.FloatSlider(value=c["repair_half_time_h"], min=0.5,
                                                      max=10.0, step=0.1,
                                                      description="T_rep (h)", **slider),
            "step1_bed_limit_gy": widgets.FloatSlider(value=c["step1_bed_limit_gy"], min=10.0,
                                                      max=45.0, step=0.5,
                                                      description="step 1 limit (Gy)", **slider),
            "step1_tolerance_gy": widgets.FloatSlider(value=c["step1_tolerance_gy"], min=0.0,
                                                      max=5.0, step=0.5,
                                                      description="step 1 tol. (Gy)", **slider),
            "step2_bed_limit_gy": widgets.FloatSlider(value=c["step2_bed_limit_gy"], min=20.0,
                                                      max=60.0, step=0.5,
                                                      description="step 2 limit (Gy)", **slider),
            "step2_tolerance_gy": widgets.FloatSlider(value=c["step2_tolerance_gy"], min=0.0,
                                                      max=5.0, step=0.5,
                                                      description="step 2 tol. (Gy)", **slider),
            "last_cycle_policy": widgets.Dropdown(options=list(bw.POLICIES),
                                                  value=c["last_cycle_policy"],
                                                  description="last cycle"),
            "bed_prediction": widgets.Dropdown(options=list(bw.PREDICTIONS),
                                               value=c["bed_prediction"],
                                               description="BED prediction"),
        }
        fig = new_figure(*figsize)
        self.plot = bw.BedPlot(fig.add_subplot(), result)
        names = list(self.controls)
        super().__init__([widgets.VBox([self.controls[n] for n in names[:4]]),
                          widgets.VBox([self.controls[n] for n in names[4:]])], fig)
        fig.tight_layout()
        for control in self.controls.values():
            control.observe(self._guarded(self._on_change), names="value")
        self._show()

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def _on_change(self) -> None:
        self.result = bw.run_whatif(self.base, **self.values())
        self._show()

    def _show(self) -> None:
        self.plot.update(self.result)
        self.numbers.value = bw.format_whatif(self.result)
        self.refresh()


class CohortExplorer(FigureExplorer):
    """Kaplan–Meier curves of PFS, OS or TTP by any baseline column, with at-risk table and
    log-rank p."""

    def __init__(self, results: EfficacyResults, *, figsize: tuple[float, float] = (7.0, 5.0)
                 ) -> None:
        self.results = results
        self.endpoint = widgets.Dropdown(options=[(f"{k.upper()}: {v}", k)
                                                  for k, v in ENDPOINTS.items()],
                                         value="pfs", description="endpoint")
        self.stratum = widgets.Dropdown(options=ce.stratification_options(results),
                                        value="bed_group", description="by")
        super().__init__([self.endpoint, self.stratum], new_figure(*figsize))
        self.endpoint.observe(self._guarded(self._show), names="value")
        self.stratum.observe(self._guarded(self._show), names="value")
        self._show()

    def _show(self) -> None:
        self.current = ce.stratified_survival(self.results, self.endpoint.value,
                                              self.stratum.value)
        ce.draw_stratified(self.figure, self.current, conf_level=self.results.options.conf_level)
        self.numbers.value = ce.format_stratified(self.current)
        self.refresh()


# -- entry points used by the notebooks ------------------------------------------------------------
def spect_ct_viewer(cycle_dir: str | Path, plane: str = "axial") -> SpectCtViewer:
    """Viewer of one cycle's SPECT/CT with kidney VOIs (``<patient>/cycle_NN`` folder)."""
    return SpectCtViewer(load_spect_ct(cycle_dir), plane)


def planar_viewer(cycle_dir: str | Path, *, mirror_posterior: bool = False) -> PlanarViewer:
    """Viewer of one cycle's planar whole-body scans with kidney and background ROIs."""
    return PlanarViewer(load_planar(cycle_dir), mirror_posterior=mirror_posterior)


def tac_explorer(result: PatientDosimetry) -> TacExplorer:
    """Time-activity explorer on a patient's dosimetry result."""
    return TacExplorer(result)


def bed_whatif(result: PatientDosimetry) -> BedWhatIf:
    """BED what-if explorer on a patient's dosimetry result."""
    return BedWhatIf(result)


def cohort_explorer(results: EfficacyResults) -> CohortExplorer:
    """Kaplan–Meier explorer on the cohort's efficacy results."""
    return CohortExplorer(results)

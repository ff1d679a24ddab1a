"""Benchmark: responsiveness of the viewers — one slider step re-rendered.

For a synthetic 128³ SPECT/CT with kidney VOIs (and, when present, the demo virtual patient's
study): the update callback (artist ``set_data`` + VOI contours) followed by ``fig.canvas.draw()``
with the Agg backend, per plane; then the same plus the PNG encoding that the notebook widget sends
to the browser; then the whole ipywidget observer (``slider.value = …``). Target: < 200 ms per step.
Also one step of the planar viewer, the BED what-if (chain rerun) and the TAC explorer.

Run: .venv/bin/python benchmarks/bench_viewers.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np

from iluminet.viewers import images as im
from iluminet.viewers import widgets as vw

TARGET_MS = 200.0


def synthetic_volumes(n: int = 128, seed: int = 1) -> im.SpectCtVolumes:
    """A 128³ study: body ellipse in soft tissue, spine, two kidney ellipsoids hot in SPECT."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n),) * 3, indexing="ij")
    body = (x / 0.8) ** 2 + (y / 0.55) ** 2 < 1
    ct = np.where(body, 40.0, -1000.0) + rng.normal(0, 15, (n, n, n))
    ct[(x**2 + (y - 0.3) ** 2) < 0.01] = 700.0
    labels = np.zeros((n, n, n), dtype=np.int16)
    for value, cx in ((1, 0.35), (2, -0.35)):
        labels[((x - cx) / 0.15) ** 2 + ((y - 0.2) / 0.12) ** 2 + (z / 0.3) ** 2 < 1] = value
    spect = rng.poisson(np.where(labels > 0, 400.0, np.where(body, 20.0, 0.0))).astype(float)
    return im.SpectCtVolumes(ct, spect, labels, (3.9, 3.9, 3.9), (-250.0, -250.0, -250.0))


def timed(label: str, step: Callable[[int], None], repeat: int) -> float:
    step(0)  # warm-up (font cache, first draw)
    times = []
    for i in range(1, repeat + 1):
        start = time.perf_counter()
        step(i)
        times.append(1000.0 * (time.perf_counter() - start))
    median, worst = statistics.median(times), max(times)
    verdict = "ok" if median < TARGET_MS else "SLOW"
    print(f"{label:<66} median {median:6.1f} ms  max {worst:6.1f} ms  [{verdict}]")
    return median


def bench_plane(volumes: im.SpectCtVolumes, plane: str, name: str, repeat: int) -> None:
    viewer = vw.SpectCtViewer(volumes, plane)
    n = volumes.n_slices(viewer.view.plane)
    fig, view = viewer.figure, viewer.view

    def draw_step(i: int) -> None:
        view.update(index=(view.index + 1) % n)
        fig.canvas.draw()

    def png_step(i: int) -> None:
        view.update(index=(view.index + 1) % n)
        vw.render_png(fig)

    def widget_step(i: int) -> None:
        viewer.slice.value = (viewer.slice.value + 1) % n

    timed(f"{name} {plane}: update + canvas.draw()", draw_step, repeat)
    timed(f"{name} {plane}: update + draw + PNG", png_step, repeat)
    timed(f"{name} {plane}: slider.value (observer, numbers, PNG)", widget_step, repeat)


def bench_fused(volumes: im.SpectCtVolumes, name: str, repeat: int) -> None:
    for plane in ("axial", "coronal"):
        bench_plane(volumes, plane, name, repeat)


def main() -> None:
    print(machine())
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print(f"target: a slider step re-renders within {TARGET_MS:.0f} ms")
    bench_fused(synthetic_volumes(), "synthetic 128³", args.repeat)

    from iluminet.config.params import load_parameters
    from iluminet.patient.chain import run_patient_dosimetry
    from iluminet.patient.records import load_patient
    from iluminet.synthetic.demo_patients import generate_demo_patients
    from iluminet.synthetic.virtual import generate_virtual_patients

    with tempfile.TemporaryDirectory() as tmp:
        generate_virtual_patients(1, 1, 5, Path(tmp) / "vp", noise=True)
        cycle = next((Path(tmp) / "vp" / "patients").glob("*/cycle_01"))
        volumes = im.load_spect_ct(cycle)
        bench_fused(volumes, f"virtual patient {volumes.shape_zyx[::-1]}", args.repeat)
        planar = vw.planar_viewer(cycle)
        n_times = len(planar.study.time_h)
        timed("planar: time point (both views, ROIs, PNG)",
              lambda i: setattr(planar.time, "value", i % n_times), args.repeat)

        generate_demo_patients(Path(tmp) / "patients")
        result = run_patient_dosimetry(load_patient(Path(tmp) / "patients" / "P002"),
                                       load_parameters("P002"))
    whatif = vw.bed_whatif(result)
    limit = whatif.controls["step1_bed_limit_gy"]
    timed("BED what-if: step-1 limit (chain rerun, PNG)",
          lambda i: setattr(limit, "value", 25.0 + (i % 8)), args.repeat)
    tac = vw.tac_explorer(result)
    timed("TAC explorer: toggle a scan (chain rerun, PNG)",
          lambda i: setattr(tac.exclude, "value", () if i % 2 else (0,)), args.repeat)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()

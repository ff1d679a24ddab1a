"""Figures for the imaging notebooks (matplotlib; physical aspect ratio from the pixel spacing)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iluminet.imaging.calibration import SpectPhantomCalibration
from iluminet.imaging.dicom_study import PlanarScan
from iluminet.imaging.spect import RecoveryCurve

ROI_COLOURS = {1: "tab:red", 2: "tab:blue", 3: "tab:orange", 4: "tab:cyan"}
_MARK: dict[str, Any] = {"fontsize": 13, "fontweight": "bold", "color": "#b00000",
         "bbox": {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}}


def planar_side_labels(view_name: str, image_orientation: np.ndarray | None) -> tuple[str, str]:
    """(image left, image right) patient side of a planar view.

    From ``ImageOrientationPatient`` when present (its row direction's x component: columns run
    towards the patient's left, DICOM +x, when positive); otherwise by convention the anterior
    view is seen from the front (patient's right on the image left) and the posterior view from
    behind (patient's left on the image left)."""
    if image_orientation is not None and abs(float(image_orientation[0])) > 0.5:
        return ("R", "L") if float(image_orientation[0]) > 0 else ("L", "R")
    return ("L", "R") if view_name.startswith("post") else ("R", "L")


def mark_sides(ax: Axes, left: str, right: str, *, top: str = "", bottom: str = "") -> None:
    """Write patient-side letters at the image edges (axes coordinates)."""
    ax.text(0.02, 0.5, left, transform=ax.transAxes, ha="left", va="center", **_MARK)
    ax.text(0.98, 0.5, right, transform=ax.transAxes, ha="right", va="center", **_MARK)
    if top:
        ax.text(0.5, 0.98, top, transform=ax.transAxes, ha="center", va="top", **_MARK)
    if bottom:
        ax.text(0.5, 0.02, bottom, transform=ax.transAxes, ha="center", va="bottom", **_MARK)


def plot_planar_with_rois(scan: PlanarScan, rois: dict[str, np.ndarray], *,
                          rows: slice | None = None, title: str = "") -> Figure:
    """Anterior and posterior photopeak images (each in its stored orientation) with ROI contours
    (red/blue: left/right kidney; orange/cyan: their background ROIs), the patient's R/L sides
    and head/feet marked, a colour bar in √counts."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 6), constrained_layout=True)
    for ax, (name, view) in zip(axes, sorted(scan.views.items())):
        image = view.counts["peak"]
        roi = rois[name]
        if rows is None:
            found = np.nonzero(roi.any(axis=1))[0]
            lo, hi = (max(found[0] - 60, 0), min(found[-1] + 60, image.shape[0])) if found.size \
                else (0, image.shape[0])
            sel = slice(lo, hi)
        else:
            sel = rows
        d_row, d_col = view.pixel_mm
        extent = (0, image.shape[1] * d_col, (sel.stop - sel.start) * d_row, 0)
        shown = ax.imshow(np.sqrt(image[sel]), cmap="gray_r", extent=extent, aspect="equal",
                          interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.7, label="√(counts per pixel)")
        mark_sides(ax, *planar_side_labels(name, view.image_orientation), top="H", bottom="F")
        # contours at the pixel centres in the image's own coordinates (row 0 at the top, as
        # imshow draws it with this extent)
        x_mm = (np.arange(image.shape[1]) + 0.5) * d_col
        y_mm = (np.arange(sel.stop - sel.start) + 0.5) * d_row
        for lab, colour in ROI_COLOURS.items():
            mask = (roi[sel] == lab).astype(float)
            if mask.any():
                ax.contour(x_mm, y_mm, mask, levels=[0.5], colors=[colour], linewidths=0.8)
        ax.set_title(f"{name} view, {scan.acquired:%Y-%m-%d %H:%M}")
        ax.set_xlabel("mm")
        ax.set_ylabel("mm")
    if title:
        fig.suptitle(title)
    return fig


def plot_spect_ct_slice(spect: sitk.Image, ct: sitk.Image, voi: sitk.Image, *,
                        axis: str = "coronal", index: int | None = None, title: str = ""
                        ) -> Figure:
    """A CT slice with the SPECT overlaid and the VOI contours (labels 1, 2), through the VOI
    centre unless ``index`` is given; all three images on the SPECT grid. The patient's sides are
    marked (R/L; head/feet on a coronal slice, A/P on an axial one), with colour bars for the CT
    (HU) and the SPECT (reconstructed value)."""
    s = sitk.GetArrayFromImage(spect)
    c = sitk.GetArrayFromImage(sitk.Resample(ct, spect, sitk.Transform(), sitk.sitkLinear, -1000.0))
    v = sitk.GetArrayFromImage(voi)
    dx, dy, dz = spect.GetSpacing()
    zz, yy, _ = np.nonzero(v)
    if axis == "coronal":
        k = int(np.median(yy)) if index is None else index
        planes, aspect = (c[::-1, k, :], s[::-1, k, :], v[::-1, k, :]), dz / dx
    elif axis == "axial":
        k = int(np.median(zz)) if index is None else index
        planes, aspect = (c[k], s[k], v[k]), dy / dx
    else:
        raise ValueError("axis must be 'coronal' or 'axial'")
    fig, ax = plt.subplots(figsize=(7.5, 6), constrained_layout=True)
    ct_shown = ax.imshow(planes[0], cmap="gray", vmin=-300, vmax=300, aspect=aspect)
    spect_shown = ax.imshow(np.ma.masked_less_equal(planes[1], 0.05 * s.max()), cmap="hot",
                            alpha=0.5, aspect=aspect)
    fig.colorbar(spect_shown, ax=ax, shrink=0.6, label="SPECT (reconstructed value per voxel)")
    fig.colorbar(ct_shown, ax=ax, shrink=0.6, label="CT (HU)")
    for lab, colour in ((1, "tab:red"), (2, "tab:blue")):
        if (planes[2] == lab).any():
            ax.contour((planes[2] == lab).astype(float), levels=[0.5], colors=[colour],
                       linewidths=0.8)
    # Arrays index (z, y, x) in the SPECT's LPS grid (direction assumed axis-aligned, +x towards
    # the patient's left, +y posterior): x increases to the right of the drawn image.
    direction = np.array(spect.GetDirection(), dtype=np.float64).reshape(3, 3)
    left, right = ("R", "L") if direction[0, 0] >= 0 else ("L", "R")
    if axis == "coronal":
        head_up = direction[2, 2] >= 0  # rows were reversed: largest z (head) on top
        mark_sides(ax, left, right, top="H" if head_up else "F", bottom="F" if head_up else "H")
    else:
        front_up = direction[1, 1] >= 0  # row 0 = smallest y = anterior
        mark_sides(ax, left, right, top="A" if front_up else "P", bottom="P" if front_up else "A")
    ax.set_title(title or f"SPECT/CT {axis} slice {k}")
    ax.set_axis_off()
    return fig


def plot_recovery_curve(phantom: SpectPhantomCalibration) -> Figure:
    """Measured contrast recovery of the spheres and the fitted RC(volume) curve."""
    curve: RecoveryCurve = phantom.recovery
    vol = np.array([s["volume_ml"] for s in phantom.spheres])
    rc = np.array([s["contrast_recovery_coefficient"] for s in phantom.spheres])
    grid = np.geomspace(vol.min() * 0.5, max(vol.max(), 300.0) * 1.2, 60)
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(vol, rc, "o", label="spheres (measured)")
    ax.plot(grid, curve.predict(grid), "-", label=f"Gaussian FWHM {curve.fwhm_mm_:.1f} mm")
    ax.set_xscale("log")
    ax.set_xlabel("volume (ml)")
    ax.set_ylabel("contrast recovery coefficient")
    ax.set_ylim(0, 1.05)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig

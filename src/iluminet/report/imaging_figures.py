"""Figures for the imaging notebooks (matplotlib; physical aspect ratio from the pixel spacing)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
from matplotlib.figure import Figure

from iluminet.imaging.calibration import SpectPhantomCalibration
from iluminet.imaging.dicom_study import PlanarScan
from iluminet.imaging.spect import RecoveryCurve

ROI_COLOURS = {1: "tab:red", 2: "tab:blue", 3: "tab:orange", 4: "tab:cyan"}


def plot_planar_with_rois(scan: PlanarScan, rois: dict[str, np.ndarray], *,
                          rows: slice | None = None, title: str = "") -> Figure:
    """Anterior and posterior photopeak images (each in its stored orientation) with ROI contours
    (red/blue: left/right kidney; orange/cyan: their background ROIs)."""
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
        ax.imshow(np.sqrt(image[sel]), cmap="gray_r", extent=extent, aspect="equal",
                  interpolation="nearest")
        for lab, colour in ROI_COLOURS.items():
            mask = (roi[sel] == lab).astype(float)
            if mask.any():
                ax.contour(mask, levels=[0.5], colors=[colour], linewidths=0.8,
                           extent=(0, image.shape[1] * d_col, 0, (sel.stop - sel.start) * d_row),
                           origin="upper")
        ax.set_title(f"{name} ({scan.acquired:%Y-%m-%d %H:%M})")
        ax.set_xlabel("mm")
        ax.set_ylabel("mm")
    if title:
        fig.suptitle(title)
    return fig


def plot_spect_ct_slice(spect: sitk.Image, ct: sitk.Image, voi: sitk.Image, *,
                        axis: str = "coronal", index: int | None = None, title: str = ""
                        ) -> Figure:
    """A CT slice with the SPECT overlaid and the VOI contours (labels 1, 2), through the VOI
    centre unless ``index`` is given; all three images on the SPECT grid."""
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
    fig, ax = plt.subplots(figsize=(6, 6), constrained_layout=True)
    ax.imshow(planes[0], cmap="gray", vmin=-300, vmax=300, aspect=aspect)
    ax.imshow(np.ma.masked_less_equal(planes[1], 0.05 * s.max()), cmap="hot", alpha=0.5,
              aspect=aspect)
    for lab, colour in ((1, "tab:red"), (2, "tab:blue")):
        if (planes[2] == lab).any():
            ax.contour((planes[2] == lab).astype(float), levels=[0.5], colors=[colour],
                       linewidths=0.8)
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

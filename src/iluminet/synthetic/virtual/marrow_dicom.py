"""Red marrow in the virtual DICOM patients (option ``SimulationSettings.marrow``).

Off by default: the DICOM studies of earlier datasets are unchanged. When on, each cycle's
activity maps gain

* **red marrow in the spine** (the phantom's bone label, which stands for vertebrae with their
  marrow): a uniform concentration ``c_RM(t) = r · c_rem(t)``, with ``c_rem`` the soft-tissue
  (remainder) concentration of the organ kinetics — a blood-pool proxy — and ``r`` the patient's
  marrow-to-remainder ratio, log-normal around 2 (SD 10 %); the activity is taken from the
  remainder so the total is unchanged;
* **a skeletal lesion** (patients listed in ``SimulationSettings.marrow_lesion_patients``): a
  sphere of radius 10 mm in a lumbar vertebra at 25 × the marrow concentration, also taken from
  the remainder;

and the cycle folder a ``voi/marrow.nii.gz``: label 1 = the automatic lumbar VOI (bone label in a
±45 mm slab below the kidney centres, eroded one voxel in-plane —
:func:`iluminet.synthetic.virtual.marrow.spine_marrow_voi`), drawn on the CT, which does not show
the lesion. Truth (``truth.json`` → ``marrow``): the marrow activity of the un-eroded lumbar slab
at the SPECT time, its volume, ``r`` and whether a lesion was placed.

Not modelled: marrow outside the spine (pelvis, femora: outside the phantom's bone label), marrow
cellularity varying along the spine, a marrow-bound component.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from iluminet.synthetic.virtual.marrow import VOI_HALF_LENGTH_MM, spine_marrow_voi
from iluminet.synthetic.virtual.phantom import Ellipsoid, Phantom, Tissue

__all__ = ["MarrowSetup", "marrow_setup"]

LESION_RADIUS_MM = 10.0
LESION_TO_MARROW = 25.0
MARROW_TO_REMAINDER = 2.0


@dataclass(frozen=True)
class MarrowSetup:
    """Marrow compartments of one cycle: voxel weights, VOI and the concentration model."""

    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    voi_labels: np.ndarray  # uint8, 1 = automatic lumbar marrow VOI
    slab_volume_ml: float  # un-eroded bone of the lumbar slab (the reference-fraction volume)
    spine_volume_ml: float
    lesion_volume_ml: float
    ratio: float
    remainder_volume_ml: float

    def add_to(self, activities_mbq: dict[str, float]) -> dict[str, float]:
        """Activities with marrow (and lesion) moved out of the remainder."""
        out = dict(activities_mbq)
        c_rm = self.ratio * out["remainder"] / self.remainder_volume_ml
        marrow = c_rm * self.spine_volume_ml
        lesion = LESION_TO_MARROW * c_rm * self.lesion_volume_ml
        out["red_marrow_spine"] = marrow
        if self.lesion_volume_ml > 0:
            out["skeletal_lesion"] = lesion
        out["remainder"] = out["remainder"] - marrow - lesion
        return out

    def truth(self, activities_mbq: Callable[[float], dict[str, float]], spect_h: float,
              lesion: bool) -> dict[str, float | bool | str]:
        """Lumbar-slab marrow activity at the SPECT time (MBq) and the model's parameters."""
        c_rm = self.ratio * activities_mbq(spect_h)["remainder"] / self.remainder_volume_ml
        return {
            "lumbar_slab_marrow_activity_at_spect_mbq": c_rm * self.slab_volume_ml,
            "lumbar_slab_volume_ml": self.slab_volume_ml,
            "marrow_concentration_at_spect_mbq_per_ml": c_rm,
            "marrow_to_remainder_concentration": self.ratio,
            "skeletal_lesion": lesion,
            "voi": "voi/marrow.nii.gz (1 = automatic lumbar marrow VOI, lesion not drawn)",
        }


def marrow_setup(phantom: Phantom, remainder_idx: np.ndarray, rng: np.random.Generator, *,
                 lesion: bool) -> MarrowSetup:
    """Compartments and VOI of the marrow option for one patient (``rng``: its own stream)."""
    grid = phantom.grid
    labels = phantom.labels
    v_ml = float(np.prod(grid.spacing_mm)) / 1000.0
    spine = labels == Tissue.BONE
    kidneys = np.isin(labels, [Tissue.KIDNEY_LEFT_CORTEX, Tissue.KIDNEY_LEFT_MEDULLA,
                               Tissue.KIDNEY_RIGHT_CORTEX, Tissue.KIDNEY_RIGHT_MEDULLA])
    z_axis = grid.axes_mm()[2]
    z_voi = float(np.mean(z_axis[np.nonzero(kidneys.any(axis=(1, 2)))[0]])) - 20.0
    slab = spine & (np.abs(z_axis - z_voi) <= VOI_HALF_LENGTH_MM)[:, None, None]
    ratio = MARROW_TO_REMAINDER * math.exp(0.10 * rng.standard_normal())
    lesion_mask = np.zeros(labels.shape, dtype=bool)
    if lesion:
        x, y, z = grid.mesh_mm()
        cx = float(np.mean(np.broadcast_to(x, labels.shape)[slab]))
        cy = float(np.mean(np.broadcast_to(y, labels.shape)[slab]))
        centre = (cx, cy, z_voi + float(rng.uniform(-20.0, 20.0)))
        r = LESION_RADIUS_MM
        lesion_mask = Ellipsoid(centre, (r, r, r)).contains(x, y, z) & spine
    marrow_mask = spine & ~lesion_mask
    weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, mask in (("red_marrow_spine", marrow_mask), ("skeletal_lesion", lesion_mask)):
        idx = np.nonzero(mask.ravel())[0]
        if idx.size:
            weights[name] = (idx, np.full(idx.size, 1.0 / idx.size))
    voi = spine_marrow_voi(labels, grid, z_voi).astype(np.uint8)
    return MarrowSetup(weights, voi, float(slab.sum()) * v_ml, float(marrow_mask.sum()) * v_ml,
                       float(lesion_mask.sum()) * v_ml, ratio, float(remainder_idx.size) * v_ml)

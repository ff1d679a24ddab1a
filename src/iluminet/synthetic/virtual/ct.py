"""CT numbers and the 208 keV attenuation map of a labelled phantom.

CT numbers (HU) are typical values for a 120 kVp scan; Gaussian noise (σ in HU) is added per voxel.

The attenuation map at 208 keV is μ = (μ/ρ) · ρ per tissue, with the mass attenuation coefficient
(μ/ρ, cm²/g, narrow beam, coherent scattering included) log-log interpolated between 200 and 300 keV
in the NIST XCOM / Hubbell–Seltzer tables (water 0.1370 → 0.1186 gives 0.1350 cm²/g; values for
ICRU-44 soft tissue and cortical bone are approximate, about ±1 %). Water therefore has
μ ≈ 0.135 /cm (docs/references.md, "Imaging": XCOM).
"""

from __future__ import annotations

import numpy as np

from iluminet.synthetic.virtual.phantom import DENSITY_G_PER_ML, Phantom, Tissue, tissue_of

#: Mass attenuation coefficient at 208 keV (cm²/g), see the module docstring.
MASS_ATTENUATION_208KEV_CM2_G: dict[str, float] = {
    "water": 0.1350,
    "soft_tissue": 0.1338,
    "lung": 0.1340,
    "bone": 0.1289,
    "air": 0.1230,
}

#: Water's linear attenuation coefficient at 208 keV (1/cm, ρ = 1 g/ml).
MU_WATER_208KEV_PER_CM = MASS_ATTENUATION_208KEV_CM2_G["water"]

#: Typical CT numbers (HU) at 120 kVp per tissue.
HU: dict[Tissue, float] = {
    Tissue.AIR: -1000.0,
    Tissue.SOFT_TISSUE: -20.0,  # muscle and fat mixed at 4.8 mm
    Tissue.LUNG: -750.0,
    Tissue.LIVER: 60.0,
    Tissue.SPLEEN: 50.0,
    Tissue.KIDNEY_LEFT_CORTEX: 40.0,
    Tissue.KIDNEY_LEFT_MEDULLA: 30.0,
    Tissue.KIDNEY_RIGHT_CORTEX: 40.0,
    Tissue.KIDNEY_RIGHT_MEDULLA: 30.0,
    Tissue.BLADDER: 5.0,
    Tissue.BONE: 650.0,
    Tissue.TUMOUR: 45.0,
}


def _mass_attenuation(tissue: Tissue) -> float:
    if tissue == Tissue.AIR:
        return MASS_ATTENUATION_208KEV_CM2_G["air"]
    if tissue == Tissue.LUNG:
        return MASS_ATTENUATION_208KEV_CM2_G["lung"]
    if tissue == Tissue.BONE:
        return MASS_ATTENUATION_208KEV_CM2_G["bone"]
    if tissue == Tissue.BLADDER:
        return MASS_ATTENUATION_208KEV_CM2_G["water"]
    return MASS_ATTENUATION_208KEV_CM2_G["soft_tissue"]


def mu_of_tissue_per_cm(tissue: Tissue) -> float:
    """Linear attenuation coefficient at 208 keV (1/cm) of a tissue: (μ/ρ) · ρ."""
    return _mass_attenuation(tissue) * DENSITY_G_PER_ML[tissue]


def mu_map_208kev_per_cm(labels: np.ndarray) -> np.ndarray:
    """Noise-free μ map at 208 keV (1/cm, float32) of a label map."""
    lut = np.array(
        [mu_of_tissue_per_cm(tissue_of(label)) for label in range(int(labels.max()) + 1)],
        dtype=np.float32,
    )
    return lut[labels]


def hu_map(
    labels: np.ndarray, rng: np.random.Generator | None = None, noise_hu: float = 12.0
) -> np.ndarray:
    """CT numbers (HU, int16) of a label map with Gaussian noise of σ = ``noise_hu``.

    Without ``rng`` (or with ``noise_hu = 0``) the image is noise-free. Values are clipped to
    [−1024, 3071], the usual 12-bit CT range.
    """
    lut = np.array([HU[tissue_of(label)] for label in range(int(labels.max()) + 1)])
    hu = lut[labels].astype(np.float64)
    if rng is not None and noise_hu > 0:
        hu += rng.normal(0.0, noise_hu, size=hu.shape)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def phantom_ct(
    phantom: Phantom, rng: np.random.Generator | None = None, noise_hu: float = 12.0
) -> tuple[np.ndarray, np.ndarray]:
    """(HU image, μ map at 208 keV in 1/cm) of a phantom; the μ map is noise-free."""
    return hu_map(phantom.labels, rng, noise_hu), mu_map_208kev_per_cm(phantom.labels)

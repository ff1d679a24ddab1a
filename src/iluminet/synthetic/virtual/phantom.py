"""Voxel phantoms built from ellipsoids: the anatomy of a virtual patient.

Coordinates are DICOM patient coordinates (LPS, millimetres): +x towards the patient's left, +y
towards the posterior, +z towards the head. Arrays are indexed ``[k, j, i]`` = ``[z, y, x]``; voxel
``[0, 0, 0]`` is the most right, anterior, inferior voxel and its centre lies at ``origin_mm``. The
direction cosines are the identity, so the CT written from a phantom has
ImageOrientationPatient = ``1\\0\\0\\0\\1\\0`` and slices ordered from feet to head.

A voxel belongs to a structure when its centre lies inside the structure's ellipsoid (no partial
volume); organ masses are therefore those of the voxelised organs (voxel count × voxel volume ×
density), which is what a CT-based VOI measures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from iluminet.errors import InputError


class Tissue(IntEnum):
    """Labels of the phantom's label map (one tissue per voxel)."""

    AIR = 0
    SOFT_TISSUE = 1
    LUNG = 2
    LIVER = 3
    SPLEEN = 4
    KIDNEY_LEFT_CORTEX = 5
    KIDNEY_LEFT_MEDULLA = 6
    KIDNEY_RIGHT_CORTEX = 7
    KIDNEY_RIGHT_MEDULLA = 8
    BLADDER = 9
    BONE = 10
    TUMOUR = 11  # the first tumour; tumour n has label TUMOUR + n - 1


#: Mass density (g/ml) per tissue. ICRP Publication 89 reference values, rounded; the spine is a
#: homogeneous mixture of cortical and trabecular bone and marrow at 4.8 mm resolution.
DENSITY_G_PER_ML: dict[Tissue, float] = {
    Tissue.AIR: 0.0012,
    Tissue.SOFT_TISSUE: 1.00,  # muscle (1.05) and fat (0.92) mixed
    Tissue.LUNG: 0.26,
    Tissue.LIVER: 1.06,
    Tissue.SPLEEN: 1.06,
    Tissue.KIDNEY_LEFT_CORTEX: 1.05,
    Tissue.KIDNEY_LEFT_MEDULLA: 1.05,
    Tissue.KIDNEY_RIGHT_CORTEX: 1.05,
    Tissue.KIDNEY_RIGHT_MEDULLA: 1.05,
    Tissue.BLADDER: 1.01,
    Tissue.BONE: 1.40,
    Tissue.TUMOUR: 1.04,
}

KIDNEY_DENSITY_G_PER_ML = 1.05
#: Kidney mass range used when sampling a patient (g per kidney).
KIDNEY_MASS_RANGE_G = (120.0, 200.0)
#: Medulla semi-axes as a fraction of the whole-kidney semi-axes (medulla ≈ 0.6³ ≈ 22 % of volume).
MEDULLA_SCALE = 0.6
#: Liver semi-axes (x, y, z) in mm before the patient's liver scale.
LIVER_SEMI_AXES_MM = (85.0, 68.0, 62.0)


def _xyz(values: Iterable[float]) -> tuple[float, float, float]:
    """Three coordinates as a typed triple (ValueError unless exactly three)."""
    x, y, z = (float(v) for v in values)
    return (x, y, z)


def tissue_of(label: int) -> Tissue:
    """The tissue type of a label (every tumour label maps to ``Tissue.TUMOUR``)."""
    return Tissue.TUMOUR if label >= Tissue.TUMOUR else Tissue(label)


def density_of(label: int) -> float:
    """Mass density (g/ml) of the tissue with this label."""
    return DENSITY_G_PER_ML[tissue_of(label)]


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid: centre (x, y, z) and semi-axes (a_x, a_y, a_z), both in mm.

    A point p lies inside when Σ ((p_d − c_d) / a_d)² ≤ 1. A very long semi-axis turns it into an
    elliptic cylinder (used for the trunk and the spine).
    """

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]

    def __post_init__(self) -> None:
        if any(not np.isfinite(a) or a <= 0 for a in self.semi_axes_mm):
            raise InputError(
                f"ellipsoid semi-axes must be positive, got {self.semi_axes_mm}",
                source="phantom",
                field="semi_axes_mm",
            )

    @property
    def volume_ml(self) -> float:
        """Analytic volume 4/3·π·a·b·c, in ml (1 ml = 1000 mm³)."""
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * np.pi * a * b * c / 1000.0

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Boolean mask of the points (broadcast arrays, mm) inside the ellipsoid."""
        (cx, cy, cz), (ax, ay, az) = self.centre_mm, self.semi_axes_mm
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 <= 1.0

    def scaled(self, factor: float) -> Ellipsoid:
        """The same centre with every semi-axis multiplied by ``factor``."""
        return Ellipsoid(self.centre_mm, tuple(a * factor for a in self.semi_axes_mm))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Grid:
    """A voxel grid: shape (nz, ny, nx), isotropic-or-not spacing (dx, dy, dz) and origin (mm, LPS).

    ``origin_mm`` is the centre of voxel [0, 0, 0]; the direction cosines are the identity.
    """

    shape_zyx: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    @classmethod
    def centred(
        cls, shape_zyx: tuple[int, int, int], spacing_mm: float | tuple[float, float, float]
    ) -> Grid:
        """A grid whose centre lies at the origin of patient coordinates."""
        if any(int(n) < 1 for n in shape_zyx):
            raise InputError(
                f"grid shape must be positive, got {shape_zyx}",
                source="phantom grid",
                field="shape_zyx",
            )
        sp = _xyz((spacing_mm,) * 3) if isinstance(spacing_mm, int | float) else _xyz(spacing_mm)
        if any(s <= 0 for s in sp):
            raise InputError(
                f"voxel spacing must be positive, got {sp}",
                source="phantom grid",
                field="spacing_mm",
            )
        nz, ny, nx = (int(n) for n in shape_zyx)
        origin = _xyz(-(n - 1) / 2.0 * s for n, s in zip((nx, ny, nz), sp))
        return cls((nz, ny, nx), sp, origin)

    @property
    def voxel_volume_ml(self) -> float:
        dx, dy, dz = self.spacing_mm
        return dx * dy * dz / 1000.0

    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates along x, y and z (1-D arrays, mm)."""
        nz, ny, nx = self.shape_zyx
        return tuple(
            o + s * np.arange(n)
            for o, s, n in zip(self.origin_mm, self.spacing_mm, (nx, ny, nz))  # type: ignore[return-value]
        )

    def mesh_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable x, y, z coordinate arrays of shapes (1,1,nx), (1,ny,1), (nz,1,1)."""
        x, y, z = self.axes_mm()
        return x[None, None, :], y[None, :, None], z[:, None, None]

    def as_dict(self) -> dict:
        return {
            "shape_zyx": list(self.shape_zyx),
            "spacing_xyz_mm": list(self.spacing_mm),
            "origin_xyz_mm": list(self.origin_mm),
            "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1],
            "coordinates": "DICOM patient (LPS): +x left, +y posterior, +z head; "
            "origin = centre of voxel [0,0,0]; arrays indexed [z, y, x]",
        }


@dataclass
class Phantom:
    """A labelled voxel phantom.

    Attributes
    ----------
    grid
        The voxel grid.
    labels
        ``uint8`` array (nz, ny, nx) of :class:`Tissue` labels; tumour n has label 10 + n.
    structures
        Name → label(s) of each named structure (``"kidney_left"`` → cortex and medulla labels).
    tumour_names
        Names of the tumours in label order (``"tumour_1"`` has label ``Tissue.TUMOUR``).
    nominal
        Name → the analytic ellipsoid each structure was drawn from (before voxelisation).
    """

    grid: Grid
    labels: np.ndarray
    structures: dict[str, tuple[int, ...]] = field(default_factory=dict)
    tumour_names: list[str] = field(default_factory=list)
    nominal: dict[str, Ellipsoid] = field(default_factory=dict)

    def mask(self, name: str) -> np.ndarray:
        """Boolean mask of a named structure."""
        if name not in self.structures:
            raise InputError(
                f"unknown structure {name!r}; known: {sorted(self.structures)}",
                source="phantom",
                field="structure",
            )
        return np.isin(self.labels, self.structures[name])

    def volume_ml(self, name: str) -> float:
        """Voxelised volume of a structure (ml)."""
        return float(self.mask(name).sum()) * self.grid.voxel_volume_ml

    def mass_g(self, name: str) -> float:
        """Voxelised mass of a structure: Σ voxel volume × tissue density (g)."""
        total = 0.0
        for label in self.structures[name]:
            total += (
                float((self.labels == label).sum()) * self.grid.voxel_volume_ml * density_of(label)
            )
        return total

    def density_map_g_per_ml(self) -> np.ndarray:
        """Mass density per voxel (g/ml)."""
        lut = np.array([density_of(label) for label in range(int(self.labels.max()) + 1)])
        return lut[self.labels]


def _paint(
    labels: np.ndarray, grid: Grid, shape: Ellipsoid, label: int, within: np.ndarray | None = None
) -> np.ndarray:
    """Set ``label`` on the voxels whose centre is inside ``shape`` (and inside ``within``)."""
    x, y, z = grid.mesh_mm()
    inside = shape.contains(x, y, z)
    if within is not None:
        inside &= within
    labels[inside] = label
    return inside


@dataclass(frozen=True)
class AnatomyParameters:
    """Patient-specific anatomy drawn from a seed (lengths in mm, masses in g).

    ``body_scale`` scales the trunk cross-section and organ positions in x and y; ``height_scale``
    scales cranio-caudal positions; organ sizes are drawn separately so masses vary independently.
    """

    body_scale: float
    height_scale: float
    kidney_mass_left_g: float
    kidney_mass_right_g: float
    kidney_depth_mm: float
    liver_scale: float
    spleen_scale: float
    bladder_scale: float
    tumour_radii_mm: tuple[float, ...]
    tumour_offsets: tuple[tuple[float, float, float], ...]
    mesenteric_radius_mm: float

    @classmethod
    def sample(cls, rng: np.random.Generator, n_liver_tumours: int = 2) -> AnatomyParameters:
        """Draw a realistic adult anatomy (kidney masses uniform in 120–200 g, independent sides
        within ±15 % of each other)."""
        lo, hi = KIDNEY_MASS_RANGE_G
        liver_scale = float(rng.uniform(0.9, 1.08))
        radii = tuple(float(r) for r in rng.uniform(9.0, 20.0, n_liver_tumours))
        offsets = _separated_offsets(rng, radii, tuple(a * liver_scale for a in LIVER_SEMI_AXES_MM))
        # Analytic masses 2–4 % inside the range so the voxelised masses stay within it.
        left = float(rng.uniform(lo + 5.0, hi - 7.0))
        right = float(np.clip(left * rng.uniform(0.88, 1.12), lo + 2.0, hi - 4.0))
        return cls(
            body_scale=float(rng.uniform(0.88, 1.12)),
            height_scale=float(rng.uniform(0.94, 1.06)),
            kidney_mass_left_g=left,
            kidney_mass_right_g=right,
            kidney_depth_mm=float(rng.uniform(50.0, 70.0)),
            liver_scale=liver_scale,
            spleen_scale=float(rng.uniform(0.85, 1.15)),
            bladder_scale=float(rng.uniform(0.8, 1.2)),
            tumour_radii_mm=radii,
            tumour_offsets=offsets,
            mesenteric_radius_mm=float(rng.uniform(18.0, 28.0)),
        )


def _separated_offsets(
    rng: np.random.Generator, radii: tuple[float, ...], liver_axes_mm: tuple[float, ...]
) -> tuple[tuple[float, float, float], ...]:
    """Tumour centres as fractions (±0.45) of the liver semi-axes, drawn so that no two tumours
    overlap (rejection sampling)."""
    axes = np.asarray(liver_axes_mm)
    for _ in range(1000):
        offsets = rng.uniform(-0.45, 0.45, (len(radii), 3))
        centres = offsets * axes
        ok = all(
            np.linalg.norm(centres[a] - centres[b]) > radii[a] + radii[b] + 2.0
            for a in range(len(radii))
            for b in range(a)
        )
        if ok:
            return tuple(tuple(float(v) for v in row) for row in offsets)  # type: ignore[misc]
    raise InputError(
        "could not place non-overlapping liver tumours", source="phantom", field="tumour_radii_mm"
    )


def _kidney_ellipsoid(centre: tuple[float, float, float], mass_g: float) -> Ellipsoid:
    """Kidney-shaped ellipsoid (x:y:z semi-axes 30:24:55 mm) scaled to the analytic mass."""
    base = Ellipsoid(centre, (30.0, 24.0, 55.0))
    target_ml = mass_g / KIDNEY_DENSITY_G_PER_ML
    return base.scaled((target_ml / base.volume_ml) ** (1.0 / 3.0))


def build_phantom(anatomy: AnatomyParameters, grid: Grid | None = None) -> Phantom:
    """Voxelise an anatomy on a grid (default: 128 × 128 × 100 voxels of 4.8 mm, 61 × 61 × 48 cm).

    The trunk spans the whole grid in z (pelvis at the bottom, upper thorax at the top). Structures
    are painted in order, later ones overriding earlier ones: trunk (soft tissue), lungs, spine,
    liver, spleen, kidneys (cortex, then medulla), bladder, liver metastases (inside the liver
    only), mesenteric mass.
    """
    grid = grid or Grid.centred((100, 128, 128), 4.8)
    s, h = anatomy.body_scale, anatomy.height_scale
    labels = np.zeros(grid.shape_zyx, dtype=np.uint8)
    nominal: dict[str, Ellipsoid] = {}

    def put(
        name: str, shape: Ellipsoid, label: int, within: np.ndarray | None = None
    ) -> np.ndarray:
        nominal[name] = shape
        return _paint(labels, grid, shape, label, within)

    body_ax, body_ay = 165.0 * s, 110.0 * s
    body = put("body", Ellipsoid((0.0, 0.0, 0.0), (body_ax, body_ay, 5000.0)), Tissue.SOFT_TISSUE)
    put(
        "lung_left",
        Ellipsoid((80.0 * s, 5.0 * s, 180.0 * h), (58.0 * s, 72.0 * s, 105.0 * h)),
        Tissue.LUNG,
        body,
    )
    put(
        "lung_right",
        Ellipsoid((-80.0 * s, 5.0 * s, 180.0 * h), (62.0 * s, 72.0 * s, 105.0 * h)),
        Tissue.LUNG,
        body,
    )
    put("spine", Ellipsoid((0.0, body_ay - 35.0 * s, 0.0), (17.0, 17.0, 5000.0)), Tissue.BONE, body)
    put(
        "liver",
        Ellipsoid(
            (-62.0 * s, -5.0 * s, 70.0 * h),
            _xyz(v * anatomy.liver_scale for v in LIVER_SEMI_AXES_MM),
        ),
        Tissue.LIVER,
        body,
    )
    put(
        "spleen",
        Ellipsoid(
            (92.0 * s, 35.0 * s, 75.0 * h),
            _xyz(v * anatomy.spleen_scale for v in (28.0, 38.0, 45.0)),
        ),
        Tissue.SPLEEN,
        body,
    )
    kidney_y = body_ay - anatomy.kidney_depth_mm
    for side, x_sign, z_c, mass, cortex, medulla in (
        (
            "left",
            +1.0,
            15.0,
            anatomy.kidney_mass_left_g,
            Tissue.KIDNEY_LEFT_CORTEX,
            Tissue.KIDNEY_LEFT_MEDULLA,
        ),
        (
            "right",
            -1.0,
            0.0,
            anatomy.kidney_mass_right_g,
            Tissue.KIDNEY_RIGHT_CORTEX,
            Tissue.KIDNEY_RIGHT_MEDULLA,
        ),
    ):
        kidney = _kidney_ellipsoid((x_sign * 68.0 * s, kidney_y, z_c * h), mass)
        put(f"kidney_{side}", kidney, cortex, body)
        put(f"kidney_{side}_medulla", kidney.scaled(MEDULLA_SCALE), medulla, body)
    put(
        "bladder",
        Ellipsoid(
            (0.0, -25.0 * s, -185.0 * h),
            _xyz(v * anatomy.bladder_scale for v in (42.0, 35.0, 35.0)),
        ),
        Tissue.BLADDER,
        body,
    )

    tumour_names: list[str] = []
    structures: dict[str, tuple[int, ...]] = {}
    liver_shape = nominal["liver"]
    # liver metastases replace liver tissue only: where the liver's ellipsoid reaches into a
    # kidney (painted later), the kidney stays whole
    liver_tissue = labels == Tissue.LIVER
    label = int(Tissue.TUMOUR)
    for n, (radius, offset) in enumerate(zip(anatomy.tumour_radii_mm, anatomy.tumour_offsets), 1):
        centre = _xyz(
            c + o * a for c, o, a in zip(liver_shape.centre_mm, offset, liver_shape.semi_axes_mm)
        )
        name = f"tumour_{n}"
        put(name, Ellipsoid(centre, (radius, radius, radius)), label, liver_tissue)
        tumour_names.append(name)
        structures[name] = (label,)
        label += 1
    name = f"tumour_{len(tumour_names) + 1}"
    r = anatomy.mesenteric_radius_mm
    put(name, Ellipsoid((15.0 * s, -45.0 * s, -70.0 * h), (r, r * 0.8, r)), label, body)
    tumour_names.append(name)
    structures[name] = (label,)

    structures.update(
        {
            "body": tuple(range(1, label + 1)),
            "soft_tissue": (Tissue.SOFT_TISSUE,),
            "lungs": (Tissue.LUNG,),
            "liver": (Tissue.LIVER,),
            "spleen": (Tissue.SPLEEN,),
            "kidney_left": (Tissue.KIDNEY_LEFT_CORTEX, Tissue.KIDNEY_LEFT_MEDULLA),
            "kidney_right": (Tissue.KIDNEY_RIGHT_CORTEX, Tissue.KIDNEY_RIGHT_MEDULLA),
            "kidney_left_cortex": (Tissue.KIDNEY_LEFT_CORTEX,),
            "kidney_right_cortex": (Tissue.KIDNEY_RIGHT_CORTEX,),
            "bladder": (Tissue.BLADDER,),
            "bone": (Tissue.BONE,),
        }
    )
    structures = {k: tuple(int(v) for v in vals) for k, vals in structures.items()}
    phantom = Phantom(
        grid=grid, labels=labels, structures=structures, tumour_names=tumour_names, nominal=nominal
    )
    for name in ("liver", "spleen", "kidney_left", "kidney_right", "bladder", *tumour_names):
        if not phantom.mask(name).any():
            raise InputError(
                f"structure {name!r} has no voxel on a grid of shape {grid.shape_zyx} "
                f"and spacing {grid.spacing_mm} mm; use a finer or larger grid",
                source="phantom",
                field="grid",
            )
    return phantom


def organ_label_names(phantom: Phantom) -> dict[int, str]:
    """Label → readable name, for the legend written next to the label map."""
    names = {int(t): t.name.lower() for t in Tissue if t < Tissue.TUMOUR}
    for n, name in enumerate(phantom.tumour_names):
        names[int(Tissue.TUMOUR) + n] = name
    return names

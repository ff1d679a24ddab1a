"""Virtual patients: phantom + kinetics + cameras → DICOM studies, VOIs and ground truth on disk.

Layout written under ``out_dir`` (see ``data/README.md``)::

    virtual_patients.json            manifest (marks the folder as a generated dataset)
    calibration/
      planar_sensitivity/            dicom/ (static NM, anterior + posterior), truth.json
      spect_phantom/                 dicom/ (CT + NM RECON TOMO), voi/spheres.nii.gz, truth.json
    patients/<patient_id>/
      patient.yaml, cycles.csv
      cycle_NN/
        dicom/wb_001h/, wb_024h/, ...  planar whole body (one NM file per view, 3 energy windows)
        dicom/spect_ct_024h/           SPECT (NM RECON TOMO) and CT (one file per slice)
        voi/kidneys.nii.gz             1 = left kidney, 2 = right kidney (CT/SPECT grid)
        voi/organs.nii.gz + organs.json full label map and its legend
        voi/planar_rois_anterior.nii.gz, voi/planar_rois_posterior.nii.gz
                                       1/2 = left/right kidney, 3/4 = left/right background
        voi/marrow.nii.gz              only with ``SimulationSettings(marrow=True)``: 1 = lumbar
                                       marrow VOI (:mod:`~iluminet.synthetic.virtual.marrow_dicom`)
        truth.json

Everything is deterministic in ``seed``: patient p uses ``numpy.random.default_rng([seed, p])``
for anatomy and traits, and ``[seed, p, cycle]`` for the cycle's kinetics, times and noise.

Kidney absorbed dose in the truth uses the electron-only local-deposition model:
S = E_e · 3.6·10⁹ / m (Gy per MBq·h), E_e = 147.92 keV per decay (ICRP-107, ``LU177``), m the
voxelised kidney mass (kg); D = Ã(0→∞) · S.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import SimpleITK as sitk
import yaml
from scipy import ndimage

from iluminet.errors import InputError
from iluminet.nuclide import LU177
from iluminet.synthetic.virtual import dicom_io
from iluminet.synthetic.virtual.calibration_sources import (
    planar_source_in_air,
    spect_phantom,
    spect_phantom_truth,
)
from iluminet.synthetic.virtual.ct import phantom_ct
from iluminet.synthetic.virtual.dicom_io import Administration, PatientInfo, SeriesInfo, uid_from
from iluminet.synthetic.virtual.marrow_dicom import marrow_setup
from iluminet.synthetic.virtual.organ_kinetics import (
    CycleKinetics,
    KidneyModel,
    PatientKinetics,
    cycle_kinetics,
)
from iluminet.synthetic.virtual.phantom import (
    AnatomyParameters,
    Grid,
    Phantom,
    Tissue,
    build_phantom,
    organ_label_names,
)
from iluminet.synthetic.virtual.planar import PHOTOPEAK, VIEWS, PlanarCamera, PlanarProjector
from iluminet.synthetic.virtual.spect import SpectCamera, reconstructed_counts

MANIFEST = "virtual_patients.json"
DATASET_ENTRIES = {MANIFEST, "patients", "calibration"}
GENERATOR = "iluminet.synthetic.virtual"
FORMAT_VERSION = 1
TIMEZONE = "Europe/Stockholm"
PLANAR_TIMES_H: tuple[float, ...] = (1.0, 24.0, 96.0, 168.0)
SPECT_TIME_H = 24.0
#: Scan-time jitter (± h, uniform) around the nominal time after administration.
TIME_JITTER_H = {1.0: 0.5, 24.0: 2.0, 48.0: 2.0, 96.0: 3.0, 168.0: 4.0}
#: Relative activity of kidney medulla to cortex per unit volume (cortical uptake of the peptide).
MEDULLA_TO_CORTEX = 0.6
DEFAULT_ACTIVITY_MBQ = 7400.0
VIEW_FILE = {"anterior": "ANT", "posterior": "POST"}
KIDNEY_DOSE_MODEL = (
    "electron-only local deposition: S = E_e * 3.6e9 / m Gy/(MBq h), "
    "E_e = 147.92 keV/decay (ICRP-107 Lu-177: beta 133.27 + IC 13.52 + Auger 1.13), "
    "m = voxelised kidney mass; D = TIA(0->inf) * S"
)


def kidney_s_value_gy_per_mbq_h(mass_g: float) -> float:
    """Electron-only kidney self-S value S = E_e · 3.6·10⁹ / m (Gy per MBq·h), m in g."""
    if not (np.isfinite(mass_g) and mass_g > 0):
        raise InputError(
            f"kidney mass must be > 0 g, got {mass_g}", source="kidney dose", field="mass_g"
        )
    return LU177.electron_energy_j * 3.6e9 / (mass_g / 1000.0)


@dataclass(frozen=True)
class SimulationSettings:
    """Cameras, grid, schedule and cohort-level settings of a generated dataset."""

    grid: Grid = field(default_factory=lambda: Grid.centred((100, 128, 128), 4.8))
    planar: PlanarCamera = field(default_factory=PlanarCamera)
    spect: SpectCamera = field(default_factory=SpectCamera)
    planar_times_h: tuple[float, ...] = PLANAR_TIMES_H
    spect_time_h: float = SPECT_TIME_H
    nominal_activity_mbq: float = DEFAULT_ACTIVITY_MBQ
    kidney_model: KidneyModel = "monoexponential"
    ct_noise_hu: float = 12.0
    timezone: str = TIMEZONE
    #: red marrow in the spine, ``voi/marrow.nii.gz`` and marrow truth
    #: (:mod:`iluminet.synthetic.virtual.marrow_dicom`); off: studies as before
    marrow: bool = False
    #: patient indices (0-based) given a lumbar skeletal lesion when ``marrow`` is on
    marrow_lesion_patients: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not (np.isfinite(self.nominal_activity_mbq) and self.nominal_activity_mbq > 0):
            raise InputError(
                f"activity must be > 0 MBq, got {self.nominal_activity_mbq}",
                source="generate_virtual_patients",
                field="activity_mbq",
            )
        if not self.planar_times_h or any(t <= 0 for t in self.planar_times_h):
            raise InputError(
                "planar scan times must be > 0 h",
                source="generate_virtual_patients",
                field="planar_times_h",
            )
        if self.spect_time_h <= 0:
            raise InputError(
                "SPECT time must be > 0 h", source="generate_virtual_patients", field="spect_time_h"
            )


# -- compartments ----------------------------------------------------------------------------------
def compartment_weights(phantom: Phantom) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Compartment → (flat voxel indices, weights summing to 1) for distributing its activity.

    Uniform per volume, except the kidneys: medulla voxels get ``MEDULLA_TO_CORTEX`` of the cortex
    concentration. ``remainder`` is the soft tissue (blood, muscle, fat) outside named organs.
    """
    flat = phantom.labels.ravel()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for side, cortex, medulla in (
        ("left", Tissue.KIDNEY_LEFT_CORTEX, Tissue.KIDNEY_LEFT_MEDULLA),
        ("right", Tissue.KIDNEY_RIGHT_CORTEX, Tissue.KIDNEY_RIGHT_MEDULLA),
    ):
        idx = np.nonzero((flat == cortex) | (flat == medulla))[0]
        w = np.where(flat[idx] == medulla, MEDULLA_TO_CORTEX, 1.0)
        out[f"kidney_{side}"] = (idx, w / w.sum())
    named: dict[str, tuple[int, ...]] = {
        "liver": (Tissue.LIVER,),
        "spleen": (Tissue.SPLEEN,),
        "bladder": (Tissue.BLADDER,),
        "remainder": (Tissue.SOFT_TISSUE,),
    }
    named.update({name: phantom.structures[name] for name in phantom.tumour_names})
    for name, labels in named.items():
        idx = np.nonzero(np.isin(flat, labels))[0]
        if idx.size == 0:
            raise InputError(f"compartment {name!r} has no voxel", source="phantom", field=name)
        out[name] = (idx, np.full(idx.size, 1.0 / idx.size))
    return out


def activity_map_mbq(
    weights: dict[str, tuple[np.ndarray, np.ndarray]],
    activities_mbq: dict[str, float],
    shape: tuple[int, int, int],
) -> np.ndarray:
    """Voxel activity (MBq) from compartment activities and their voxel weights."""
    act = np.zeros(int(np.prod(shape)))
    for name, value in activities_mbq.items():
        if value < 0:
            raise InputError(
                f"activity of {name} must be ≥ 0 MBq", source="activity map", field=name
            )
        idx, w = weights[name]
        act[idx] += value * w
    return act.reshape(shape)


# -- planar ROIs -----------------------------------------------------------------------------------
def planar_rois(phantom: Phantom, projector: PlanarProjector) -> np.ndarray:
    """Kidney and background ROIs (uint8 label image on the view's planar matrix).

    Kidney ROI = kidney silhouette (projection along y) dilated by one pixel. Background ROI = a
    band two pixels wide outside it, excluding the silhouettes of the other hot structures (liver,
    spleen, bladder, tumours, the other kidney); if nothing is left, the band without exclusions.
    """
    sil = {
        name: phantom.mask(name).any(axis=1)
        for name in (
            "kidney_left",
            "kidney_right",
            "liver",
            "spleen",
            "bladder",
            *phantom.tumour_names,
        )
    }
    roi = {
        name: ndimage.binary_dilation(np.asarray(sil[name]), iterations=1)
        for name in ("kidney_left", "kidney_right")
    }
    hot = np.zeros_like(sil["liver"])
    for name in ("liver", "spleen", "bladder", *phantom.tumour_names):
        hot |= sil[name]
    labels = np.zeros(sil["liver"].shape, dtype=np.uint8)
    for value, side in ((1, "left"), (2, "right")):
        labels[roi[f"kidney_{side}"]] = value
    all_kidneys = roi["kidney_left"] | roi["kidney_right"]
    for value, side in ((3, "left"), (4, "right")):
        ring = ndimage.binary_dilation(
            roi[f"kidney_{side}"], iterations=3
        ) & ~ndimage.binary_dilation(roi[f"kidney_{side}"], iterations=1)
        band = ring & ~all_kidneys & ~hot
        if not band.any():
            band = ring & ~all_kidneys
        labels[band & (labels == 0)] = value
    return np.rint(projector.footprint_to_matrix(labels.astype(float))).astype(np.uint8)


# -- writing helpers -------------------------------------------------------------------------------
def _write_label_map(path: Path, labels: np.ndarray, grid: Grid) -> Path:
    """A NIfTI label map on the CT/SPECT grid (SimpleITK: origin, spacing, identity direction)."""
    image = sitk.GetImageFromArray(labels.astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in grid.spacing_mm))
    image.SetOrigin(tuple(float(o) for o in grid.origin_mm))
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def _write_planar_label_map(path: Path, labels: np.ndarray, pixel_mm: float) -> Path:
    """A 2-D NIfTI label image on the planar matrix (array [row, column], spacing = pixel size)."""
    image = sitk.GetImageFromArray(labels.astype(np.uint8))
    image.SetSpacing((float(pixel_mm), float(pixel_mm)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def _write_json(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")
    tmp.replace(path)
    return path


def _json_default(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _hours(start: datetime, end: datetime) -> float:
    """Elapsed hours; through UTC, because Python subtracts datetimes sharing one ZoneInfo by wall
    clock (off by an hour across a daylight-saving change)."""
    utc = ZoneInfo("UTC")
    return (end.astimezone(utc) - start.astimezone(utc)).total_seconds() / 3600.0


# -- one patient ---------------------------------------------------------------------------------
@dataclass
class _Patient:
    index: int
    patient_id: str
    rng: np.random.Generator
    phantom: Phantom
    anatomy: AnatomyParameters
    traits: PatientKinetics
    demographics: dict
    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    mu: np.ndarray
    projectors: dict[str, PlanarProjector]


def _sample_demographics(rng: np.random.Generator, patient_id: str) -> dict:
    inclusion = date(2023, 1, 9) + timedelta(days=int(rng.integers(0, 180)))
    return {
        "patient_id": patient_id,
        "age_years": int(rng.integers(38, 82)),
        "sex": str(rng.choice(["F", "M"])),
        "inclusion_date": inclusion,
        "baseline_gfr_ml_min": float(np.round(rng.uniform(55.0, 115.0), 1)),
        "diabetes": bool(rng.random() < 0.12),
        "uncontrolled_hypertension": bool(rng.random() < 0.08),
        "previous_liver_embolization": bool(rng.random() < 0.10),
        "previous_chemotherapy": bool(rng.random() < 0.15),
    }


def _weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _administration_times(
    rng: np.random.Generator, inclusion: date, n_cycles: int, tz: ZoneInfo
) -> list[datetime]:
    """Cycle start datetimes (local, timezone-aware): every 10 ± 2 weeks, 08:30–11:00, weekdays."""
    day = _weekday(inclusion + timedelta(days=int(rng.integers(7, 28))))
    out = []
    for _ in range(n_cycles):
        minutes = int(rng.integers(0, 6)) * 30
        out.append(datetime.combine(day, time(8, 30), tzinfo=tz) + timedelta(minutes=minutes))
        day = _weekday(day + timedelta(days=int(rng.integers(56, 85))))
    return out


def _prepare_patient(index: int, seed: int, settings: SimulationSettings) -> _Patient:
    rng = np.random.default_rng([seed, index])
    patient_id = f"VP{index + 1:03d}"
    anatomy = AnatomyParameters.sample(rng)
    phantom = build_phantom(anatomy, settings.grid)
    traits = PatientKinetics.sample(rng)
    demographics = _sample_demographics(rng, patient_id)
    mu = phantom_ct(phantom, None)[1]
    projectors: dict[str, PlanarProjector] = {
        view: PlanarProjector(mu, phantom.grid, settings.planar, view) for view in VIEWS}
    return _Patient(
        index,
        patient_id,
        rng,
        phantom,
        anatomy,
        traits,
        demographics,
        compartment_weights(phantom),
        mu,
        projectors,
    )


def _kidney_geometry(phantom: Phantom, mu: np.ndarray) -> dict:
    """Kidney centre, depths from the anterior/posterior skin and body thickness along the AP ray
    through the centre (mm), for checking conjugate-view quantification."""
    grid = phantom.grid
    x, y, z = grid.axes_mm()
    out = {}
    for side in ("left", "right"):
        k, j, i = (np.mean(a) for a in np.nonzero(phantom.mask(f"kidney_{side}")))
        kk, ii = int(round(k)), int(round(i))
        body = np.nonzero(mu[kk, :, ii] > 0.01)[0]
        front = y[body[0]] - grid.spacing_mm[1] / 2
        back = y[body[-1]] + grid.spacing_mm[1] / 2
        centre_y = float(np.interp(j, np.arange(len(y)), y))
        out[side] = {
            "centre_xyz_mm": [
                float(np.interp(i, np.arange(len(x)), x)),
                centre_y,
                float(np.interp(k, np.arange(len(z)), z)),
            ],
            "depth_from_anterior_skin_mm": centre_y - front,
            "depth_from_posterior_skin_mm": back - centre_y,
            "body_thickness_mm": back - front,
            "mean_mu_along_ray_per_cm": float(mu[kk, body[0] : body[-1] + 1, ii].mean()),
        }
    return out


def _scan_datetime(admin: datetime, hours: float, tz: ZoneInfo) -> datetime:
    """Absolute time ``hours`` after ``admin``, expressed in local time (the offset may change
    across a daylight-saving transition)."""
    return (admin.astimezone(ZoneInfo("UTC")) + timedelta(hours=hours)).astimezone(tz)


def _simulate_cycle(
    patient: _Patient,
    cycle: int,
    admin: datetime,
    seed: int,
    settings: SimulationSettings,
    cycle_dir: Path,
    noise: bool,
) -> dict:
    tz = ZoneInfo(settings.timezone)
    rng = np.random.default_rng([seed, patient.index, cycle])
    phantom, grid = patient.phantom, patient.phantom.grid
    ia = settings.nominal_activity_mbq * float(np.clip(rng.normal(1.0, 0.02), 0.94, 1.04))
    tumour_volumes = {name: phantom.volume_ml(name) for name in phantom.tumour_names}
    kin: CycleKinetics = cycle_kinetics(
        patient.traits, ia, tumour_volumes, rng, settings.kidney_model
    )
    noise_rng = rng if noise else None
    weights = patient.weights
    marrow_opt = None
    if settings.marrow:
        # own stream: the kidney, timing and noise draws stay those of the marrow-free dataset
        lesion = patient.index in settings.marrow_lesion_patients
        marrow_opt = marrow_setup(patient.phantom, patient.weights["remainder"][0],
                                  np.random.default_rng([seed, patient.index, cycle, 18]),
                                  lesion=lesion)
        weights = {**patient.weights, **marrow_opt.weights}

    def activities_at(hours: float) -> dict[str, float]:
        base = kin.activities_mbq(hours)
        return base if marrow_opt is None else marrow_opt.add_to(base)

    info = PatientInfo(
        patient.patient_id, patient.demographics["sex"], patient.demographics["age_years"]
    )
    administration = Administration(admin, ia)
    key = (seed, patient.patient_id, cycle)
    dicom_dir = cycle_dir / "dicom"
    scans: list[dict] = []

    # Scan times: jittered nominal times; the SPECT/CT follows the planar scan of the same day.
    planar_h = {
        t: t + float(rng.uniform(-1, 1)) * TIME_JITTER_H.get(t, 0.05 * t)
        for t in settings.planar_times_h
    }
    same_day = min(planar_h, key=lambda t: abs(t - settings.spect_time_h))
    spect_h = (
        planar_h[same_day] + 0.5
        if abs(same_day - settings.spect_time_h) < 6
        else settings.spect_time_h
    )
    ct_h = spect_h + settings.spect.acquisition_duration_s / 3600.0 + 0.05

    study_uids: dict[int, str] = {}

    def study_for(hours: float) -> tuple[str, datetime]:
        day = int(hours // 12)  # scans on the same visit share a study
        if day not in study_uids:
            study_uids[day] = uid_from(*key, "study", day)
        return study_uids[day], _scan_datetime(admin, hours, tz)

    cam = settings.planar
    exposure = cam.wholebody_exposure_s
    for nominal, hours in sorted(planar_h.items()):
        when = _scan_datetime(admin, hours, tz)
        study_uid, _ = study_for(hours)
        series = SeriesInfo(
            study_uid,
            uid_from(*key, "wb", nominal),
            1,
            f"WB 177Lu {nominal:g}h ANT/POST",
            when,
            when,
        )
        activities = activities_at(hours)
        act = activity_map_mbq(weights, activities, grid.shape_zyx)
        files = {}
        for v, view in enumerate(VIEWS, start=1):
            img = patient.projectors[view].image(act, exposure, noise_rng)
            path = dicom_io.write_nm_planar(
                dicom_dir / f"wb_{nominal:03.0f}h" / f"NM_{VIEW_FILE[view]}.dcm",
                img.windows(),
                cam.windows,
                view,
                patient.projectors[view].pixel_mm,
                exposure,
                info,
                series,
                administration,
                instance_number=v,
                whole_body=True,
                scan_velocity_mm_s=cam.scan_speed_mm_per_s,
                image_plane=patient.projectors[view].image_plane(),
                comments=f"Virtual patient. {view} view; frames = energy windows "
                f"{', '.join(w.name for w in cam.windows)}; exposure per pixel = axial field "
                f"of view / ScanVelocity.",
            )
            files[view] = {
                "file": str(path.relative_to(cycle_dir)),
                "noise_free_primary_counts": float(img.primary.sum()),
                "noise_free_scatter_counts": float(img.scatter.sum()),
            }
        scans.append(
            {
                "kind": "planar_whole_body",
                "nominal_time_h": nominal,
                "time_h": hours,
                "datetime": when,
                "series_instance_uid": series.series_uid,
                "exposure_per_pixel_s": exposure,
                "views": files,
                "activity_mbq": activities,
            }
        )

    # SPECT/CT at the SPECT time, sharing the frame of reference.
    frame_uid = uid_from(*key, "frame_of_reference")
    when_spect = _scan_datetime(admin, spect_h, tz)
    when_ct = _scan_datetime(admin, ct_h, tz)
    study_uid, _ = study_for(spect_h)
    activities = activities_at(spect_h)
    act = activity_map_mbq(weights, activities, grid.shape_zyx)
    counts = reconstructed_counts(act, grid, settings.spect, noise_rng)
    spect_series = SeriesInfo(
        study_uid,
        uid_from(*key, "spect"),
        2,
        f"SPECT 177Lu {settings.spect_time_h:g}h RECON",
        when_spect,
        when_spect,
        frame_uid,
    )
    scam = settings.spect
    spect_path = dicom_io.write_nm_recon(
        dicom_dir / f"spect_ct_{settings.spect_time_h:03.0f}h" / "NM_RECON.dcm",
        counts,
        grid,
        info,
        spect_series,
        administration,
        window=PHOTOPEAK,
        seconds_per_projection=scam.seconds_per_projection,
        projections_per_detector=scam.projections // scam.detectors,
        detectors=scam.detectors,
        comments=f"Virtual patient. Counts over {scam.acquisition_duration_s:g} s; calibration "
        f"factor {scam.calibration_factor_bq_per_cps:g} Bq per count/s; AC+SC, no RR, "
        f"no decay correction.",
    )
    hu = phantom_ct(phantom, noise_rng, settings.ct_noise_hu)[0]
    ct_series = SeriesInfo(
        study_uid,
        uid_from(*key, "ct"),
        3,
        "CT low dose for SPECT AC",
        when_spect,
        when_ct,
        frame_uid,
    )
    ct_paths = dicom_io.write_ct_series(
        dicom_dir / f"spect_ct_{settings.spect_time_h:03.0f}h" / "CT", hu, grid, info, ct_series
    )
    scans.append(
        {
            "kind": "spect",
            "nominal_time_h": settings.spect_time_h,
            "time_h": spect_h,
            "datetime": when_spect,
            "series_instance_uid": spect_series.series_uid,
            "file": str(spect_path.relative_to(cycle_dir)),
            "activity_mbq": activities,
            "noise_free_total_counts": float(reconstructed_counts(act, grid, scam).sum()),
        }
    )
    scans.append(
        {
            "kind": "ct",
            "time_h": ct_h,
            "datetime": when_ct,
            "series_instance_uid": ct_series.series_uid,
            "folder": str(ct_paths[0].parent.relative_to(cycle_dir)),
            "files": len(ct_paths),
        }
    )

    # VOIs.
    voi = cycle_dir / "voi"
    kidney_labels = np.zeros(grid.shape_zyx, dtype=np.uint8)
    kidney_labels[phantom.mask("kidney_left")] = 1
    kidney_labels[phantom.mask("kidney_right")] = 2
    _write_label_map(voi / "kidneys.nii.gz", kidney_labels, grid)
    _write_label_map(voi / "organs.nii.gz", phantom.labels, grid)
    _write_json(
        voi / "organs.json", {"labels": {str(k): v for k, v in organ_label_names(phantom).items()}}
    )
    for view in VIEWS:
        _write_planar_label_map(
            voi / f"planar_rois_{view}.nii.gz",
            planar_rois(phantom, patient.projectors[view]),
            patient.projectors[view].pixel_mm,
        )

    # Ground truth.
    masses = {
        name: phantom.mass_g(name)
        for name in (
            "kidney_left",
            "kidney_right",
            "liver",
            "spleen",
            "bladder",
            *phantom.tumour_names,
        )
    }
    kidneys = {}
    for side in ("left", "right"):
        curve = kin.curves[f"kidney_{side}"]
        s_value = kidney_s_value_gy_per_mbq_h(masses[f"kidney_{side}"])
        tia = curve.tia_mbq_h()
        kidneys[side] = {
            "mass_g": masses[f"kidney_{side}"],
            "volume_ml": phantom.volume_ml(f"kidney_{side}"),
            "tia_mbq_h": tia,
            "s_value_gy_per_mbq_h": s_value,
            "absorbed_dose_gy": tia * s_value,
            "terminal_effective_half_life_h": curve.slowest_half_life_h,
            "activity_at_scans_mbq": {
                f"{s['kind']}_{s['nominal_time_h']:g}h": s["activity_mbq"][f"kidney_{side}"]
                for s in scans
                if "activity_mbq" in s
            },
        }
    truth = {
        "format": "iluminet-virtual-patient-truth",
        "format_version": FORMAT_VERSION,
        "generator": GENERATOR,
        "seed": seed,
        "noise": noise,
        "patient_id": patient.patient_id,
        "cycle": cycle,
        "administration": {
            "datetime": admin,
            "activity_mbq": ia,
            "radiopharmaceutical": dicom_io.RADIOPHARMACEUTICAL,
            "dicom_radionuclide_total_dose_unit": "MBq",
        },
        "nuclide": {
            "name": LU177.name,
            "half_life_h": LU177.half_life_h,
            "electron_energy_kev": LU177.electron_energy_kev,
            "source": LU177.source,
        },
        "kidney_dose_model": KIDNEY_DOSE_MODEL,
        "kidneys": kidneys,
        "kidney_geometry": _kidney_geometry(phantom, patient.mu),
        "masses_g": masses,
        "kinetics": {
            "kidney_model": kin.kidney_model,
            "time_origin": "administration datetime",
            "compartments": {n: c.as_dict() for n, c in kin.curves.items()},
            "medulla_to_cortex_concentration": MEDULLA_TO_CORTEX,
        },
        "scans": scans,
        "grid": grid.as_dict(),
        "cameras": {
            "planar": settings.planar.as_dict(),
            "spect": settings.spect.as_dict(),
            "planar_placement": {
                "top_row_of_most_superior_slice": cam.top_row,
                "first_column_of_grid_x0": patient.projectors["anterior"].col0,
                "pixel_mm": patient.projectors["anterior"].pixel_mm,
            },
        },
        "anatomy": {k: v for k, v in patient.anatomy.__dict__.items()},
        "vois": {
            "kidneys": "voi/kidneys.nii.gz (1 left, 2 right)",
            "organs": "voi/organs.nii.gz (legend voi/organs.json)",
            "planar_rois": "voi/planar_rois_<view>.nii.gz (1/2 left/right kidney, "
            "3/4 left/right background), in the view's stored orientation",
        },
        "not_modelled": [
            "decay during acquisitions",
            "activity outside the phantom grid",
            "septal penetration and dead time",
            "spatially correlated SPECT noise",
        ],
    }
    if marrow_opt is not None:
        _write_label_map(voi / "marrow.nii.gz", marrow_opt.voi_labels, grid)
        truth["marrow"] = marrow_opt.truth(activities_at, spect_h,
                                           patient.index in settings.marrow_lesion_patients)
        vois: dict[str, str] = truth["vois"]  # type: ignore[assignment]
        vois["marrow"] = "voi/marrow.nii.gz (1 = automatic lumbar marrow VOI)"
    _write_json(cycle_dir / "truth.json", truth)
    return {
        "cycle": cycle,
        "administration_datetime": admin,
        "activity_mbq": ia,
        "left_kidney_mass_g": masses["kidney_left"],
        "right_kidney_mass_g": masses["kidney_right"],
    }


def _write_patient_tables(
    patient_dir: Path, demographics: dict, cycles: list[dict], rng: np.random.Generator
) -> None:
    patient_dir.mkdir(parents=True, exist_ok=True)
    with open(patient_dir / "patient.yaml", "w") as fh:
        yaml.safe_dump(demographics, fh, sort_keys=False)
    gfr = demographics["baseline_gfr_ml_min"]
    grade = 0
    with open(patient_dir / "cycles.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "cycle",
                "administration_datetime",
                "administered_activity_mbq",
                "left_kidney_mass_g",
                "right_kidney_mass_g",
                "gfr_ml_min",
                "worst_toxicity_grade",
            ]
        )
        for row in cycles:
            gfr = gfr * (1.0 - float(rng.uniform(0.0, 0.04))) + float(rng.normal(0.0, 2.0))
            grade = max(grade, int(rng.choice([0, 1, 2], p=[0.75, 0.18, 0.07])))
            writer.writerow(
                [
                    row["cycle"],
                    row["administration_datetime"].isoformat(),
                    f"{row['activity_mbq']:.1f}",
                    f"{row['left_kidney_mass_g']:.1f}",
                    f"{row['right_kidney_mass_g']:.1f}",
                    f"{gfr:.1f}",
                    grade,
                ]
            )


def _write_calibration(out: Path, seed: int, settings: SimulationSettings, noise: bool) -> None:
    tz = ZoneInfo(settings.timezone)
    rng = np.random.default_rng([seed, 999_999])
    noise_rng = rng if noise else None
    when = datetime(2023, 1, 5, 14, 0, tzinfo=tz)
    reference = when - timedelta(hours=2.0)  # dose-calibrator reading, decayed until acquisition
    key = (seed, "calibration")

    # Planar sensitivity: 200 MBq at the reference time, 300 s static.
    folder = out / "planar_sensitivity"
    activity_ref = 200.0
    activity_acq = activity_ref * float(
        np.exp(-LU177.decay_constant_per_h * _hours(reference, when))
    )
    acq = planar_source_in_air(activity_acq, 300.0, settings.planar, noise_rng)
    info = PatientInfo("CAL_PLANAR")
    series = SeriesInfo(
        uid_from(*key, "planar study"),
        uid_from(*key, "planar"),
        1,
        "Planar sensitivity 177Lu source in air",
        when,
        when,
    )
    admin = Administration(reference, activity_ref, "177Lu source (dose calibrator)")
    for v, view in enumerate(VIEWS, start=1):
        dicom_io.write_nm_planar(
            folder / "dicom" / f"NM_{VIEW_FILE[view]}.dcm",
            acq.images[view].windows(),
            acq.camera.windows,
            view,
            acq.pixel_mm,
            acq.exposure_s,
            info,
            series,
            admin,
            instance_number=v,
            whole_body=False,
            image_plane=acq.image_planes[view],
            comments="Calibration source in air; RadionuclideTotalDose = "
            "activity (MBq) at RadiopharmaceuticalStartDateTime.",
        )
    _write_json(
        folder / "truth.json",
        {
            "kind": "planar_sensitivity",
            "noise": noise,
            "activity_at_reference_mbq": activity_ref,
            "reference_datetime": reference,
            "acquisition_datetime": when,
            "activity_at_acquisition_mbq": activity_acq,
            "exposure_s": acq.exposure_s,
            "true_sensitivity_cps_per_mbq": settings.planar.sensitivity_cps_per_mbq,
            "noise_free_photopeak_counts": float(acq.images["anterior"].primary.sum()),
            "camera": settings.planar.as_dict(),
        },
    )

    # SPECT phantom (CT + SPECT, shared frame of reference).
    folder = out / "spect_phantom"
    phantom = spect_phantom()
    pgrid = phantom.grid
    activity_acq = float(phantom.activity_mbq.sum())
    activity_ref = activity_acq / float(
        np.exp(-LU177.decay_constant_per_h * _hours(reference, when))
    )
    counts = reconstructed_counts(phantom.activity_mbq, pgrid, settings.spect, noise_rng)
    info = PatientInfo("CAL_SPECT")
    frame_uid = uid_from(*key, "phantom frame")
    study_uid = uid_from(*key, "phantom study")
    admin = Administration(reference, activity_ref, "177Lu phantom (dose calibrator)")
    scam = settings.spect
    dicom_io.write_nm_recon(
        folder / "dicom" / "NM_RECON.dcm",
        counts,
        pgrid,
        info,
        SeriesInfo(
            study_uid,
            uid_from(*key, "phantom spect"),
            1,
            "SPECT phantom RECON",
            when,
            when,
            frame_uid,
        ),
        admin,
        window=PHOTOPEAK,
        seconds_per_projection=scam.seconds_per_projection,
        projections_per_detector=scam.projections // scam.detectors,
        detectors=scam.detectors,
        comments="Calibration phantom: cylinder with spheres; counts over the acquisition.",
    )
    hu = np.clip(
        np.rint(
            phantom.hu + (rng.normal(0, settings.ct_noise_hu, phantom.hu.shape) if noise else 0.0)
        ),
        -1024,
        3071,
    ).astype(np.int16)
    dicom_io.write_ct_series(
        folder / "dicom" / "CT",
        hu,
        pgrid,
        info,
        SeriesInfo(
            study_uid,
            uid_from(*key, "phantom ct"),
            2,
            "CT phantom",
            when,
            when + timedelta(minutes=25),
            frame_uid,
        ),
    )
    _write_label_map(folder / "voi" / "spheres.nii.gz", phantom.sphere_labels, pgrid)
    _write_json(
        folder / "truth.json",
        {
            "kind": "spect_phantom",
            "noise": noise,
            "reference_datetime": reference,
            "activity_at_reference_mbq": activity_ref,
            "acquisition_datetime": when,
            "grid": pgrid.as_dict(),
            **spect_phantom_truth(phantom, scam),
        },
    )


# -- public API ------------------------------------------------------------------------------------
def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(
            f"{out_dir} exists and is not a folder", source=str(out_dir), field="out_dir"
        )
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    entries = {p.name for p in out_dir.iterdir()}
    manifest = out_dir / MANIFEST
    generated = False
    if manifest.is_file():
        try:
            generated = json.loads(manifest.read_text()).get("generator") == GENERATOR
        except (json.JSONDecodeError, AttributeError):
            generated = False
    if not generated:
        raise InputError(
            f"the output folder holds other data ({', '.join(sorted(entries)[:5])}); "
            f"expected an empty folder or a dataset written by {GENERATOR} "
            f"(with {MANIFEST})",
            source=str(out_dir),
            field="out_dir",
        )
    foreign = entries - DATASET_ENTRIES
    if foreign:
        raise InputError(
            f"the output folder holds files that were not generated: "
            f"{', '.join(sorted(foreign))}; it will not be overwritten",
            source=str(out_dir),
            field="out_dir",
        )
    if not force:
        raise InputError(
            "a virtual-patient dataset already exists here; pass force=True "
            "(--force) to replace it",
            source=str(out_dir),
            field="force",
        )
    for name in ("patients", "calibration"):
        if (out_dir / name).exists():
            shutil.rmtree(out_dir / name)
    manifest.unlink()


def generate_virtual_patients(
    n_patients: int,
    n_cycles: int,
    seed: int,
    out_dir: str | Path,
    *,
    force: bool = False,
    noise: bool = True,
    activity_mbq: float = DEFAULT_ACTIVITY_MBQ,
    settings: SimulationSettings | None = None,
) -> list[Path]:
    """Write ``n_patients`` virtual patients with ``n_cycles`` cycles each (see module docstring).

    Parameters
    ----------
    n_patients, n_cycles
        Positive integers.
    seed
        Non-negative integer; the dataset is a deterministic function of all arguments.
    out_dir
        Empty or non-existent folder, or a folder holding a dataset from this generator (replaced
        only with ``force=True``). A folder holding anything else is refused.
    force
        Replace an existing generated dataset.
    noise
        Poisson noise in planar and SPECT counts and Gaussian noise in CT; ``False`` writes the
        expected counts rounded to integers.
    activity_mbq
        Nominal injected activity per cycle (each cycle varies by σ = 2 %, within −6 %/+4 %).
    settings
        Grid, cameras, schedule and kidney model (defaults: :class:`SimulationSettings`).

    Returns
    -------
    list of Path
        The patient folders, in patient order.
    """
    for name, value in (("n_patients", n_patients), ("n_cycles", n_cycles)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(
                f"{name} must be a positive integer, got {value!r}",
                source="generate_virtual_patients",
                field=name,
            )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(
            f"seed must be a non-negative integer, got {seed!r}",
            source="generate_virtual_patients",
            field="seed",
        )
    if not (
        isinstance(activity_mbq, (int, float)) and np.isfinite(activity_mbq) and activity_mbq > 0
    ):
        raise InputError(
            f"activity must be > 0 MBq, got {activity_mbq!r}",
            source="generate_virtual_patients",
            field="activity_mbq",
        )
    settings = settings or SimulationSettings()
    if activity_mbq != settings.nominal_activity_mbq:
        settings = replace(settings, nominal_activity_mbq=float(activity_mbq))
    out = Path(out_dir)
    _check_out_dir(out, force)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "generator": GENERATOR,
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "n_patients": int(n_patients),
        "n_cycles": int(n_cycles),
        "noise": bool(noise),
        "activity_mbq": float(activity_mbq),
        "kidney_model": settings.kidney_model,
        "complete": False,
        "patients": [],
    }
    _write_json(out / MANIFEST, manifest)
    tz = ZoneInfo(settings.timezone)
    _write_calibration(out / "calibration", int(seed), settings, noise)
    paths = []
    for index in range(int(n_patients)):
        patient = _prepare_patient(index, int(seed), settings)
        patient_dir = out / "patients" / patient.patient_id
        admins = _administration_times(
            patient.rng, patient.demographics["inclusion_date"], int(n_cycles), tz
        )
        rows = [
            _simulate_cycle(
                patient, c, admin, int(seed), settings, patient_dir / f"cycle_{c:02d}", noise
            )
            for c, admin in enumerate(admins, start=1)
        ]
        _write_patient_tables(patient_dir, patient.demographics, rows, patient.rng)
        paths.append(patient_dir)
        manifest["patients"].append(patient.patient_id)
    manifest["complete"] = True
    _write_json(out / MANIFEST, manifest)
    return paths

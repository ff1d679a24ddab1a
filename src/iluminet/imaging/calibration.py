"""Camera calibration: planar sensitivity, SPECT calibration factor and recovery coefficients.

* **Planar sensitivity** (cps/MBq) from a static acquisition of a source of known activity in air:
  ε = Σ P / (t · A), P the TEW scatter-corrected photopeak counts of the whole image, t the
  exposure (``ActualFrameDuration``) and A the source activity at the acquisition start, decayed
  from the dose-calibrator reading (``RadionuclideTotalDose`` at
  ``RadiopharmaceuticalStartDateTime``, MBq). Both heads are calibrated; the conjugate-view
  sensitivity is their geometric mean.
* **SPECT calibration factor** CF (Bq per count/s) from a phantom of known total activity:
  CF = 10⁶ · A / (ΣN / T_acq), ΣN the counts in the whole reconstruction.
* **Recovery coefficients**: for each sphere, the contrast recovery
  RC = (c̄_VOI − c_b) / (c_sphere − c_b), c̄_VOI the calibrated mean concentration in the sphere's
  VOI and c_b, c_sphere the known concentrations (phantom specification); the curve RC(volume) is
  fitted as a Gaussian system resolution (:class:`iluminet.imaging.spect.RecoveryCurve`).

The phantom specification (sphere labels, volumes, concentrations and the time they refer to) is
read from ``phantom.yaml`` or, for generated data, the phantom's ``truth.json``. Results are saved
per camera with the acquisition date in ``params/cameras/<camera>.yaml``; a calibration older than a
configurable age is flagged when used.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
import yaml

from iluminet.errors import InputError
from iluminet.imaging import dicom_study as ds_
from iluminet.imaging.dose_calibrator import SourceActivity, read_dose_calibrator_log
from iluminet.imaging.planar import primary_counts
from iluminet.imaging.spect import RecoveryCurve, activity_image_mbq
from iluminet.nuclide import decay_correct
from iluminet.provenance import write_text_atomic

log = logging.getLogger(__name__)

#: Narrow-beam μ of water at 208 keV (1/cm, NIST XCOM; docs/references.md). With TEW scatter
#: correction the effective conjugate-view coefficient approaches it; without, use a measured
#: broad-beam value.
DEFAULT_MU_PER_CM = 0.135
DEFAULT_MAX_AGE_DAYS = 365.0


@dataclass
class CameraCalibration:
    """Calibration of one camera, as saved to ``params/cameras/<camera>.yaml``."""

    camera_name: str
    acquisition_date: date
    planar_sensitivity_cps_per_mbq: float
    planar_sensitivity_by_view: dict[str, float]
    spect_sensitivity_cps_per_mbq: float
    recovery_fwhm_mm: float
    mu_broad_beam_per_cm: float = DEFAULT_MU_PER_CM
    spheres: list[dict[str, float]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def calibration_factor_bq_per_cps(self) -> float:
        """CF = 10⁶ / ε_SPECT (Bq per count/s)."""
        return 1e6 / self.spect_sensitivity_cps_per_mbq

    @property
    def recovery(self) -> RecoveryCurve:
        return RecoveryCurve(self.recovery_fwhm_mm)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["acquisition_date"] = self.acquisition_date.isoformat()
        out["calibration_factor_bq_per_cps"] = self.calibration_factor_bq_per_cps
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "calibration") -> CameraCalibration:
        keys = ("camera_name", "acquisition_date", "planar_sensitivity_cps_per_mbq",
                "spect_sensitivity_cps_per_mbq", "recovery_fwhm_mm")
        for key in keys:
            if key not in data:
                raise InputError(f"missing key {key!r}", source=source, field=key)
        for key in ("planar_sensitivity_cps_per_mbq", "spect_sensitivity_cps_per_mbq",
                    "recovery_fwhm_mm"):
            value = data[key]
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise InputError(f"{key} must be a number > 0, got {value!r}", source=source,
                                 field=key)
        day = data["acquisition_date"]
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        return cls(
            camera_name=str(data["camera_name"]),
            acquisition_date=day,
            planar_sensitivity_cps_per_mbq=float(data["planar_sensitivity_cps_per_mbq"]),
            planar_sensitivity_by_view=dict(data.get("planar_sensitivity_by_view", {})),
            spect_sensitivity_cps_per_mbq=float(data["spect_sensitivity_cps_per_mbq"]),
            recovery_fwhm_mm=float(data["recovery_fwhm_mm"]),
            mu_broad_beam_per_cm=float(data.get("mu_broad_beam_per_cm", DEFAULT_MU_PER_CM)),
            spheres=list(data.get("spheres", [])),
            sources=dict(data.get("sources", {})),
        )


def save_calibration(calibration: CameraCalibration, params_dir: str | Path) -> Path:
    """Write ``<params_dir>/<camera>.yaml`` atomically."""
    path = Path(params_dir) / f"{calibration.camera_name}.yaml"
    header = ("# Camera calibration written by iluminet.imaging.calibration; regenerate with the "
              "calibration notebook (01_image_calibration), do not edit by hand.\n")
    text = yaml.safe_dump(calibration.as_dict(), sort_keys=False, allow_unicode=True)
    return write_text_atomic(path, header + text)


def load_calibration(path: str | Path) -> CameraCalibration:
    """Read a calibration YAML written by :func:`save_calibration`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("camera calibration file not found", source=str(path), field="path")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise InputError("not a calibration mapping", source=str(path), field="camera_name")
    return CameraCalibration.from_dict(data, str(path))


def calibration_age_flags(
    calibration: CameraCalibration, used_at: datetime | date,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
) -> list[str]:
    """Flags for a calibration used more than ``max_age_days`` after (or before) it was made."""
    day = used_at.date() if isinstance(used_at, datetime) else used_at
    age = (day - calibration.acquisition_date).days
    flags = []
    if age > max_age_days:
        flags.append(f"camera calibration {calibration.camera_name} of "
                     f"{calibration.acquisition_date} is {age} days old at {day} "
                     f"(limit {max_age_days:g} days)")
    if age < 0:
        flags.append(f"camera calibration {calibration.camera_name} of "
                     f"{calibration.acquisition_date} is dated after the scan ({day})")
    for flag in flags:
        log.info(flag)
    return flags


# -- planar sensitivity ----------------------------------------------------------------------------
@dataclass
class PlanarSensitivity:
    """Result of a planar source-in-air acquisition."""

    by_view_cps_per_mbq: dict[str, float]
    activity_at_acquisition_mbq: float
    acquired: datetime
    exposure_s: float
    counts_by_view: dict[str, float]
    path: str

    @property
    def conjugate_cps_per_mbq(self) -> float:
        values = list(self.by_view_cps_per_mbq.values())
        return float(np.sqrt(np.prod(values))) if len(values) == 2 else float(values[0])


def _source_activity(path: Path, ds: Any) -> tuple[float, datetime]:
    seq = getattr(ds, "RadiopharmaceuticalInformationSequence", None)
    if not seq:
        raise InputError("no RadiopharmaceuticalInformationSequence: the source activity is "
                         "unknown", source=str(path),
                         field="RadiopharmaceuticalInformationSequence")
    item = seq[0]
    dose = getattr(item, "RadionuclideTotalDose", None)
    start = getattr(item, "RadiopharmaceuticalStartDateTime", None)
    if dose is None or float(dose) <= 0:
        raise InputError("missing or non-positive RadionuclideTotalDose (MBq)", source=str(path),
                         field="RadionuclideTotalDose")
    if start is None:
        raise InputError("missing RadiopharmaceuticalStartDateTime (time of the activity "
                         "reading)", source=str(path), field="RadiopharmaceuticalStartDateTime")
    when = ds_.parse_dicom_datetime(str(start), path, "RadiopharmaceuticalStartDateTime", ds)
    return float(dose), when


PlanarTechnique = Literal["static", "whole_body"]


def _technique(entry: Any) -> PlanarTechnique:
    return "whole_body" if ds_.is_whole_body(entry.ds) else "static"


def planar_sensitivity(folder: str | Path, *, site_timezone: str | None = None,
                       technique: PlanarTechnique | None = None,
                       source_activity: SourceActivity | None = None) -> PlanarSensitivity:
    """Planar sensitivity from the NM acquisition of a source in air found under ``folder``.

    The acquisition is found by its tags: static and whole-body views are told apart by
    ``ImageType``/``WholeBodyTechnique`` and each is timed as its kind requires
    (:func:`iluminet.imaging.dicom_study.planar_exposure_s`). One series is expected; with both
    kinds present, ``technique`` chooses, and two series of the chosen kind are an error (no
    result is taken from whichever file sorts last). ``source_activity`` (a dose-calibrator log
    entry) replaces the activity in the DICOM header.
    """
    folder = Path(folder)
    if technique not in (None, "static", "whole_body"):
        raise InputError(f"expected static or whole_body, got {technique!r}",
                         source="calibration parameters", field="planar_technique")
    entries = [e for e in ds_.index_dicom(folder) if ds_._classify(e) == "planar"]
    if not entries:
        raise InputError("no planar NM acquisition (ImageType STATIC or WHOLE BODY) found below "
                         "this folder", source=str(folder), field="ImageType")
    kinds = sorted({_technique(e) for e in entries})
    if technique is None and len(kinds) > 1:
        raise InputError("both a static and a whole-body acquisition of the source: choose one "
                         "(planar_technique = static or whole_body)", source=str(folder),
                         field="planar_technique")
    chosen = technique or kinds[0]
    entries = [e for e in entries if _technique(e) == chosen]
    if not entries:
        raise InputError(f"no {chosen.replace('_', '-')} planar acquisition; found "
                         f"{', '.join(kinds)}", source=str(folder), field="planar_technique")
    series = sorted({str(ds_._get(e.ds, "SeriesInstanceUID") or e.path) for e in entries})
    if len(series) > 1:
        raise InputError(f"{len(series)} {chosen.replace('_', '-')} planar series of the source "
                         f"({', '.join(str(e.path.relative_to(folder)) for e in entries)}); keep "
                         "one per calibration", source=str(folder), field="SeriesInstanceUID")
    by_view: dict[str, float] = {}
    counts: dict[str, float] = {}
    activity = exposure = None
    acquired = None
    for e in entries:
        dose, reference = (source_activity.activity_mbq, source_activity.reference) \
            if source_activity is not None else _source_activity(e.path, e.ds)
        for view in ds_.read_planar_file(e.path, site_timezone=site_timezone):
            if view.view in by_view:
                raise InputError(f"a second {view.view} view of the source", source=str(e.path),
                                 field="ViewCodeSequence")
            a_acq = decay_correct(dose, reference, view.acquired)
            total = float(primary_counts(view).sum())
            by_view[view.view] = total / (view.exposure_s * a_acq)
            counts[view.view] = total
            activity, exposure, acquired = a_acq, view.exposure_s, view.acquired
    assert activity is not None and exposure is not None and acquired is not None
    return PlanarSensitivity(by_view, activity, acquired, exposure, counts, str(folder))


# -- SPECT phantom ---------------------------------------------------------------------------------
@dataclass
class SpectPhantomCalibration:
    """Result of the SPECT phantom acquisition."""

    sensitivity_cps_per_mbq: float
    activity_at_acquisition_mbq: float
    acquired: datetime
    spheres: list[dict[str, float]]
    recovery: RecoveryCurve
    path: str

    @property
    def calibration_factor_bq_per_cps(self) -> float:
        return 1e6 / self.sensitivity_cps_per_mbq


def read_phantom_specification(folder: Path) -> dict[str, Any]:
    """Sphere volumes and concentrations: ``phantom.yaml`` or the generator's ``truth.json``."""
    for name in ("phantom.yaml", "phantom.yml", "truth.json"):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text()) if name.endswith(".json") else yaml.safe_load(
                path.read_text())
            break
    else:
        raise InputError("no phantom specification (phantom.yaml with spheres, volumes and "
                         "concentrations)", source=str(folder), field="phantom.yaml")
    for key in ("spheres", "background_concentration_mbq_per_ml"):
        if key not in data:
            raise InputError(f"missing {key!r}", source=str(path), field=key)
    when = data.get("concentration_datetime") or data.get("acquisition_datetime")
    if when is None:
        raise InputError("missing concentration_datetime (time the concentrations refer to)",
                         source=str(path), field="concentration_datetime")
    data["concentration_datetime"] = datetime.fromisoformat(str(when))
    data["_path"] = str(path)
    return data


def spect_phantom_calibration(
    folder: str | Path, *, spheres_voi: str = "voi/spheres.nii.gz",
    site_timezone: str | None = None, source_activity: SourceActivity | None = None,
) -> SpectPhantomCalibration:
    """Calibration factor and recovery coefficients from the SPECT phantom under ``folder``
    (found by its tags: the one NM RECON TOMO below ``folder``; ``spheres_voi`` relative to
    ``folder``; ``source_activity`` from a dose-calibrator log replaces the header's)."""
    folder = Path(folder)
    entries = [e for e in ds_.index_dicom(folder) if ds_._classify(e) == "spect"]
    if len(entries) != 1:
        found = ", ".join(str(e.path.relative_to(folder)) for e in entries) or "none"
        raise InputError(f"expected one SPECT reconstruction (NM, ImageType RECON TOMO) of the "
                         f"phantom below this folder, found {len(entries)} ({found})",
                         source=str(folder), field="ImageType")
    entry = entries[0]
    scan = ds_.read_spect(entry.path, site_timezone=site_timezone)
    dose, reference = (source_activity.activity_mbq, source_activity.reference) \
        if source_activity is not None else _source_activity(entry.path, entry.ds)
    a_acq = decay_correct(dose, reference, scan.acquired)
    counts = sitk.GetArrayFromImage(scan.image)
    sensitivity = float(counts.sum()) / scan.acquisition_duration_s / a_acq
    spec = read_phantom_specification(folder)
    voi_path = folder / spheres_voi
    sphere_labels = {f"sphere {s['label']}": int(s["label"]) for s in spec["spheres"]}
    on_grid = ds_.voi_on_grid(ds_.read_label_image(voi_path), scan.image, voi_path,
                              sphere_labels)
    conc = activity_image_mbq(counts, scan.acquisition_duration_s, 1e6 / sensitivity)
    voxel_ml = float(np.prod(scan.image.GetSpacing())) / 1000.0
    decay = decay_correct(1.0, spec["concentration_datetime"], scan.acquired)
    c_b = float(spec["background_concentration_mbq_per_ml"]) * decay
    spheres = []
    for s in spec["spheres"]:
        weight = on_grid.fractions[f"sphere {s['label']}"]
        c_s = float(s["concentration_mbq_per_ml"]) * decay
        # activity-weighted mean over the covered voxel fractions
        measured = float((conc * weight).sum() / weight.sum()) / voxel_ml
        spheres.append({
            "label": int(s["label"]),
            "volume_ml": float(s["volume_ml"]),
            "voi_volume_ml": on_grid.volumes_ml[f"sphere {s['label']}"],
            "measured_concentration_mbq_per_ml": measured,
            "true_concentration_mbq_per_ml": c_s,
            "recovery_coefficient_mean": measured / c_s,
            "contrast_recovery_coefficient": (measured - c_b) / (c_s - c_b),
        })
    curve = RecoveryCurve().fit(np.array([s["volume_ml"] for s in spheres]),
                                np.array([s["contrast_recovery_coefficient"] for s in spheres]))
    assert curve.residuals_ is not None  # set by fit()
    for s, r in zip(spheres, curve.residuals_):
        s["fitted_contrast_recovery_coefficient"] = float(s["contrast_recovery_coefficient"] - r)
    return SpectPhantomCalibration(sensitivity, a_acq, scan.acquired, spheres, curve,
                                   str(entry.path))


def calibrate_camera(
    calibration_dir: str | Path,
    camera_name: str,
    *,
    planar_folder: str = "planar_sensitivity",
    phantom_folder: str = "spect_phantom",
    mu_broad_beam_per_cm: float = DEFAULT_MU_PER_CM,
    site_timezone: str | None = None,
    spheres_voi: str = "voi/spheres.nii.gz",
    planar_technique: PlanarTechnique | None = None,
    dose_calibrator_log: str | Path | None = None,
) -> tuple[CameraCalibration, PlanarSensitivity, SpectPhantomCalibration]:
    """Run both calibrations under ``calibration_dir`` and assemble the camera's calibration.

    The acquisitions are found by their DICOM tags: in ``planar_folder`` and ``phantom_folder``
    when those sub-folders exist, otherwise in ``calibration_dir`` itself (one flat folder holding
    both). ``spheres_voi`` is relative to the phantom's folder; ``planar_technique`` chooses
    between a static and a whole-body acquisition of the source when both are present;
    ``dose_calibrator_log`` (:mod:`iluminet.imaging.dose_calibrator`, relative to
    ``calibration_dir`` unless absolute) gives the source activities.
    """
    root = Path(calibration_dir)
    if not root.is_dir():
        raise InputError("calibration folder not found", source=str(root), field="calibration_dir")
    if not (np.isfinite(mu_broad_beam_per_cm) and 0 < mu_broad_beam_per_cm < 1):
        raise InputError(f"μ must be in (0, 1) /cm, got {mu_broad_beam_per_cm}",
                         source="calibration", field="mu_broad_beam_per_cm")
    log_entries = {} if dose_calibrator_log in (None, "") else read_dose_calibrator_log(
        root / str(dose_calibrator_log))
    planar_dir = root / planar_folder if (root / planar_folder).is_dir() else root
    phantom_dir = root / phantom_folder if (root / phantom_folder).is_dir() else root
    planar = planar_sensitivity(planar_dir, site_timezone=site_timezone,
                                technique=planar_technique,
                                source_activity=log_entries.get("planar_sensitivity"))
    phantom = spect_phantom_calibration(phantom_dir, site_timezone=site_timezone,
                                        spheres_voi=spheres_voi,
                                        source_activity=log_entries.get("spect_phantom"))
    assert phantom.recovery.fwhm_mm_ is not None
    calibration = CameraCalibration(
        camera_name=camera_name,
        acquisition_date=min(planar.acquired, phantom.acquired).date(),
        planar_sensitivity_cps_per_mbq=planar.conjugate_cps_per_mbq,
        planar_sensitivity_by_view=dict(planar.by_view_cps_per_mbq),
        spect_sensitivity_cps_per_mbq=phantom.sensitivity_cps_per_mbq,
        recovery_fwhm_mm=phantom.recovery.fwhm_mm_,
        mu_broad_beam_per_cm=float(mu_broad_beam_per_cm),
        spheres=phantom.spheres,
        sources={"planar": planar.path, "spect_phantom": phantom.path},
    )
    return calibration, planar, phantom

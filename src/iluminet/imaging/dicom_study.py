"""Find and read the acquisitions of one treatment cycle by their DICOM attributes.

A cycle folder holds DICOM files in any sub-folder structure (``dicom/``), kidney VOIs and planar
ROIs (``voi/``). Series are recognised by their tags, never by file or folder names:

* **CT**: ``Modality`` = CT, one file per slice, grouped by ``SeriesInstanceUID``.
* **SPECT**: ``Modality`` = NM with ``ImageType`` value 3 ``RECON TOMO`` (a reconstructed
  multi-frame NM image, read by SimpleITK with its geometry). The acquisition duration is
  ``RotationInformationSequence`` → ``ActualFrameDuration`` × ``NumberOfFramesInRotation``.
* **Planar**: ``Modality`` = NM with ``ImageType`` ``WHOLE BODY`` or ``STATIC``. Each frame is
  assigned an energy window (``EnergyWindowVector`` → ``EnergyWindowInformationSequence`` →
  ``EnergyWindowRangeSequence`` limits) and a detector (``DetectorVector`` →
  ``DetectorInformationSequence`` → ``ViewCodeSequence``: SNOMED CT 399321004 anterior,
  399001007 posterior, or a code meaning containing "anterior"/"posterior"). The photopeak is the
  narrowest window containing 208.4 keV; the TEW scatter windows are the windows adjacent to it
  (their limits within 1 keV of the photopeak limits).

Times: ``AcquisitionDateTime``, else ``AcquisitionDate`` + ``AcquisitionTime``; the UTC offset comes
from the DT value, else ``TimezoneOffsetFromUTC``, else (a logged, flagged correction) from the
site's time zone given by the caller (DST-aware). A time of day without a date is refused: scans
span a week, so a time alone cannot be placed relative to the administration.

Administration: ``RadiopharmaceuticalInformationSequence`` → ``RadiopharmaceuticalStartDateTime``
and ``RadionuclideTotalDose``, in MBq (DICOM NM Isotope module, C.8.4.10.1.7). A value that is only
plausible in Bq (the PET convention) is converted and flagged when the cycle record confirms it,
and refused otherwise. DICOM and the cycle record (``cycles.csv``) are cross-checked.

Consistency: every file must carry the same ``PatientID``; SPECT and CT must share a
``FrameOfReferenceUID``; the kidney VOI must lie inside the SPECT field of view and hold both
kidney labels, the left kidney on the patient's left.

VOI placement (:func:`voi_ct_outline_flags`): each kidney VOI is compared with the CT outline of
the patient (body: HU > ``BODY_MIN_HU``) and of kidney-density tissue (``KIDNEY_HU_RANGE``), on
the SPECT grid. A VOI of which less than ``VOI_MIN_BODY_FRACTION`` lies in the body, or less than
``VOI_MIN_KIDNEY_HU_FRACTION`` in kidney-density tissue, is flagged as misplaced, and the flag
**withholds** that cycle's decision (:attr:`CycleStudy.withhold`): its kidney mass and activity
are not the kidney's. Without a CT the SPECT counts around the VOI are used instead
(:func:`voi_activity_flags`, a warning only).
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from iluminet.errors import InputError
from iluminet.imaging.voi_geometry import covered_fractions, fraction_inside, label_volumes_ml
from iluminet.imaging.voi_input import DEFAULT_ROI_NAMES, kidney_label_map
from iluminet.nuclide import LU177

log = logging.getLogger(__name__)

View = Literal["anterior", "posterior"]
VIEWS: tuple[View, View] = ("anterior", "posterior")
#: SNOMED CT view codes (DICOM CID 26) and legacy SNOMED-RT codes.
VIEW_CODES: dict[str, View] = {
    "399321004": "anterior",
    "399001007": "posterior",
    "G-A100": "anterior",
    "G-A101": "posterior",
}
#: The 177Lu photopeak used for quantification (keV, ICRP-107).
PHOTOPEAK_KEV = max(line.energy_kev for line in LU177.imaging_lines)
#: Tolerance (keV) for recognising the TEW scatter windows adjacent to the photopeak.
ADJACENT_WINDOW_TOL_KEV = 1.0
#: Administered activities outside this range (MBq) are taken as a unit error.
PLAUSIBLE_ADMINISTERED_MBQ = (500.0, 15000.0)
KIDNEY_LABELS = {"left": 1, "right": 2}
PLANAR_ROI_LABELS = {"left": (1, 3), "right": (2, 4)}  # (kidney, background)


# -- data classes ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnergyWindow:
    """An acquisition energy window (keV)."""

    lower_kev: float
    upper_kev: float
    name: str = ""

    @property
    def width_kev(self) -> float:
        return self.upper_kev - self.lower_kev

    def contains(self, energy_kev: float) -> bool:
        return self.lower_kev <= energy_kev <= self.upper_kev


@dataclass
class PlanarView:
    """One view of a planar acquisition: counts per energy window role (``peak``, ``lower``,
    ``upper``) in the stored orientation, and the geometry needed to relate it to the CT."""

    path: Path
    view: View
    counts: dict[str, np.ndarray]
    windows: dict[str, EnergyWindow]
    pixel_mm: tuple[float, float]
    exposure_s: float
    acquired: datetime
    image_position_mm: np.ndarray | None = None
    image_orientation: np.ndarray | None = None


@dataclass(frozen=True)
class SeriesInfo:
    """Which DICOM series an image came from, to name it in messages about values derived from
    it: ``kind`` (``planar``, ``SPECT``, ``CT``), ``SeriesInstanceUID``, ``SeriesDescription``
    and its files."""

    kind: str
    series_uid: str | None
    description: str | None
    paths: tuple[Path, ...]

    def describe(self, base: Path | None = None) -> str:
        """E.g. ``planar series 'WB 24h' (SeriesInstanceUID 1.2.3, file cycle_01/dicom/a.dcm)``;
        files relative to ``base`` (the patient folder), else by name (no absolute path)."""
        def shown(path: Path) -> str:
            if base is not None:
                try:
                    return path.resolve().relative_to(Path(base).resolve()).as_posix()
                except ValueError:
                    pass
            return path.name

        files = shown(self.paths[0]) if self.paths else "?"
        if len(self.paths) > 1:
            files = f"files {files} … ({len(self.paths)} files)"
        else:
            files = f"file {files}"
        name = f" {self.description!r}" if self.description else ""
        return f"{self.kind} series{name} (SeriesInstanceUID {self.series_uid or '?'}, {files})"


def series_info(kind: str, entries: list[_Entry]) -> SeriesInfo:
    """The :class:`SeriesInfo` of the indexed files of one series."""
    ds = entries[0].ds
    uid = _get(ds, "SeriesInstanceUID")
    description = _get(ds, "SeriesDescription")
    return SeriesInfo(kind, None if uid is None else str(uid),
                      None if description is None else str(description).strip(),
                      tuple(e.path for e in entries))


@dataclass
class PlanarScan:
    """A planar acquisition (anterior and posterior view) at one time point."""

    series_uid: str
    acquired: datetime
    views: dict[View, PlanarView]
    info: SeriesInfo | None = None


@dataclass
class SpectScan:
    """A reconstructed SPECT image (counts over the acquisition) and its acquisition data."""

    path: Path
    image: sitk.Image
    acquisition_duration_s: float
    acquired: datetime
    frame_of_reference_uid: str
    window: EnergyWindow
    info: SeriesInfo | None = None


@dataclass
class CtScan:
    """A CT volume in HU (SimpleITK image) and its files."""

    paths: list[Path]
    image: sitk.Image
    acquired: datetime
    frame_of_reference_uid: str
    info: SeriesInfo | None = None


@dataclass(frozen=True)
class AdministrationInfo:
    """Administration time and activity as used, with where they came from."""

    datetime: datetime
    activity_mbq: float
    source: str


@dataclass
class CycleStudy:
    """Everything read from one cycle folder."""

    folder: Path
    patient_id: str
    administration: AdministrationInfo
    planar: list[PlanarScan]
    spect: SpectScan | None
    ct: CtScan | None
    kidney_voi: sitk.Image | None
    planar_rois: dict[View, np.ndarray]
    flags: list[str] = field(default_factory=list)
    #: per kidney, the share of each SPECT voxel inside its VOI (z, y, x; 0–1), for the sums
    kidney_voi_fractions: dict[str, np.ndarray] = field(default_factory=dict)
    #: per kidney, the VOI's volume on its own grid (ml)
    kidney_voi_volumes_ml: dict[str, float] = field(default_factory=dict)
    #: Reasons that withhold this cycle's decision (a misplaced kidney VOI); also in ``flags``.
    withhold: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VoiOnGrid:
    """A VOI label map on a reference grid: the nearest-neighbour label map (for masks, shells
    and figures), the covered fraction of every voxel per label (for sums) and each label's
    volume on the VOI's own grid."""

    labels: sitk.Image
    fractions: dict[str, np.ndarray]
    volumes_ml: dict[str, float]


# -- generic tag helpers ---------------------------------------------------------------------------
def _get(ds: Dataset, keyword: str) -> Any:
    value = getattr(ds, keyword, None)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _require(ds: Dataset, keyword: str, path: Path, what: str) -> Any:
    value = _get(ds, keyword)
    if value is None:
        raise InputError(f"missing {keyword}: {what}", source=str(path), field=keyword)
    return value


def _parse_offset(text: str, path: Path, keyword: str) -> timezone:
    match = re.fullmatch(r"([+-])(\d{2})(\d{2})", text.strip())
    if not match:
        raise InputError(
            f"UTC offset {text!r} is not ±HHMM", source=str(path), field=keyword
        )
    sign = 1 if match.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def _parse_date(text: str, path: Path, keyword: str) -> date:
    try:
        return datetime.strptime(str(text).strip()[:8], "%Y%m%d").date()
    except ValueError:
        raise InputError(
            f"{text!r} is not a DICOM date (YYYYMMDD)", source=str(path), field=keyword
        ) from None


def _parse_time(text: str, path: Path, keyword: str) -> time:
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", str(text).strip())
    if not match:
        raise InputError(
            f"{text!r} is not a DICOM time (HHMMSS.FFFFFF)", source=str(path), field=keyword
        )
    hh, mm, ss, frac = match.groups()
    micro = int((frac or "0").ljust(6, "0"))
    return time(int(hh), int(mm or 0), int(ss or 0), micro)


def _localise(
    naive: datetime, ds: Dataset, path: Path, site_timezone: str | None, flags: list[str],
    keyword: str,
) -> datetime:
    """Attach the UTC offset: ``TimezoneOffsetFromUTC``, else the site zone (flagged)."""
    offset = _get(ds, "TimezoneOffsetFromUTC")
    if offset is not None:
        return naive.replace(tzinfo=_parse_offset(str(offset), path, "TimezoneOffsetFromUTC"))
    if site_timezone:
        aware = naive.replace(tzinfo=ZoneInfo(site_timezone))
        msg = (f"{path}: {keyword} has no UTC offset (no TimezoneOffsetFromUTC); "
               f"interpreted in the site time zone {site_timezone}")
        log.warning(msg)
        flags.append(msg)
        return aware
    raise InputError(
        f"{keyword} has no UTC offset and TimezoneOffsetFromUTC is missing; give the site time "
        f"zone (timezone option) so that times across days and DST changes are exact",
        source=str(path),
        field="TimezoneOffsetFromUTC",
    )


def parse_dicom_datetime(
    text: str, path: Path, keyword: str, ds: Dataset | None = None,
    site_timezone: str | None = None, flags: list[str] | None = None,
) -> datetime:
    """A DICOM DT value (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``) as a timezone-aware datetime."""
    text = str(text).strip()
    match = re.fullmatch(r"(\d{8})(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?", text)
    if not match:
        raise InputError(f"{text!r} is not a DICOM date-time", source=str(path), field=keyword)
    day = _parse_date(match.group(1), path, keyword)
    clock = _parse_time(match.group(2), path, keyword) if match.group(2) else time(0)
    naive = datetime.combine(day, clock)
    if match.group(3):
        return naive.replace(tzinfo=_parse_offset(match.group(3), path, keyword))
    return _localise(
        naive, ds or Dataset(), path, site_timezone, flags if flags is not None else [], keyword
    )


def acquisition_datetime(
    ds: Dataset, path: Path, *, site_timezone: str | None = None, flags: list[str] | None = None
) -> datetime:
    """Acquisition start as a timezone-aware datetime (see the module docstring)."""
    flags = flags if flags is not None else []
    dt = _get(ds, "AcquisitionDateTime")
    if dt is not None:
        return parse_dicom_datetime(str(dt), path, "AcquisitionDateTime", ds, site_timezone, flags)
    day, clock = _get(ds, "AcquisitionDate"), _get(ds, "AcquisitionTime")
    if day is None and clock is not None:
        raise InputError(
            f"only a time of day is given (AcquisitionTime {clock}) without AcquisitionDate or "
            f"AcquisitionDateTime; scans span several days, so the time after administration "
            f"cannot be computed",
            source=str(path),
            field="AcquisitionDate",
        )
    if day is None:
        raise InputError(
            "missing acquisition date and time (AcquisitionDateTime or AcquisitionDate + "
            "AcquisitionTime); the time after administration cannot be computed",
            source=str(path),
            field="AcquisitionDate",
        )
    if clock is None:
        raise InputError(
            "AcquisitionDate without AcquisitionTime; the time of day is needed to within minutes",
            source=str(path),
            field="AcquisitionTime",
        )
    naive = datetime.combine(
        _parse_date(str(day), path, "AcquisitionDate"),
        _parse_time(str(clock), path, "AcquisitionTime"),
    )
    return _localise(naive, ds, path, site_timezone, flags, "AcquisitionDate/AcquisitionTime")


# -- energy windows and views ----------------------------------------------------------------------
def energy_windows(ds: Dataset, path: Path) -> list[EnergyWindow]:
    """The energy windows of an NM object, in ``EnergyWindowVector`` numbering order."""
    seq = _get(ds, "EnergyWindowInformationSequence")
    if not seq:
        raise InputError(
            "no energy-window information: the photopeak and scatter windows cannot be identified",
            source=str(path),
            field="EnergyWindowInformationSequence",
        )
    out = []
    for n, item in enumerate(seq, start=1):
        ranges = _get(item, "EnergyWindowRangeSequence")
        if not ranges:
            raise InputError(
                f"energy window {n} has no EnergyWindowRangeSequence (lower/upper limits)",
                source=str(path),
                field="EnergyWindowRangeSequence",
            )
        low = _get(ranges[0], "EnergyWindowLowerLimit")
        up = _get(ranges[0], "EnergyWindowUpperLimit")
        if low is None or up is None or not float(up) > float(low) > 0:
            raise InputError(
                f"energy window {n} limits {low}–{up} keV are missing or invalid",
                source=str(path),
                field="EnergyWindowLowerLimit",
            )
        out.append(EnergyWindow(float(low), float(up), str(_get(item, "EnergyWindowName") or "")))
    return out


def window_roles(windows: list[EnergyWindow], path: Path, *, require_scatter: bool = True
                 ) -> dict[str, int]:
    """Indices (0-based) of the ``peak``, ``lower`` and ``upper`` windows (see module docstring)."""
    containing = [i for i, w in enumerate(windows) if w.contains(PHOTOPEAK_KEV)]
    if not containing:
        raise InputError(
            f"no energy window contains the {PHOTOPEAK_KEV:.1f} keV photopeak; windows: "
            + ", ".join(f"{w.lower_kev:g}–{w.upper_kev:g}" for w in windows),
            source=str(path),
            field="EnergyWindowRangeSequence",
        )
    peak = min(containing, key=lambda i: windows[i].width_kev)
    roles = {"peak": peak}
    p = windows[peak]
    match: Callable[[Any], bool]
    for role, match in (
        ("lower", lambda w: abs(w.upper_kev - p.lower_kev) <= ADJACENT_WINDOW_TOL_KEV),
        ("upper", lambda w: abs(w.lower_kev - p.upper_kev) <= ADJACENT_WINDOW_TOL_KEV),
    ):
        found = [i for i, w in enumerate(windows) if i != peak and match(w)]
        if found:
            roles[role] = found[0]
    if require_scatter and ("lower" not in roles or "upper" not in roles):
        raise InputError(
            f"no scatter windows adjacent to the photopeak {p.lower_kev:g}–{p.upper_kev:g} keV "
            f"for triple-energy-window correction",
            source=str(path),
            field="EnergyWindowInformationSequence",
        )
    return roles


def _view_of(item: Dataset) -> View | None:
    for code in _get(item, "ViewCodeSequence") or []:
        value = str(_get(code, "CodeValue") or "")
        if value in VIEW_CODES:
            return VIEW_CODES[value]
        meaning = str(_get(code, "CodeMeaning") or "").lower()
        for view in VIEWS:
            if view in meaning:
                return view
    return None


# -- indexing --------------------------------------------------------------------------------------
@dataclass
class _Entry:
    path: Path
    ds: Dataset


def index_dicom(folder: Path) -> list[_Entry]:
    """All DICOM files below ``folder`` (headers only); other files are skipped."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() in {".json", ".csv", ".yaml", ".yml", ".gz", ".nii", ".txt"}:
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        if _get(ds, "Modality") is None:
            continue
        entries.append(_Entry(path, ds))
    return entries


def _check_patient(entries: list[_Entry]) -> str:
    ids: dict[str, list[Path]] = defaultdict(list)
    for e in entries:
        ids[str(_get(e.ds, "PatientID") or "")].append(e.path)
    if len(ids) == 1:
        return next(iter(ids))
    majority = max(ids, key=lambda k: len(ids[k]))
    odd = [p for pid, paths in ids.items() if pid != majority for p in paths]
    # the IDs themselves are not shown: the message reaches reports, and a foreign ID is another
    # patient's identifier
    raise InputError(
        f"series from another patient: {len(odd)} file(s) carry a PatientID that differs from "
        f"the other {len(ids[majority])} files of this cycle (IDs not shown)",
        source=str(odd[0]),
        field="PatientID",
    )


# A kidney VOI should hold most of the SPECT counts of its neighbourhood (the VOI dilated by
# VOI_NEIGHBOURHOOD_MM). Measured on the demo virtual patient VP001 (4.8 mm voxels): 0.57 (left) and
# 0.62 (right) for the correct VOIs, 0.37–0.42 for VOIs shifted 2 cm in x or y. Below
# VOI_MIN_ACTIVITY_FRACTION the VOI is flagged as probably misplaced. These figures come from
# simulated images only; a site should confirm them on its own reconstructions.
VOI_NEIGHBOURHOOD_MM = 20.0
VOI_MIN_ACTIVITY_FRACTION = 0.5


# The CT outline of a kidney VOI. Body: HU above BODY_MIN_HU (air −1000, lung about −750; every
# tissue of the body is above −200). Kidney-density tissue: KIDNEY_HU_RANGE, around the
# unenhanced renal parenchyma (typically 20–50 HU; a textbook range, not a cited study) with room
# for noise and partial volume; fat (about −100 HU), gas and bone (> 300 HU) fall outside,
# muscle, liver and spleen (40–65 HU) inside, so a VOI moved onto a neighbouring organ of the same
# density is not caught by the CT alone. Measured on the demo virtual patients VP001–VP003 (4.8 mm
# voxels, noise σ 12 HU): 0.99–1.00 of the correct VOIs in the kidney range — by construction,
# since the virtual VOI is the phantom's kidney label —, 0.41–0.65 for VOIs shifted 2 cm in x or
# y (flagged), 0.82–0.91 for 2 cm along z (the kidney's long axis: not flagged). These figures come
# from simulated images only; a site should confirm them on its own CT, where partial volume at
# the kidney's edge lowers the fraction of a correct VOI.
BODY_MIN_HU = -500.0
KIDNEY_HU_RANGE = (0.0, 100.0)
VOI_MIN_BODY_FRACTION = 0.95
VOI_MIN_KIDNEY_HU_FRACTION = 0.7


def voi_ct_outline_flags(voi: sitk.Image, ct: sitk.Image, path: Path,
                         labels: dict[str, int] = KIDNEY_LABELS) -> list[str]:
    """Flags of kidney VOIs that do not lie on the kidney's CT outline (``voi`` on the SPECT
    grid; the CT in HU is resampled onto it, linear, −1000 HU outside).

    For each label the fractions of its voxels in the body, ``f_body = #(HU > BODY_MIN_HU)/n``,
    and in kidney-density tissue, ``f_kidney = #(HU ∈ KIDNEY_HU_RANGE)/n``; a flag when
    ``f_body < VOI_MIN_BODY_FRACTION`` or ``f_kidney < VOI_MIN_KIDNEY_HU_FRACTION``.
    """
    if _same_grid(ct, voi):
        hu = sitk.GetArrayViewFromImage(ct).astype(np.float64)
    else:
        hu = sitk.GetArrayFromImage(sitk.Resample(ct, voi, sitk.Transform(), sitk.sitkLinear,
                                                  -1000.0, sitk.sitkFloat32))
    arr = sitk.GetArrayViewFromImage(voi)
    lo, hi = KIDNEY_HU_RANGE
    flags = []
    for name, label in labels.items():
        values = hu[arr == label]
        if values.size == 0:
            continue
        body = float(np.mean(values > BODY_MIN_HU))
        kidney = float(np.mean((values >= lo) & (values <= hi)))
        if body < VOI_MIN_BODY_FRACTION:
            flags.append(f"{path.name}: {100 * (1 - body):.0f} % of the {name} kidney VOI "
                         f"(label {label}) lies outside the body on the CT (HU ≤ "
                         f"{BODY_MIN_HU:g}): misplaced VOI")
        elif kidney < VOI_MIN_KIDNEY_HU_FRACTION:
            flags.append(f"{path.name}: only {100 * kidney:.0f} % of the {name} kidney VOI "
                         f"(label {label}) lies in kidney-density tissue on the CT "
                         f"({lo:g}–{hi:g} HU; expected ≥ {100 * VOI_MIN_KIDNEY_HU_FRACTION:.0f} %"
                         f", median {float(np.median(values)):.0f} HU): misplaced VOI")
    return flags


def check_laterality(voi: sitk.Image, path: Path, labels: dict[str, int] = KIDNEY_LABELS) -> None:
    """The left kidney VOI must lie on the patient's left (+x in DICOM LPS) of the right one."""
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.Execute(sitk.Cast(voi, sitk.sitkUInt8))
    left_x = shape.GetCentroid(labels["left"])[0]
    right_x = shape.GetCentroid(labels["right"])[0]
    if not left_x > right_x:
        raise InputError(
            f"the left kidney VOI (label {labels['left']}, centroid x = {left_x:.0f} mm) is not on "
            f"the patient's left (+x, DICOM LPS) of the right kidney VOI (label "
            f"{labels['right']}, x = {right_x:.0f} mm): labels swapped?", source=str(path),
            field=f"label {labels['left']}")


def voi_activity_flags(voi: sitk.Image, spect: sitk.Image, path: Path,
                       labels: dict[str, int] = KIDNEY_LABELS) -> list[str]:
    """Flag a kidney VOI holding less than ``VOI_MIN_ACTIVITY_FRACTION`` of the SPECT counts in
    its ``VOI_NEIGHBOURHOOD_MM`` neighbourhood (``voi`` on the SPECT grid)."""
    counts = sitk.GetArrayViewFromImage(spect)
    flags = []
    radius = [max(1, int(round(VOI_NEIGHBOURHOOD_MM / s))) for s in voi.GetSpacing()]
    for name, label in labels.items():
        mask = sitk.Cast(voi == label, sitk.sitkUInt8)
        around = sitk.GetArrayFromImage(sitk.BinaryDilate(mask, radius)) > 0
        inside = sitk.GetArrayViewFromImage(mask) > 0
        total = float(counts[around].sum())
        if total <= 0:
            continue
        fraction = float(counts[inside].sum()) / total
        if fraction < VOI_MIN_ACTIVITY_FRACTION:
            flags.append(f"{path}: the {name} kidney VOI holds {100 * fraction:.0f} % of the SPECT "
                         f"counts within {VOI_NEIGHBOURHOOD_MM:g} mm of it (expected ≥ "
                         f"{100 * VOI_MIN_ACTIVITY_FRACTION:.0f} %): misplaced VOI?")
    return flags


def _image_types(ds: Dataset) -> list[str]:
    value = _get(ds, "ImageType") or []
    if isinstance(value, str):
        value = [value]
    return [str(v).upper() for v in value]


def _classify(entry: _Entry) -> str:
    modality = str(_get(entry.ds, "Modality")).upper()
    if modality == "CT":
        return "ct"
    if modality != "NM":
        return "other"
    types = _image_types(entry.ds)
    joined = " ".join(types)
    if "RECON" in joined and "TOMO" in joined:
        return "spect"
    if "WHOLE BODY" in types or "STATIC" in types:
        return "planar"
    return "other"


# -- readers ---------------------------------------------------------------------------------------
def read_planar_file(
    path: Path, *, site_timezone: str | None = None, flags: list[str] | None = None
) -> list[PlanarView]:
    """The views stored in one planar NM file (one or two detectors, frames per energy window)."""
    flags = flags if flags is not None else []
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise _unreadable(path, exc) from None
    windows = energy_windows(ds, path)
    roles = window_roles(windows, path)
    n_frames = int(_get(ds, "NumberOfFrames") or 1)
    try:
        pixels = ds.pixel_array.astype(np.float64)
    except Exception as exc:  # noqa: BLE001 — pydicom raises many types for damaged pixel data
        raise _unreadable(path, exc) from None
    if n_frames == 1:
        pixels = pixels[None]
    ew = _get(ds, "EnergyWindowVector")
    if ew is None:
        if n_frames != len(windows):
            raise InputError(
                "EnergyWindowVector missing and the frames do not map one-to-one to the windows",
                source=str(path), field="EnergyWindowVector",
            )
        ew = list(range(1, n_frames + 1))
    ew = [int(v) for v in (ew if isinstance(ew, (list, tuple, pydicom.multival.MultiValue))
                           else [ew])]
    det_vec = _get(ds, "DetectorVector")
    det_vec = [1] * n_frames if det_vec is None else [
        int(v) for v in (det_vec if isinstance(det_vec, (list, tuple, pydicom.multival.MultiValue))
                         else [det_vec])]
    if len(ew) != n_frames or len(det_vec) != n_frames:
        raise InputError(
            f"EnergyWindowVector/DetectorVector length differs from NumberOfFrames {n_frames}",
            source=str(path), field="EnergyWindowVector",
        )
    detectors = _get(ds, "DetectorInformationSequence") or []
    spacing = _get(ds, "PixelSpacing")
    if spacing is None:
        raise InputError("missing PixelSpacing", source=str(path), field="PixelSpacing")
    acquired = acquisition_datetime(ds, path, site_timezone=site_timezone, flags=flags)
    out = []
    for det in sorted(set(det_vec)):
        item = detectors[det - 1] if 0 < det <= len(detectors) else Dataset()
        view = _view_of(item)
        if view is None:
            raise InputError(
                f"detector {det} has no anterior/posterior ViewCodeSequence",
                source=str(path), field="ViewCodeSequence",
            )
        counts = {}
        for role, w_index in roles.items():
            frames = [f for f in range(n_frames) if det_vec[f] == det and ew[f] == w_index + 1]
            if len(frames) != 1:
                raise InputError(
                    f"expected one frame for detector {det}, energy window {w_index + 1}, "
                    f"found {len(frames)}", source=str(path), field="EnergyWindowVector",
                )
            counts[role] = pixels[frames[0]]
        ipp = _get(item, "ImagePositionPatient")
        iop = _get(item, "ImageOrientationPatient")
        exposure_s = planar_exposure_s(ds, item, path)
        out.append(
            PlanarView(
                path=path,
                view=view,
                counts=counts,
                windows={role: windows[i] for role, i in roles.items()},
                pixel_mm=(float(spacing[0]), float(spacing[1])),
                exposure_s=exposure_s,
                acquired=acquired,
                image_position_mm=None if ipp is None else np.asarray(ipp, float),
                image_orientation=None if iop is None else np.asarray(iop, float),
            )
        )
    return out


def is_whole_body(ds: Dataset) -> bool:
    """A whole-body sweep (ImageType value 3 ``WHOLE BODY`` or a ``WholeBodyTechnique``)."""
    return "WHOLE BODY" in _image_types(ds) or bool(_get(ds, "WholeBodyTechnique"))


def planar_exposure_s(ds: Dataset, detector: Dataset, path: Path) -> float:
    """Exposure time of each pixel of a planar view (s).

    A static view: ``ActualFrameDuration`` (ms). A whole-body sweep: every point of the body is
    under the detector for its axial field of view divided by the table speed,

        t_dwell = FOV_axial / ScanVelocity,

    with FOV_axial the second value of the detector's ``FieldOfViewDimensions`` (mm; DICOM gives
    the row dimension, across the patient, then the column dimension, along the scan) or its
    diameter for a ``ROUND`` field, and ``ScanVelocity`` in mm/s. ``ActualFrameDuration`` of a
    sweep is the duration of the whole scan in most vendors' files and is not used.
    """
    if not is_whole_body(ds):
        ms = _require(ds, "ActualFrameDuration", path, "the exposure time is needed for count "
                      "rates")
        if not float(ms) > 0:
            raise InputError(f"ActualFrameDuration {ms} ms: expected a positive exposure time",
                             source=str(path), field="ActualFrameDuration")
        return float(ms) / 1000.0
    velocity = _get(ds, "ScanVelocity")
    if velocity is None or not float(velocity) > 0:
        raise InputError(
            f"whole-body scan with ScanVelocity {velocity!r}: a positive table speed (mm/s) is "
            "needed, since the exposure of each pixel is the detector's axial field of view / "
            "ScanVelocity", source=str(path), field="ScanVelocity")
    fov = _get(detector, "FieldOfViewDimensions")
    if fov is None:
        raise InputError(
            "whole-body scan without the detector's FieldOfViewDimensions (mm) in "
            "DetectorInformationSequence: the exposure of each pixel is the axial field of view "
            "/ ScanVelocity", source=str(path), field="FieldOfViewDimensions")
    values = [float(v) for v in (fov if isinstance(fov, (list, tuple, pydicom.multival.MultiValue))
                                 else [fov])]
    shape = str(_get(detector, "FieldOfViewShape") or "RECTANGLE").upper()
    axial_mm = values[0] if shape == "ROUND" or len(values) == 1 else values[1]
    if not axial_mm > 0:
        raise InputError(f"FieldOfViewDimensions {values}: expected positive lengths (mm)",
                         source=str(path), field="FieldOfViewDimensions")
    return axial_mm / float(velocity)


def _rotation_duration_s(ds: Dataset, path: Path) -> float:
    seq = _get(ds, "RotationInformationSequence")
    if not seq:
        raise InputError(
            "missing RotationInformationSequence: the acquisition duration (ActualFrameDuration × "
            "NumberOfFramesInRotation) is needed to convert counts to count rates",
            source=str(path), field="RotationInformationSequence",
        )
    total = 0.0
    for item in seq:
        ms = _get(item, "ActualFrameDuration")
        n = _get(item, "NumberOfFramesInRotation")
        if ms is None or n is None or float(ms) <= 0 or int(n) <= 0:
            raise InputError(
                "RotationInformationSequence item lacks a positive ActualFrameDuration or "
                "NumberOfFramesInRotation", source=str(path), field="ActualFrameDuration",
            )
        total += float(ms) / 1000.0 * int(n)
    return total


def read_spect(
    path: Path, *, site_timezone: str | None = None, flags: list[str] | None = None
) -> SpectScan:
    """A reconstructed SPECT file (NM RECON TOMO) with its acquisition duration and window."""
    flags = flags if flags is not None else []
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    windows = energy_windows(ds, path)
    roles = window_roles(windows, path, require_scatter=False)
    corrected = [str(v).upper() for v in (_get(ds, "CorrectedImage") or [])]
    if "DECY" in corrected:
        raise InputError(
            "the reconstruction is decay-corrected (CorrectedImage DECY); counts at the "
            "acquisition time are required", source=str(path), field="CorrectedImage",
        )
    for_uid = _require(ds, "FrameOfReferenceUID", path, "SPECT and CT must share a frame of "
                       "reference")
    try:
        image = sitk.ReadImage(str(path), sitk.sitkFloat64)
    except RuntimeError as exc:  # ITK's reader: truncated or damaged file
        raise _unreadable(path, exc) from None
    if image.GetDimension() != 3:
        raise InputError("SPECT is not a 3-D image", source=str(path), field="NumberOfFrames")
    slope = _get(ds, "RescaleSlope")
    if slope is not None and float(slope) != 1.0:
        # GDCM applies the rescale for NM as well; a non-unit slope is already in the voxels. A
        # reader note for the log, not a clinical warning (nothing about the patient is doubtful).
        log.info("%s: RescaleSlope %s applied by the reader", path, slope)
    return SpectScan(
        path=path,
        image=image,
        acquisition_duration_s=_rotation_duration_s(ds, path),
        acquired=acquisition_datetime(ds, path, site_timezone=site_timezone, flags=flags),
        frame_of_reference_uid=str(for_uid),
        window=windows[roles["peak"]],
    )


def read_ct(entries: list[_Entry], *, site_timezone: str | None = None,
            flags: list[str] | None = None) -> CtScan:
    """A CT series (one file per slice), slices ordered along the slice normal."""
    first = entries[0]
    iop = np.asarray(_require(first.ds, "ImageOrientationPatient", first.path, "slice order"),
                     float)
    normal = np.cross(iop[:3], iop[3:])
    positions = []
    for e in entries:
        ipp = _require(e.ds, "ImagePositionPatient", e.path, "slice position")
        positions.append(float(np.dot(np.asarray(ipp, float), normal)))
    order = np.argsort(positions)
    paths = [entries[i].path for i in order]
    if len(set(np.round(np.asarray(positions), 3))) != len(positions):
        raise InputError("CT series has slices at the same position", source=str(first.path),
                         field="ImagePositionPatient")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in paths])
    reader.SetOutputPixelType(sitk.sitkFloat32)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise _unreadable(first.path.parent, exc) from None
    for_uid = _require(first.ds, "FrameOfReferenceUID", first.path, "SPECT and CT must share a "
                       "frame of reference")
    return CtScan(paths, image,
                  acquisition_datetime(first.ds, first.path, site_timezone=site_timezone,
                                       flags=flags),
                  str(for_uid))


def _administration_from_dicom(
    entries: list[_Entry], *, site_timezone: str | None, flags: list[str]
) -> tuple[datetime, float, Path] | None:
    """(start, activity as written, file) from the first NM file; all NM files must agree."""
    found: list[tuple[datetime, float, Path]] = []
    for e in entries:
        seq = _get(e.ds, "RadiopharmaceuticalInformationSequence")
        if not seq:
            continue
        item = seq[0]
        start = _get(item, "RadiopharmaceuticalStartDateTime")
        dose = _get(item, "RadionuclideTotalDose")
        if start is None or dose is None:
            continue
        when = parse_dicom_datetime(str(start), e.path, "RadiopharmaceuticalStartDateTime",
                                    e.ds, site_timezone, flags)
        found.append((when, float(dose), e.path))
    if not found:
        return None
    ref = found[0]
    for when, dose, path in found[1:]:
        if abs((when - ref[0]).total_seconds()) > 60 or not np.isclose(dose, ref[1], rtol=1e-3):
            raise InputError(
                f"administration {when.isoformat()} / {dose:g} differs from "
                f"{ref[0].isoformat()} / {ref[1]:g} in {ref[2]}",
                source=str(path), field="RadiopharmaceuticalInformationSequence",
            )
    return ref


def resolve_administration(
    dicom_value: tuple[datetime, float, Path] | None,
    cycle_record: dict[str, Any] | None,
    *,
    flags: list[str],
    activity_rtol: float = 0.05,
    time_tol_min: float = 15.0,
    record_source: str = "cycles.csv",
) -> AdministrationInfo:
    """Administration time and activity from DICOM and the cycle record, cross-checked.

    ``RadionuclideTotalDose`` is MBq for NM; a value above the plausible MBq range whose 10⁻⁶ is
    plausible is read as Bq — accepted (flagged) only if the cycle record confirms it. The cycle
    record wins when both are present (it is the reference of the measurement-level chain).
    """
    low, high = PLAUSIBLE_ADMINISTERED_MBQ
    rec_time = rec_act = None
    if cycle_record is not None:
        rec_time = cycle_record.get("administration_datetime")
        if rec_time is not None and not isinstance(rec_time, datetime):
            rec_time = datetime.fromisoformat(str(rec_time))
        if rec_time is not None and rec_time.tzinfo is None:
            raise InputError("administration_datetime has no UTC offset", source=record_source,
                             field="administration_datetime")
        rec_act = cycle_record.get("administered_activity_mbq")
        rec_act = None if rec_act is None else float(rec_act)
    if dicom_value is None:
        if rec_time is None or rec_act is None:
            raise InputError(
                "no administration in DICOM (RadiopharmaceuticalInformationSequence) and no "
                "cycle record", source=record_source, field="RadionuclideTotalDose",
            )
        return AdministrationInfo(rec_time, rec_act, record_source)
    when, dose, path = dicom_value
    activity = dose
    if not low <= dose <= high:
        as_mbq = dose / 1e6
        if low <= as_mbq <= high and rec_act is not None and np.isclose(
            as_mbq, rec_act, rtol=activity_rtol
        ):
            msg = (f"{path}: RadionuclideTotalDose {dose:g} is in Bq (PET convention), not MBq as "
                   f"the NM module specifies; converted to {as_mbq:.1f} MBq (confirmed by "
                   f"{record_source})")
            log.warning(msg)
            flags.append(msg)
            activity = as_mbq
        else:
            hint = " — this looks like Bq" if low <= as_mbq <= high else ""
            raise InputError(
                f"RadionuclideTotalDose {dose:g} is outside the plausible {low:g}–{high:g} MBq"
                f"{hint}; no cycle record confirms a unit conversion",
                source=str(path), field="RadionuclideTotalDose",
            )
    if rec_act is not None and not np.isclose(activity, rec_act, rtol=activity_rtol):
        raise InputError(
            f"administered activity {activity:.1f} MBq differs from {rec_act:.1f} MBq in "
            f"{record_source} by more than {activity_rtol:.0%}",
            source=str(path), field="RadionuclideTotalDose",
        )
    if rec_time is not None:
        minutes = abs((when - rec_time).total_seconds()) / 60.0
        if minutes > time_tol_min:
            raise InputError(
                f"administration time {when.isoformat()} differs from {rec_time.isoformat()} in "
                f"{record_source} by {minutes:.0f} min",
                source=str(path), field="RadiopharmaceuticalStartDateTime",
            )
        return AdministrationInfo(rec_time, rec_act if rec_act is not None else activity,
                                  record_source)
    return AdministrationInfo(when, activity, str(path))


# -- VOIs ------------------------------------------------------------------------------------------
def _same_grid(a: sitk.Image, b: sitk.Image, tol_mm: float = 1e-3) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tol_mm)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tol_mm)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    )


def voi_on_grid(voi: sitk.Image, reference: sitk.Image, path: Path,
                labels: dict[str, int] = KIDNEY_LABELS, *, min_inside: float = 0.98
                ) -> VoiOnGrid:
    """The VOI on the reference (SPECT) grid, every label checked (:mod:`.voi_geometry`).

    Refused: a label with no voxel, or a label of which less than ``min_inside`` of the voxels lie
    inside the reference field of view — decided in physical space, so that resampling cannot
    make a VOI that lies inside look "partly outside". A VOI on the reference grid is used as it
    is; on another grid its labels are resampled by nearest neighbour (masks, figures) and its
    covered fractions computed exactly (sums), with its volumes kept from its own grid.
    """
    volumes = label_volumes_ml(voi, labels)
    for name, vol in volumes.items():
        if vol <= 0:
            raise InputError(f"the {name} VOI (label {labels[name]}) is empty",
                             source=str(path), field=f"label {labels[name]}")
    if _same_grid(voi, reference):
        arr = sitk.GetArrayViewFromImage(voi)
        fractions = {name: (arr == lab).astype(np.float32) for name, lab in labels.items()}
        return VoiOnGrid(sitk.Cast(voi, sitk.sitkUInt8), fractions, volumes)
    for name, lab in labels.items():
        inside = fraction_inside(voi, reference, lab)
        if inside < min_inside:
            raise InputError(
                f"the {name} VOI (label {lab}, {volumes[name]:.1f} ml) lies "
                f"{'outside' if inside == 0 else 'partly outside'} the SPECT/CT field of view "
                f"({100 * inside:.0f} % of its voxels inside; at least {100 * min_inside:.0f} % "
                "expected)", source=str(path), field=f"label {lab}",
            )
    resampled = sitk.Resample(voi, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                              sitk.sitkUInt8)
    return VoiOnGrid(resampled, covered_fractions(voi, reference, labels), volumes)


def read_label_image(path: Path) -> sitk.Image:
    if not path.is_file():
        raise InputError("VOI file not found", source=str(path), field="path")
    if path.name.endswith(".gz"):
        # ITK reads a truncated gzip stream without an error (the missing voxels become 0)
        try:
            with gzip.open(path, "rb") as handle:
                while handle.read(1 << 20):
                    pass
        except (OSError, EOFError, zlib.error) as exc:
            raise _unreadable(path, exc) from None
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: BaseException) -> InputError:
    """A damaged or truncated image file, named, without the library's internals."""
    return InputError(f"cannot read the image data (truncated or damaged file? "
                      f"{type(exc).__name__})", source=str(path))


# -- the cycle -------------------------------------------------------------------------------------
def read_cycle_study(
    cycle_folder: str | Path,
    *,
    cycle_record: dict[str, Any] | None = None,
    site_timezone: str | None = None,
    kidney_voi: str = "voi/kidneys.nii.gz",
    planar_rois: dict[View, str] | None = None,
    require_spect: bool = True,
    kidney_voi_labels: Mapping[str, int] | None = None,
    kidney_roi_names: Mapping[str, Sequence[str]] | None = None,
) -> CycleStudy:
    """Read and check all acquisitions of one cycle (see the module docstring).

    Parameters
    ----------
    cycle_folder
        The cycle's folder; DICOM files anywhere below it are found by their tags.
    cycle_record
        The cycle's row of ``cycles.csv`` (``administration_datetime``,
        ``administered_activity_mbq``) for the cross-check; None to use DICOM only.
    site_timezone
        IANA zone name used for DICOM times without a UTC offset (flagged); None refuses them.
    kidney_voi, planar_rois
        Paths relative to the cycle folder of the kidney VOIs (a label map, one file per kidney
        with ``{side}`` in the path, or an RTSTRUCT: :mod:`iluminet.imaging.voi_input`; on any
        grid) and of the planar ROI label images per view (1/2 kidney, 3/4 background, in the
        view's stored orientation).
    kidney_voi_labels, kidney_roi_names
        The kidneys' label values in a label map (default 1 left, 2 right) and their ROI names in
        an RTSTRUCT (default :data:`iluminet.imaging.voi_input.DEFAULT_ROI_NAMES`).
    """
    folder = Path(cycle_folder)
    if not folder.is_dir():
        raise InputError("cycle folder not found", source=str(folder), field="cycle_folder")
    flags: list[str] = []
    entries = index_dicom(folder)
    if not entries:
        raise InputError("no DICOM file found", source=str(folder), field="dicom")
    patient_id = _check_patient(entries)
    groups: dict[str, list[_Entry]] = defaultdict(list)
    for e in entries:
        groups[_classify(e)].append(e)

    planar: list[PlanarScan] = []
    by_series: dict[str, list[PlanarView]] = defaultdict(list)
    planar_entries: dict[str, list[_Entry]] = defaultdict(list)
    for e in groups["planar"]:
        uid = str(_get(e.ds, "SeriesInstanceUID") or e.path)
        planar_entries[uid].append(e)
        by_series[uid].extend(read_planar_file(e.path, site_timezone=site_timezone, flags=flags))
    for uid, views in by_series.items():
        found = {v.view: v for v in views}
        if set(found) != set(VIEWS) or len(views) != 2:
            raise InputError(
                f"planar series needs exactly one anterior and one posterior view, found "
                f"{[v.view for v in views]}", source=str(views[0].path), field="ViewCodeSequence",
            )
        planar.append(PlanarScan(uid, min(v.acquired for v in views), found,
                                 series_info("planar", planar_entries[uid])))
    planar.sort(key=lambda s: s.acquired)

    spect = None
    if len(groups["spect"]) > 1:
        raise InputError(
            f"{len(groups['spect'])} SPECT reconstructions found; expected one per cycle",
            source=str(groups["spect"][1].path), field="SeriesInstanceUID",
        )
    if groups["spect"]:
        spect = read_spect(groups["spect"][0].path, site_timezone=site_timezone, flags=flags)
        spect.info = series_info("SPECT", groups["spect"][:1])
    elif require_spect:
        raise InputError("no SPECT reconstruction (NM, ImageType RECON TOMO) found",
                         source=str(folder), field="ImageType")

    ct = None
    ct_series: dict[str, list[_Entry]] = defaultdict(list)
    for e in groups["ct"]:
        ct_series[str(_get(e.ds, "SeriesInstanceUID"))].append(e)
    if ct_series:
        candidates = list(ct_series.values())
        if spect is not None and len(candidates) > 1:
            matching = [
                c
                for c in candidates
                if str(_get(c[0].ds, "FrameOfReferenceUID")) == spect.frame_of_reference_uid
            ]
            candidates = matching or candidates
        if len(candidates) > 1:
            raise InputError(f"{len(candidates)} CT series found and none is unambiguously the "
                             f"SPECT's attenuation CT", source=str(candidates[0][0].path),
                             field="SeriesInstanceUID")
        ct = read_ct(candidates[0], site_timezone=site_timezone, flags=flags)
        ct.info = series_info("CT", candidates[0])
        if spect is not None and ct.frame_of_reference_uid != spect.frame_of_reference_uid:
            raise InputError(
                f"SPECT and CT have different frames of reference ({spect.path.name}: "
                f"{spect.frame_of_reference_uid}; CT: {ct.frame_of_reference_uid}); they must be "
                f"acquired on one hybrid scanner or registered first",
                source=str(ct.paths[0]), field="FrameOfReferenceUID",
            )

    administration = resolve_administration(
        _administration_from_dicom(groups["planar"] + groups["spect"],
                                   site_timezone=site_timezone, flags=flags),
        cycle_record, flags=flags,
    )
    for scan in planar:
        if scan.acquired <= administration.datetime:
            raise InputError(
                f"planar scan at {scan.acquired.isoformat()} is not after the administration "
                f"{administration.datetime.isoformat()}",
                source=str(next(iter(scan.views.values())).path), field="AcquisitionDate",
            )

    voi = None
    fractions: dict[str, np.ndarray] = {}
    volumes: dict[str, float] = {}
    withhold: list[str] = []
    if spect is not None:
        label_map, voi_path = kidney_label_map(
            folder, kidney_voi, labels=kidney_voi_labels or KIDNEY_LABELS,
            roi_names=kidney_roi_names or DEFAULT_ROI_NAMES,
            ct_image=None if ct is None else ct.image)
        on_grid = voi_on_grid(label_map, spect.image, voi_path)
        voi, fractions, volumes = on_grid.labels, on_grid.fractions, on_grid.volumes_ml
        check_laterality(voi, voi_path)
        if ct is not None:
            withhold = voi_ct_outline_flags(voi, ct.image, voi_path)
            flags += withhold
        else:
            flags += voi_activity_flags(voi, spect.image, voi_path)
    rois: dict[View, np.ndarray] = {}
    roi_paths = planar_rois or {v: f"voi/planar_rois_{v}.nii.gz" for v in VIEWS}
    for view, rel in roi_paths.items():
        path = folder / rel
        arr = sitk.GetArrayFromImage(read_label_image(path)).astype(np.uint8)
        for scan in planar:
            shape = scan.views[view].counts["peak"].shape
            if arr.shape != shape:
                raise InputError(f"ROI image {arr.shape} differs from the planar matrix {shape}",
                                 source=str(path), field="shape")
        for side, labs in PLANAR_ROI_LABELS.items():
            for lab in labs:
                if not (arr == lab).any():
                    raise InputError(f"planar ROI label {lab} ({side}) is empty",
                                     source=str(path), field=f"label {lab}")
        rois[view] = arr
    return CycleStudy(folder, patient_id, administration, planar, spect, ct, voi, rois, flags,
                      fractions, volumes, withhold)

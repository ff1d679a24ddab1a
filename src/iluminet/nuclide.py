"""177Lu decay data and decay correction between timezone-aware datetimes.

Source: ICRP Publication 107, "Nuclear Decay Data for Dosimetric Calculations" (2008), Lu-177
record. The same data are carried by the ``radioactivedecay`` package (ICRP-107 dataset), which the
test suite uses as an oracle.

Imaging-photon yields are the ICRP-107 values (112.95 keV 6.40 %, 208.37 keV 11.0 %); more recent
evaluations (DDEP) give about 6.2 % and 10.4 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from iluminet.errors import InputError
from iluminet.units import HOURS_PER_DAY

KEV_TO_JOULE = 1.602176634e-16  # exact: 1 eV = 1.602176634e-19 J (SI 2019)


@dataclass(frozen=True)
class PhotonLine:
    """A gamma/X-ray emission line: energy (keV) and yield per decay."""

    energy_kev: float
    yield_per_decay: float


@dataclass(frozen=True)
class Nuclide:
    """Decay data of a radionuclide needed for dosimetry.

    Attributes
    ----------
    name
        Nuclide symbol, e.g. ``"Lu-177"``.
    half_life_h
        Physical half-life in hours.
    beta_mean_energy_kev
        Mean beta-minus energy emitted per decay (keV).
    conversion_electron_energy_kev, auger_electron_energy_kev
        Mean conversion- and Auger-electron energy per decay (keV).
    photon_energy_kev
        Total photon (gamma + X-ray) energy per decay (keV).
    imaging_lines
        The photopeaks used for imaging.
    source
        Where the numbers come from.
    """

    name: str
    half_life_h: float
    beta_mean_energy_kev: float
    conversion_electron_energy_kev: float
    auger_electron_energy_kev: float
    photon_energy_kev: float
    imaging_lines: tuple[PhotonLine, ...] = field(default_factory=tuple)
    source: str = ""

    @property
    def decay_constant_per_h(self) -> float:
        """λ = ln 2 / T½ in 1/h."""
        return math.log(2.0) / self.half_life_h

    @property
    def half_life_d(self) -> float:
        return self.half_life_h / HOURS_PER_DAY

    @property
    def electron_energy_kev(self) -> float:
        """Total electron energy per decay (beta + conversion + Auger), deposited locally in soft
        tissue."""
        return (
            self.beta_mean_energy_kev
            + self.conversion_electron_energy_kev
            + self.auger_electron_energy_kev
        )

    @property
    def electron_energy_j(self) -> float:
        """Total electron energy per decay in joule."""
        return self.electron_energy_kev * KEV_TO_JOULE


LU177 = Nuclide(
    name="Lu-177",
    half_life_h=6.647 * HOURS_PER_DAY,  # 159.528 h
    beta_mean_energy_kev=133.27,
    conversion_electron_energy_kev=13.52,
    auger_electron_energy_kev=1.13,
    photon_energy_kev=35.10,
    imaging_lines=(PhotonLine(112.9498, 0.0640), PhotonLine(208.3662, 0.110)),
    source="ICRP Publication 107 (2008), Lu-177",
)


def hours_between(start: datetime, end: datetime, *, source: str | None = None,
                  field_name: str | None = None) -> float:
    """Elapsed time from ``start`` to ``end`` in hours.

    Both datetimes must be timezone-aware (DICOM date + time + offset, or a local zone applied on
    reading): a naive datetime could silently be off by the UTC offset or a daylight-saving change.
    """
    for value, label in ((start, "start"), (end, "end")):
        if not isinstance(value, datetime):
            raise InputError(f"{label} time must be a datetime, got {type(value).__name__}",
                             source=source, field=field_name)
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise InputError(
                f"{label} time {value.isoformat()} has no timezone; give date, time and UTC offset",
                source=source, field=field_name)
    # Convert to UTC first: Python subtracts two datetimes that share a tzinfo object by wall
    # clock, which is an hour off across a daylight-saving change.
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600.0


def decay_factor(elapsed_h: float, nuclide: Nuclide = LU177) -> float:
    """Fraction of activity left after ``elapsed_h`` hours: exp(−λ t). Negative times give > 1."""
    return math.exp(-nuclide.decay_constant_per_h * elapsed_h)


def decay_correct(activity: float, measured_at: datetime, reference: datetime,
                  nuclide: Nuclide = LU177) -> float:
    """Activity at ``reference`` of a source that had ``activity`` at ``measured_at``.

    Works in either direction (reference before or after the measurement); the unit of the result
    is the unit of ``activity``.
    """
    return activity * decay_factor(hours_between(measured_at, reference), nuclide)

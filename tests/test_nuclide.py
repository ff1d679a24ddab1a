"""177Lu decay data against ICRP-107 as carried by independent packages; decay correction."""

from __future__ import annotations

import json
import math
import pathlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
import radioactivedecay
from hypothesis import given
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.nuclide import LU177, decay_correct, decay_factor, hours_between


def icrp107_emissions() -> dict:
    from icrp107_database import utility

    path = pathlib.Path(utility.__file__).parent / "icrp107" / "Lu-177.json"
    return json.loads(json.loads(path.read_text()))["emissions"]


def mean_energy_kev(kind: str) -> float:
    return 1000.0 * sum(
        energy_mev * per_decay for energy_mev, per_decay in icrp107_emissions()[kind]
    )


def test_half_life_equals_radioactivedecay_icrp107():
    assert radioactivedecay.DEFAULTDATA.dataset_name == "icrp107_ame2020_nubase2020"
    assert LU177.half_life_h == pytest.approx(radioactivedecay.Nuclide("Lu-177").half_life("h"),
                                              rel=1e-12)
    assert LU177.half_life_h == pytest.approx(159.528, abs=1e-9)


@pytest.mark.parametrize("attribute, kinds", [
    ("beta_mean_energy_kev", ["beta-"]),
    ("conversion_electron_energy_kev", ["IE"]),
    ("auger_electron_energy_kev", ["auger"]),
    ("photon_energy_kev", ["gamma", "X"]),
])
def test_mean_energies_equal_icrp107_database(attribute, kinds):
    expected = sum(mean_energy_kev(kind) for kind in kinds)
    assert getattr(LU177, attribute) == pytest.approx(expected, abs=0.006)


def test_total_electron_energy_matches_reference():
    assert LU177.electron_energy_kev == pytest.approx(147.92, abs=1e-9)


def test_imaging_lines_equal_icrp107_yields():
    gammas = {
        round(energy * 1000, 1): per_decay for energy, per_decay in icrp107_emissions()["gamma"]
    }
    for line in LU177.imaging_lines:
        assert gammas[round(line.energy_kev, 1)] == pytest.approx(line.yield_per_decay, rel=1e-9)


def test_decay_over_one_half_life_and_across_midnight_and_dst():
    stockholm_winter = timezone(timedelta(hours=1))
    stockholm_summer = timezone(timedelta(hours=2))
    given_at = datetime(2024, 3, 30, 23, 0, tzinfo=stockholm_winter)
    scanned = datetime(2024, 3, 31, 23, 0, tzinfo=stockholm_summer)  # across midnight and DST
    assert hours_between(given_at, scanned) == pytest.approx(23.0)
    assert decay_factor(LU177.half_life_h) == pytest.approx(0.5, rel=1e-12)
    later = given_at + timedelta(hours=LU177.half_life_h)
    assert decay_correct(7400.0, given_at, later) == pytest.approx(3700.0, rel=1e-12)
    assert decay_correct(3700.0, later, given_at) == pytest.approx(7400.0, rel=1e-12)


def test_same_zone_across_daylight_saving_change_counts_real_hours():
    """Regression: two datetimes sharing one ZoneInfo were subtracted by wall clock (169 h)."""
    from zoneinfo import ZoneInfo

    stockholm = ZoneInfo("Europe/Stockholm")
    given_at = datetime(2024, 3, 29, 10, 0, tzinfo=stockholm)   # CET, UTC+1
    scanned = datetime(2024, 4, 5, 11, 0, tzinfo=stockholm)     # CEST, UTC+2
    assert hours_between(given_at, scanned) == pytest.approx(168.0)
    assert decay_correct(100.0, given_at, scanned) == pytest.approx(100.0 * 2 ** (-168 / 159.528))


def test_naive_datetime_is_refused():
    aware = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(InputError, match="scan.dcm: field 'AcquisitionTime'.*no timezone"):
        hours_between(aware, datetime(2024, 1, 2), source="scan.dcm", field_name="AcquisitionTime")


@given(st.floats(-500, 2000), st.floats(-500, 2000))
def test_decay_factor_is_multiplicative(t1, t2):
    assert decay_factor(t1 + t2) == pytest.approx(decay_factor(t1) * decay_factor(t2), rel=1e-9)
    assert decay_factor(t1) == pytest.approx(math.exp(-math.log(2) * t1 / 159.528), rel=1e-12)

"""blood_samples.csv / whole_body_activity.csv validation and the marrow line of the decision."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iluminet.errors import InputError
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.marrow_records import read_blood_samples
from iluminet.patient.planning import Action
from iluminet.patient.records import load_patient

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "patients"


def _patient(tmp_path: Path) -> Path:
    if not (DEMO / "P001").is_dir():
        pytest.skip("demo data not generated (make run)")
    folder = tmp_path / "P001"
    shutil.copytree(DEMO / "P001", folder)
    for name in ("blood_samples.csv", "whole_body_activity.csv"):  # each test writes its own
        (folder / name).unlink(missing_ok=True)
    return folder


def _blood_rows(record, times_h=(0.5, 2.0, 6.0, 24.0, 96.0, 168.0), hct=0.40) -> list[str]:
    rows = ["cycle,sample_datetime,activity_concentration_kbq_per_ml,haematocrit"]
    for _, c in record.cycles.iterrows():
        t0 = c["administration_datetime"]
        for t in times_h:
            conc = 1000 * (1.0 * np.exp(-0.8 * t) + 0.015 * np.exp(-0.012 * t))
            rows.append(f"{int(c['cycle'])},{(t0 + pd.Timedelta(hours=t)).isoformat()},"
                        f"{conc:.4f},{hct}")
    return rows


def test_bad_blood_samples_name_file_row_field(tmp_path: Path) -> None:
    folder = _patient(tmp_path)
    record = load_patient(folder)
    rows = _blood_rows(record)
    path = folder / "blood_samples.csv"
    swapped = rows.copy()
    swapped[2], swapped[3] = rows[3], rows[2]
    path.write_text("\n".join(swapped) + "\n")
    with pytest.raises(InputError,
                       match=r"blood_samples.csv: field 'sample_datetime': row 3.*time order"):
        read_blood_samples(path, record.cycles)
    bad = rows.copy()
    bad[4] = bad[4].rsplit(",", 1)[0] + ",42"
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(InputError,
                       match=r"blood_samples.csv: field 'haematocrit': row 4.*0.1–0.7.*percentage"):
        read_blood_samples(path, record.cycles)
    bad[4] = bad[4].rsplit(",", 1)[0] + ",0.75"
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(InputError, match=r"field 'haematocrit': row 4"):
        read_blood_samples(path, record.cycles)
    bad[4] = bad[4].replace("+01:00", "").replace("+02:00", "")
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(InputError, match=r"field 'sample_datetime': row 4.*UTC offset"):
        read_blood_samples(path, record.cycles)


def test_chain_shows_marrow_beside_kidney_bed(tmp_path: Path, default_params) -> None:
    folder = _patient(tmp_path)
    record = load_patient(folder)
    (folder / "blood_samples.csv").write_text("\n".join(_blood_rows(record)) + "\n")
    without = run_patient_dosimetry(record, default_params)
    assert without.marrow_ is not None
    table = without.marrow_.cycles_
    assert len(table) == len(record.cycles) and np.all(table["dose_gy"] > 0)
    assert np.allclose(table["cumulative_dose_gy"], np.cumsum(table["dose_gy"]))
    line = [r for r in without.decision_.reasons if "red-marrow" in r]
    assert line and "advisory" in line[0]
    assert all(np.isnan(table["tia_rb_mbq_h"]))  # no whole-body file: flagged, no cross-dose
    assert "cross-dose" in table["flags"].iloc[0]
    # an enforced limit the patient exceeds stops a decision that would give a cycle
    params = {**default_params, "protocol": {**default_params["protocol"],
                                             "marrow_limit": {"limit_gy": 0.01, "enforced": True}}}
    stopped = run_patient_dosimetry(record, params)
    if without.decision_.gives_cycle:
        assert stopped.decision_.action == Action.STOP_AT_LIMIT
    assert any("would be exceeded" in r for r in stopped.decision_.reasons)
    # and is advice only when not enforced
    advisory = {**default_params, "protocol": {**default_params["protocol"],
                                               "marrow_limit": {"limit_gy": 0.01,
                                                                "enforced": False}}}
    assert run_patient_dosimetry(record, advisory).decision_.action == without.decision_.action


def test_whole_body_activity_gives_cross_dose(tmp_path: Path, default_params) -> None:
    folder = _patient(tmp_path)
    record = load_patient(folder)
    (folder / "blood_samples.csv").write_text("\n".join(_blood_rows(record)) + "\n")
    rows = ["cycle,scan_datetime,whole_body_activity_mbq,organs_activity_mbq"]
    for _, c in record.cycles.iterrows():
        a = float(c["administered_activity_mbq"])
        for t in (1.0, 24.0, 96.0, 168.0):
            wb = a * (0.6 * np.exp(-0.3 * t) + 0.4 * np.exp(-np.log(2) / 80 * t))
            when = (c["administration_datetime"] + pd.Timedelta(hours=t)).isoformat()
            rows.append(f"{int(c['cycle'])},{when},{wb:.2f},{0.1 * wb:.2f}")
    (folder / "whole_body_activity.csv").write_text("\n".join(rows) + "\n")
    result = run_patient_dosimetry(record, default_params).marrow_
    assert result is not None
    assert np.all(result.cycles_["cross_dose_gy"] > 0)
    assert not any("cross-dose" in f for f in result.cycles_["flags"])


def test_image_based_marrow_from_marrow_spect_csv_known_answer(tmp_path: Path,
                                                              default_params) -> None:
    """Mono-exponential blood c(t) = c0·e^(−λt) and a vertebral level A at t_s: the image-based
    TIA is A/f · ∫c dt / c(t_s) = A/f · e^(λ t_s)/λ (f the reference L2–L4 marrow fraction)."""
    from iluminet.patient.marrow import VERTEBRAL_MARROW_FRACTIONS

    folder = _patient(tmp_path)
    record = load_patient(folder)
    lam = np.log(2) / 30.0
    rows = ["cycle,sample_datetime,activity_concentration_kbq_per_ml,haematocrit"]
    spect = ["cycle,scan_datetime,vertebral_marrow_activity_mbq,skeletal_lesion"]
    for _, c in record.cycles.iterrows():
        t0 = c["administration_datetime"]
        for t in (1.0, 4.0, 24.0, 72.0):
            rows.append(f"{int(c['cycle'])},{(t0 + pd.Timedelta(hours=t)).isoformat()},"
                        f"{20.0 * np.exp(-lam * t):.9f},0.4")
        lesion = "true" if int(c["cycle"]) == 1 else "false"
        spect.append(f"{int(c['cycle'])},{(t0 + pd.Timedelta(hours=24)).isoformat()},2.0,{lesion}")
    (folder / "blood_samples.csv").write_text("\n".join(rows) + "\n")
    (folder / "marrow_spect.csv").write_text("\n".join(spect) + "\n")
    params = {**default_params, "analysis": {**default_params["analysis"], "marrow": {
        **default_params["analysis"]["marrow"], "blood_model": "mono"}}}
    result = run_patient_dosimetry(record, params).marrow_
    assert result is not None
    table = result.cycles_
    f = VERTEBRAL_MARROW_FRACTIONS["L2-L4"]
    expected = 2.0 / f * np.exp(lam * 24.0) / lam
    np.testing.assert_allclose(table["image_tia_rm_mbq_h"], expected, rtol=1e-6)
    np.testing.assert_allclose(table["image_dose_gy"],
                               expected * result.s_values.rm_from_rm / 1000.0, rtol=1e-6)
    assert table["skeletal_lesion"].tolist()[0] is True
    assert any("skeletal lesion" in flag for flag in result.flags)
    # the limit still uses the blood-based dose
    assert np.allclose(table["cumulative_dose_gy"], np.cumsum(table["dose_gy"]))


def test_bad_marrow_spect_rows_are_named(tmp_path: Path) -> None:
    from iluminet.patient.marrow_records import read_marrow_spect

    folder = _patient(tmp_path)
    record = load_patient(folder)
    t0 = record.cycles["administration_datetime"].iloc[0]
    path = folder / "marrow_spect.csv"
    head = "cycle,scan_datetime,vertebral_marrow_activity_mbq,skeletal_lesion"
    good = f"1,{(t0 + pd.Timedelta(hours=24)).isoformat()},2.0,false"
    later = f"1,{(t0 + pd.Timedelta(hours=48)).isoformat()},1.5,false"
    path.write_text(f"{head}\n{good}\n{later}\n")
    with pytest.raises(InputError, match=r"marrow_spect.csv: field 'cycle': row 2.*second row"):
        read_marrow_spect(path, record.cycles)
    path.write_text(f"{head}\n{good.replace(',2.0,', ',-1,')}\n")
    with pytest.raises(InputError,
                       match=r"field 'vertebral_marrow_activity_mbq': row 1.*> 0 MBq"):
        read_marrow_spect(path, record.cycles)
    path.write_text(f"{head}\n{good.replace('false', 'maybe')}\n")
    with pytest.raises(InputError, match=r"field 'skeletal_lesion': row 1"):
        read_marrow_spect(path, record.cycles)

"""A site extends the clinical adverse-event vocabulary (``safety.site_ae_terms``), validated."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from iluminet.config.params import load_config
from iluminet.errors import InputError
from iluminet.trial import read_cohort, safety
from iluminet.trial.preflight import clinical_vocabulary, preflight_cohort
from iluminet.workbook import runner

SITE = {"mucositis": "Mucositis (oral)"}


@pytest.fixture()
def cohort(demo_cohort_copy) -> Path:
    target = demo_cohort_copy
    table = pd.read_csv(target / "adverse_events.csv", dtype=str, keep_default_na=False)
    table.loc[0, "term"] = "mucositis"
    table.to_csv(target / "adverse_events.csv", index=False)
    return target


def test_a_site_term_is_refused_without_the_site_vocabulary(cohort):
    with pytest.raises(InputError, match="unknown adverse event term 'mucositis'.*"
                                         "safety.site_ae_terms") as info:
        preflight_cohort(cohort)
    assert info.value.source.endswith("adverse_events.csv") and info.value.field == "term"


def test_a_site_term_is_accepted_and_labelled_with_the_site_vocabulary(cohort):
    data = preflight_cohort(cohort, site_ae_terms=SITE)
    p = safety.SafetyParameters(site_ae_terms=SITE)
    r = safety.safety_analysis(data.patients, data.cycles, data.events, data.labs,
                               data.adverse_events, parameters=p)
    rows = r.table2[r.table2["term"] == "mucositis"]
    period = r.clinical_events.loc[r.clinical_events["term"] == "mucositis", "period"]
    assert period.notna().all()  # the first AE row lies in a period: it is counted
    assert list(rows["label"].unique()) == ["Mucositis (oral)"]
    assert not rows["in_paper"].any()
    assert r.to_dict()["parameters"]["site_ae_terms"] == SITE


def test_a_misspelt_term_is_still_refused_beside_the_site_vocabulary(cohort):
    table = pd.read_csv(cohort / "adverse_events.csv", dtype=str, keep_default_na=False)
    table.loc[1, "term"] = "mucositsi"
    table.to_csv(cohort / "adverse_events.csv", index=False)
    with pytest.raises(InputError, match="did you mean 'mucositis'"):
        preflight_cohort(cohort, site_ae_terms=SITE)


def test_a_site_term_that_is_already_known_is_an_error():
    with pytest.raises(InputError, match="already in the vocabulary") as info:
        clinical_vocabulary({"fatigue": "Tiredness"})
    assert info.value.field == "safety.site_ae_terms.fatigue"
    assert clinical_vocabulary(SITE) >= {"mucositis", "fatigue"}


@pytest.mark.parametrize("terms", [{"Mucositis": "M"}, {"oral mucositis": "M"}, {"x": ""},
                                   {"x": 3}])
def test_site_terms_are_validated_in_the_parameters(terms):
    with pytest.raises(InputError, match="site_ae_terms"):
        load_config(overrides={"safety": {"site_ae_terms": terms}}, sections=("safety",))


def test_the_cohort_runner_hands_the_site_terms_to_the_preflight():
    assert runner._site_ae_terms({}) == {}
    assert runner._site_ae_terms({"safety": {"site_ae_terms": SITE}}) == SITE


def test_demo_cohort_unchanged_without_site_terms(workbook_root):
    source = workbook_root / "data" / "demo" / "cohort"
    if not (source / "patients.csv").is_file():
        pytest.skip("demo cohort not generated (iluminet demo)")
    assert len(preflight_cohort(source).patients) == len(read_cohort(source).patients)

"""The vocabulary of the cohort's safety tables: column names, lab units and the clinical
adverse-event terms with their printed labels.

It belongs to the trial analysis (the tables of a real trial use it); the synthetic trial generator
(:mod:`iluminet.synthetic.trial.safety`) writes its tables with the same vocabulary by importing it
from here, never the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["AE_COLUMNS", "CANONICAL_UNITS", "CLINICAL_LABELS", "LAB_COLUMNS", "TEST_UNITS"]

#: Columns of ``labs.csv``.
LAB_COLUMNS: tuple[str, ...] = ("patient_id", "date", "test", "value", "unit", "lln", "uln")
#: Columns of ``adverse_events.csv``.
AE_COLUMNS: tuple[str, ...] = ("patient_id", "onset_date", "term", "grade")

#: The unit each lab test is analysed in (values in other accepted units are converted to it).
CANONICAL_UNITS: Mapping[str, str] = {
    "hemoglobin": "g/L", "platelets": "10^9/L", "neutrophils": "10^9/L", "wbc": "10^9/L",
    "lymphocytes": "10^9/L", "alt": "U/L", "ast": "U/L", "alp": "U/L", "bilirubin": "umol/L",
    "creatinine": "umol/L", "egfr": "ml/min/1.73m2", "measured_gfr": "ml/min",
}

_COUNT = {"10^9/l": 1.0, "10^3/ul": 1.0, "10^3/mm3": 1.0, "k/ul": 1.0, "/nl": 1.0,
          "/mm3": 1e-3, "/ul": 1e-3, "10^6/l": 1e-3}
_ENZYME = {"u/l": 1.0, "iu/l": 1.0, "ukat/l": 60.0, "nkat/l": 0.06}
_GFR = {"ml/min": 1.0, "ml/min/1.73m2": 1.0, "ml/min/1.73": 1.0, "ml/s": 60.0,
        "ml/s/1.73m2": 60.0, "ml/s/1.73": 60.0}
#: Accepted units per test (normalised as :func:`iluminet.trial.ctcae.normalise_unit`) and the
#: factor to the canonical unit (g/L, 10^9/L, U/L, µmol/L, ml/min).
TEST_UNITS: Mapping[str, Mapping[str, float]] = {
    "hemoglobin": {"g/l": 1.0, "g/dl": 10.0, "g/100ml": 10.0},
    "platelets": _COUNT, "neutrophils": _COUNT, "wbc": _COUNT, "lymphocytes": _COUNT,
    "alt": _ENZYME, "ast": _ENZYME, "alp": _ENZYME,
    "bilirubin": {"umol/l": 1.0, "mmol/l": 1000.0, "mg/dl": 17.1, "mg/l": 1.71},
    "creatinine": {"umol/l": 1.0, "mmol/l": 1000.0, "mg/dl": 88.42, "mg/l": 8.842},
    "egfr": _GFR, "measured_gfr": _GFR,
}

#: Printed label of each clinical adverse-event term (the wording of the paper's Table 2).
CLINICAL_LABELS: Mapping[str, str] = {
    "fatigue": "Fatigue",
    "nausea_vomiting": "Nausea/Vomiting",
    "pain": "Pain",
    "diarrhea": "Diarrhea",
    "abdominal_pain": "Abdominal pain",
    "flushing": "Flushing",
    "alopecia": "Alopecia",
    "constipation": "Constipation",
    "depression": "Depression",
    "infection": "Infection",
    "ileus": "Ileus",
    "thromboembolic_event": "Thromboembolic disease",
    "weight_loss": "Weight loss",
    "biliary_tract_infection": "Biliary tract infection",
    "dehydration": "Dehydration",
    "myelodysplastic_syndrome": "Myelodysplastic syndrome",
    "acute_myeloid_leukemia": "Acute myeloid leukemia",
}

"""Every check of the cohort tables, run before any cohort report is replaced.

:func:`iluminet.trial.schema.read_cohort` checks each table's types, ranges and cross-references.
The cohort notebooks add more checks of their own (laboratory units and tests in the safety
analysis); run one notebook after the other and a defect found by the second leaves the first's
report already replaced by results from tables that are then refused. :func:`preflight_cohort`
runs all of them first, plus the checks no single analysis owns:

* at least one treated patient (an empty cohort is an error, not an "ok" empty report);
* no date after the data cut-off (today by default): a future date is a typing error;
* every per-cycle kidney BED in a plausible range (at most ``cycle_bed_max_gy``);
* every clinical adverse event term in the vocabulary of the analysis (a misspelt term would
  otherwise become its own Table 2 row), with the nearest known term suggested; a site extends
  the vocabulary with ``safety.site_ae_terms`` (term → Table 2 label, ``params/safety.yaml`` or
  ``params/site.yaml``; :func:`clinical_vocabulary`);
* no clinical adverse event before the patient's first cycle (clinical AEs are counted from the
  first administration; a baseline symptom is not an adverse event of the treatment).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.scalars import as_timestamp
from iluminet.trial import ctcae, safety
from iluminet.trial.schema import TABLES, Cohort, read_cohort
from iluminet.trial.vocabulary import CLINICAL_LABELS

#: Clinical AE terms the safety analysis knows: the vocabulary's clinical terms
#: (:data:`iluminet.trial.vocabulary.CLINICAL_LABELS`), the ILUMINET Table 2 rows, the late
#: haematological malignancies and the laboratory-graded CTCAE terms.
CLINICAL_AE_TERMS: frozenset[str] = frozenset(
    set(CLINICAL_LABELS)
    | set(safety.PAPER_TABLE2.loc[safety.PAPER_TABLE2["category"] == "clinical", "term"])
    | set(safety.HAEMATOLOGICAL_MALIGNANCIES) | set(ctcae.TERMS))

#: Per-cycle kidney BED above which a cycle is not plausible (Gy); the same figure as
#: ``analysis.plausibility.cycle_bed_max_gy`` of the per-patient interlocks.
CYCLE_BED_MAX_GY = 15.0


def clinical_vocabulary(site_ae_terms: Mapping[str, str] | None = None) -> frozenset[str]:
    """The clinical AE terms accepted: :data:`CLINICAL_AE_TERMS` and the site's own terms.

    A site term must be new: one already in the vocabulary (a label given to a known term, or a
    term spelt like one) is an :class:`InputError` naming ``safety.site_ae_terms.<term>``.
    """
    site = dict(site_ae_terms or {})
    for term, label in site.items():
        if term in CLINICAL_AE_TERMS:
            raise InputError(f"{term!r} is already in the vocabulary (as "
                             f"{CLINICAL_LABELS.get(term, term)!r}); list only new terms",
                             source="params: safety.site_ae_terms",
                             field=f"safety.site_ae_terms.{term}")
        if not isinstance(label, str) or not label.strip():
            raise InputError(f"expected a printed label for {term!r}, got {label!r}",
                             source="params: safety.site_ae_terms",
                             field=f"safety.site_ae_terms.{term}")
    return CLINICAL_AE_TERMS | frozenset(site)


def _fail(folder: Path, table: str, row: int, column: str, message: str) -> InputError:
    return InputError(f"row {row}: {message}", source=str(folder / TABLES[table].file_name),
                      field=column)





def preflight_cohort(folder: str | Path, *, cutoff: date | None = None,
                     cycle_bed_max_gy: float = CYCLE_BED_MAX_GY,
                     site_ae_terms: Mapping[str, str] | None = None) -> Cohort:
    """Read the cohort in ``folder`` and run every check (see the module docstring).

    Parameters
    ----------
    folder
        The cohort folder (``data/<trial>/cohort``).
    cutoff
        The data cut-off date; no date may lie after it. Default: today (UTC).
    cycle_bed_max_gy
        The largest plausible per-cycle kidney BED.
    site_ae_terms
        The site's clinical AE terms beyond the vocabulary (``safety.site_ae_terms``).

    Raises
    ------
    InputError
        The first defect, naming the table file, the 1-based row and the column.
    """
    folder = Path(folder)
    vocabulary = clinical_vocabulary(site_ae_terms)
    cohort = read_cohort(folder)
    cutoff = cutoff or datetime.now(UTC).date()
    treated = cohort.patients[cohort.patients["treated"].astype(bool)] \
        if len(cohort.patients) else cohort.patients
    if not len(treated):
        raise InputError("empty cohort: no treated patient; a safety or efficacy report of "
                         "nobody is not a result",
                         source=str(folder / TABLES["patients"].file_name))
    limit = pd.Timestamp(cutoff)
    for name, table in cohort.tables().items():
        for spec in TABLES[name].columns:
            if spec.dtype != "date" or not len(table):
                continue
            values = pd.to_datetime(table[spec.name], errors="coerce")
            late = (values.notna() & (values > limit)).to_numpy()
            if late.any():
                row = int(np.argmax(late))
                raise _fail(folder, name, row + 1, spec.name,
                            f"{values.iloc[row].date().isoformat()} is after the data cut-off "
                            f"{cutoff.isoformat()} (a future date)")
    beds = cohort.cycles["kidney_bed_gy"].astype(float)
    implausible = (beds.notna() & (beds > cycle_bed_max_gy)).to_numpy()
    if implausible.any():
        row = int(np.argmax(implausible))
        raise _fail(folder, "cycles", row + 1, "kidney_bed_gy",
                    f"{beds.iloc[row]:g} Gy in one cycle is above the plausible "
                    f"{cycle_bed_max_gy:g} Gy (a unit error?)")
    if len(cohort.labs):
        safety.validate_labs(cohort.labs, cohort.patients,
                             source=str(folder / TABLES["labs"].file_name))
    events = cohort.adverse_events.reset_index(drop=True)
    first_cycle = cohort.cycles.groupby("patient_id")["administration_date"].min()
    for i, event in enumerate(events.itertuples(index=False), start=1):
        term = str(event.term)
        if term not in vocabulary:
            near = difflib.get_close_matches(term, sorted(vocabulary), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise _fail(folder, "adverse_events", i, "term",
                        f"unknown adverse event term {term!r}{hint} (known: "
                        f"{', '.join(sorted(vocabulary))}; a site adds its own terms with "
                        "safety.site_ae_terms in params/site.yaml)")
        start = first_cycle.get(event.patient_id)
        if start is None or pd.isna(start):
            raise _fail(folder, "adverse_events", i, "patient_id",
                        f"adverse event of patient {event.patient_id!r}, who has no cycle")
        if as_timestamp(event.onset_date) < as_timestamp(start):
            raise _fail(folder, "adverse_events", i, "onset_date",
                        f"{as_timestamp(event.onset_date).date().isoformat()} is before the first "
                        f"cycle {as_timestamp(start).date().isoformat()} of patient "
                        f"{event.patient_id!r}; a symptom before treatment is not an adverse event "
                        "of it")
    return cohort

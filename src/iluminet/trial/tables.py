"""Derived patient-level columns and the descriptive tables of the ILUMINET paper (Tables 1 and 3).

Inputs are the cohort tables as pandas DataFrames with the columns documented in
``data/README.md`` ("Cohort tables"): ``patients`` (one row per enrolled patient) and ``cycles``
(one row per given cycle). Dates may be ISO strings or datetimes.

Derived columns (one small function each, one value per patient):

* delivered kidney BED ``BED_del = Σ_cycles kidney_bed_gy`` (Gy) — :func:`delivered_bed_gy`;
* its group "< 25 Gy" / "25–29 Gy" / "> 29 Gy" — :func:`bed_group`. The paper's labels are read
  literally: ``BED < 25`` → "< 25 Gy"; ``25 ≤ BED ≤ 29`` → "25–29 Gy" (both edges included);
  ``BED > 29`` → "> 29 Gy". Exactly 25.0 and exactly 29.0 Gy therefore fall in "25–29 Gy";
* number of cycles, total administered activity (MBq) — :func:`number_of_cycles`,
  :func:`total_activity_mbq`;
* step-2 membership (any cycle with ``step == 2``) — :func:`step2_patients`;
* Ki-67 group "0–2" / "3–10" / "11–20" — :func:`ki67_group` (``≤ 2``, ``(2, 10]``, ``(10, 20]``;
  values above 20 %, outside the trial's eligibility, form their own group "> 20");
* origin group "Small intestine" / "Pancreas" / "Other" — :func:`origin_group`;
* months between dates, ``days / (365.25 / 12)`` — :func:`months_between`.

Printed conventions (:func:`format_median_range`, :func:`format_count_percent`): median [min–max]
with whole numbers from 10 upwards and one decimal below 10 ("48 [1.9–207]", "6.0 [2.4–20]");
count (percent) with the percent rounded to a whole number ("54 (56)"); a zero count is "0".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from pandas.core.groupby import SeriesGroupBy

from iluminet.errors import InputError
from iluminet.units import DAYS_PER_MONTH

__all__ = [
    "BED_GROUPS",
    "DAYS_PER_MONTH",
    "ECOG_LEVELS",
    "KI67_GROUPS",
    "ORIGIN_GROUPS",
    "bed_group",
    "delivered_bed_gy",
    "ecog_level",
    "format_count_percent",
    "format_median_range",
    "format_number",
    "format_table",
    "ki67_group",
    "months_between",
    "number_of_cycles",
    "origin_group",
    "patient_characteristics",
    "step2_patients",
    "table1",
    "table3",
    "total_activity_mbq",
]

BED_GROUPS: tuple[str, ...] = ("< 25 Gy", "25–29 Gy", "> 29 Gy")
BED_EDGES_GY: tuple[float, float] = (25.0, 29.0)
KI67_GROUPS: tuple[str, ...] = ("0–2", "3–10", "11–20", "> 20")
ORIGIN_GROUPS: tuple[str, ...] = ("Small intestine", "Pancreas", "Other")
ECOG_LEVELS: tuple[str, ...] = ("0", "1", "2", "Missing")
MISSING = "Missing"

PATIENT_COLUMNS: tuple[str, ...] = (
    "patient_id", "inclusion_date", "treated", "age_years", "sex", "origin", "ki67_percent",
    "ecog", "diagnosis_date", "previous_ssa_only", "previous_chemotherapy",
    "previous_targeted_therapy", "previous_surgery", "previous_prrt", "previous_liver_directed",
    "baseline_creatinine_umol_l", "baseline_gfr_ml_min", "baseline_hb_g_l", "baseline_wbc_1e9_l",
    "baseline_anc_1e9_l", "baseline_platelets_1e9_l",
)
CYCLE_COLUMNS: tuple[str, ...] = ("patient_id", "cycle", "administration_date",
                                  "administered_activity_mbq", "step", "kidney_bed_gy")


def require_columns(df: pd.DataFrame, columns: Iterable[str], source: str) -> None:
    """Raise :class:`InputError` naming the table and the first missing column."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}", source=source)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; see data/README.md 'Cohort tables'",
                         source=source, field=missing[0])


def as_dates(values: pd.Series, *, source: str, field: str) -> pd.Series:
    """Parse a date column (ISO strings or datetimes); empty cells become NaT.

    Raises
    ------
    InputError
        For a value that is not a date, naming the row's ``patient_id`` when the index holds it.
    """
    try:
        return pd.to_datetime(values, errors="raise").dt.normalize()
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, errors="coerce")
        bad = parsed.isna() & values.notna()
        label = values.index[int(np.argmax(bad.to_numpy()))] if bad.any() else values.index[0]
        raise InputError(f"row {label!r}: expected an ISO date (YYYY-MM-DD), got "
                         f"{values.get(label)!r}", source=source, field=field) from None


def months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Elapsed time in months, ``(end − start) in days / (365.25/12)``; NaN where a date is NaT."""
    return (end - start).dt.days / DAYS_PER_MONTH


def _cycles_by_patient(cycles: pd.DataFrame, column: str,
                       source: str) -> SeriesGroupBy:
    require_columns(cycles, ["patient_id", column], source)
    return cycles.groupby("patient_id", sort=True)[column]


def delivered_bed_gy(cycles: pd.DataFrame, *, source: str = "cycles") -> pd.Series:
    """Delivered kidney BED per patient, ``Σ_cycles kidney_bed_gy`` (Gy).

    A patient with any cycle lacking its BED gets NaN: a partial sum would put the patient in a
    lower BED group than the one delivered, so nothing is guessed.

    Returns
    -------
    pandas.Series
        Indexed by ``patient_id``, name ``delivered_bed_gy``.
    """
    require_columns(cycles, ["patient_id", "kidney_bed_gy"], source)
    bed = pd.to_numeric(cycles["kidney_bed_gy"], errors="coerce")
    complete = bed.notna().groupby(cycles["patient_id"], sort=True).all()
    total = bed.groupby(cycles["patient_id"], sort=True).sum()
    return total.where(complete).rename("delivered_bed_gy")


def bed_group(bed_gy: pd.Series | Sequence[float], edges: tuple[float, float] = BED_EDGES_GY
              ) -> pd.Series:
    """Group delivered BED as the paper: "< 25 Gy", "25–29 Gy", "> 29 Gy".

    ``BED < lo`` → first group, ``lo ≤ BED ≤ hi`` → middle group (both edges included, as the
    label "25–29" reads), ``BED > hi`` → last group; NaN stays missing. Labels follow ``edges``.

    Returns
    -------
    pandas.Series
        Ordered categorical with the three labels as categories, same index as the input.
    """
    lo, hi = float(edges[0]), float(edges[1])
    if not lo < hi:
        raise InputError(f"expected increasing BED edges, got {edges!r}", source="bed_group",
                         field="edges")
    values = pd.Series(bed_gy, dtype=float) if not isinstance(bed_gy, pd.Series) else (
        bed_gy.astype(float))
    labels = (f"< {lo:g} Gy", f"{lo:g}–{hi:g} Gy", f"> {hi:g} Gy")
    codes = np.select([values < lo, values <= hi, values > hi], [0, 1, 2], default=-1)
    groups = pd.Categorical.from_codes(codes.tolist(), categories=pd.Index(labels), ordered=True)
    return pd.Series(groups, index=values.index, name="bed_group")


def number_of_cycles(cycles: pd.DataFrame, *, source: str = "cycles") -> pd.Series:
    """Number of cycles given per patient (rows of ``cycles``), indexed by ``patient_id``."""
    return _cycles_by_patient(cycles, "cycle", source).size().rename("n_cycles").astype("int64")


def total_activity_mbq(cycles: pd.DataFrame, *, source: str = "cycles") -> pd.Series:
    """Total administered activity per patient, ``Σ administered_activity_mbq`` (MBq)."""
    grouped = _cycles_by_patient(cycles, "administered_activity_mbq", source)
    return grouped.sum().astype(float).rename("total_activity_mbq")


def step2_patients(cycles: pd.DataFrame, *, source: str = "cycles") -> pd.Series:
    """Whether a patient received step-2 treatment: any cycle with ``step == 2``."""
    require_columns(cycles, ["patient_id", "step"], source)
    is_step2 = pd.to_numeric(cycles["step"], errors="coerce") == 2
    return is_step2.groupby(cycles["patient_id"], sort=True).any().astype(bool).rename("step2")


def ki67_group(ki67_percent: pd.Series) -> pd.Series:
    """Ki-67 group as Table 1: "0–2" (≤ 2 %), "3–10" (2–10 %], "11–20" (10–20 %], "> 20".

    Ki-67 indices are reported as whole percent; the half-open bins also place a fractional value
    (e.g. 2.5 %) unambiguously. Missing stays missing.
    """
    v = pd.to_numeric(ki67_percent, errors="coerce").astype(float)
    codes = np.select([v <= 2, v <= 10, v <= 20, v > 20], [0, 1, 2, 3], default=-1)
    return pd.Series(pd.Categorical.from_codes(codes.tolist(), categories=pd.Index(KI67_GROUPS),
                                               ordered=True),
                     index=v.index, name="ki67_group")


def origin_group(origin: pd.Series) -> pd.Series:
    """Tumour origin as the paper groups it: small intestine, pancreas, other (all the rest)."""
    mapped = origin.map({"small_intestine": "Small intestine", "pancreas": "Pancreas"})
    mapped = mapped.where(origin.isna() | mapped.notna(), "Other")
    return pd.Series(pd.Categorical(mapped, categories=ORIGIN_GROUPS, ordered=True),
                     index=origin.index, name="origin_group")


def ecog_level(ecog: pd.Series) -> pd.Series:
    """ECOG performance status as the strings "0", "1", "2", missing as "Missing"."""
    num = pd.to_numeric(ecog, errors="coerce")
    text = num.map(lambda v: MISSING if pd.isna(v) else str(int(v)))
    return pd.Series(pd.Categorical(text, categories=ECOG_LEVELS, ordered=True),
                     index=ecog.index, name="ecog_level")


def patient_characteristics(patients: pd.DataFrame, cycles: pd.DataFrame, *,
                            bed_edges: tuple[float, float] = BED_EDGES_GY,
                            treated_only: bool = True) -> pd.DataFrame:
    """One row per (treated) patient with the baseline columns and every derived column.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``patient_id``: the columns of ``patients`` plus ``delivered_bed_gy``,
        ``bed_group``, ``n_cycles``, ``total_activity_mbq``, ``step2``, ``ki67_group``,
        ``origin_group``, ``ecog_level`` and ``time_from_diagnosis_months``. Patients without
        cycles get 0 cycles, 0 MBq, no BED and ``step2`` False.
    """
    require_columns(patients, PATIENT_COLUMNS, "patients")
    require_columns(cycles, CYCLE_COLUMNS, "cycles")
    pat = patients.copy()
    if pat["patient_id"].duplicated().any():
        dup = pat.loc[pat["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise InputError(f"duplicate patient_id {dup!r}; expected one row per patient",
                         source="patients", field="patient_id")
    if treated_only:
        pat = pat[pat["treated"].astype(bool)]
    pat = pat.set_index("patient_id", drop=False)
    unknown = sorted(set(cycles["patient_id"]) - set(patients["patient_id"]))
    if unknown:
        raise InputError(f"patient(s) {unknown[:5]} have cycles but no row in patients",
                         source="cycles", field="patient_id")
    for col in ("inclusion_date", "diagnosis_date"):
        pat[col] = as_dates(pat[col], source="patients", field=col)
    pat["delivered_bed_gy"] = delivered_bed_gy(cycles).reindex(pat.index)
    pat["bed_group"] = bed_group(pat["delivered_bed_gy"], bed_edges)
    pat["n_cycles"] = number_of_cycles(cycles).reindex(pat.index).fillna(0).astype("int64")
    pat["total_activity_mbq"] = total_activity_mbq(cycles).reindex(pat.index).fillna(0.0)
    pat["step2"] = step2_patients(cycles).reindex(pat.index).fillna(False).astype(bool)
    pat["ki67_group"] = ki67_group(pat["ki67_percent"])
    pat["origin_group"] = origin_group(pat["origin"])
    pat["ecog_level"] = ecog_level(pat["ecog"])
    pat["time_from_diagnosis_months"] = months_between(pat["diagnosis_date"],
                                                       pat["inclusion_date"])
    pat.index.name = None
    return pat


# --------------------------------------------------------------------------------------------------
# printed conventions
# --------------------------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """Whole number from 10 upwards, one decimal below 10 (Table 1: "207", "6.0", "1.9")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    return f"{v:.0f}" if abs(v) >= 9.95 else f"{v:.1f}"


def format_integer_or_number(value: float) -> str:
    """Integers as integers ("5", "1"), anything else by :func:`format_number`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else format_number(value)


def format_median_range(values: pd.Series, fmt: Callable[[float], str] = format_number) -> str:
    """``"median [min–max]"`` of the non-missing values; "—" if there are none."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return "—"
    return f"{fmt(v.median())} [{fmt(v.min())}–{fmt(v.max())}]"


def format_count_percent(count: int, n: int) -> str:
    """``"count (percent)"`` with the percent of ``n`` as a whole number; 0 is printed "0"."""
    if count == 0 or n == 0:
        return "0"
    return f"{count} ({100.0 * count / n:.0f})"


def _is_whole(values: pd.Series) -> bool:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(v)) and bool(np.all(np.equal(np.mod(v, 1), 0)))


def _median_row(variable: str, groups: dict[str, pd.DataFrame], column: str,
                level: str = "median [min–max]") -> dict[str, str]:
    row = {"variable": variable, "level": level}
    for name, df in groups.items():
        fmt = format_integer_or_number if _is_whole(df[column]) else format_number
        row[name] = format_median_range(df[column], fmt)
    return row


def _count_rows(variable: str, groups: dict[str, pd.DataFrame], column: str,
                levels: Sequence[object], labels: Sequence[str] | None = None,
                drop_empty: Sequence[object] = ()) -> list[dict[str, str]]:
    rows = []
    for i, level in enumerate(levels):
        counts = {name: int((df[column] == level).sum()) for name, df in groups.items()}
        if level in drop_empty and not any(counts.values()):
            continue
        row = {"variable": variable, "level": str(labels[i] if labels else level)}
        for name, df in groups.items():
            row[name] = format_count_percent(counts[name], len(df))
        rows.append(row)
    return rows


def _flag_rows(variable: str, groups: dict[str, pd.DataFrame],
               flags: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    rows = []
    for column, label in flags:
        row = {"variable": variable, "level": label}
        for name, df in groups.items():
            row[name] = format_count_percent(int(df[column].astype(bool).sum()), len(df))
        rows.append(row)
    return rows


def _with_missing(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), MISSING)


PREVIOUS_TREATMENTS: tuple[tuple[str, str], ...] = (
    ("previous_ssa_only", "None (except SSA)"),
    ("previous_chemotherapy", "Chemotherapy"),
    ("previous_targeted_therapy", "Sunitinib/everolimus/interferon"),
    ("previous_surgery", "Surgery"),
    ("previous_prrt", "PRRT"),
    ("previous_liver_directed", "Liver directed"),
)
BASELINE_LABS: tuple[tuple[str, str], ...] = (
    ("baseline_creatinine_umol_l", "Creatinine (µmol/L)"),
    ("baseline_gfr_ml_min", "GFR (ml/min)"),
    ("baseline_hb_g_l", "Hb (g/L)"),
    ("baseline_wbc_1e9_l", "LPK (10⁹/L)"),
    ("baseline_anc_1e9_l", "ANC (10⁹/L)"),
    ("baseline_platelets_1e9_l", "TPK (10⁹/L)"),
)


def table1(characteristics: pd.DataFrame) -> pd.DataFrame:
    """Table 1 of the paper: demographics and baseline characteristics, all treated patients and
    the step-2 subgroup.

    Parameters
    ----------
    characteristics
        Output of :func:`patient_characteristics` (treated patients).

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``level``, ``"Step 1 (n=…)"``, ``"Step 1 + 2 (n=…)"``; cells are
        printed strings ("67 [35–84]", "54 (56)"). Ki-67 "> 20" and "Missing" rows appear only
        when some patient is in them; ECOG "Missing" always.
    """
    c = characteristics.copy()
    c["sex_level"] = c["sex"]
    c["ki67_level"] = _with_missing(c["ki67_group"])
    c["ecog_text"] = c["ecog_level"].astype(object)
    groups = {f"Step 1 (n={len(c)})": c,
              f"Step 1 + 2 (n={int(c['step2'].sum())})": c[c["step2"]]}
    rows: list[dict[str, str]] = [_median_row("Age (years)", groups, "age_years")]
    rows += _count_rows("Sex, count (%)", groups, "sex_level", ["M", "F"], ["Male", "Female"])
    rows += _count_rows("Ki67, count (%)", groups, "ki67_level", [*KI67_GROUPS, MISSING],
                        drop_empty=("> 20", MISSING))
    rows += _count_rows("Tumor origin, count (%)", groups, "origin_group", ORIGIN_GROUPS)
    rows += _count_rows("ECOG, count (%)", groups, "ecog_text", ECOG_LEVELS)
    rows.append(_median_row("Time from diagnosis (months)", groups, "time_from_diagnosis_months"))
    rows += _flag_rows("Previous treatment, count (%)", groups, PREVIOUS_TREATMENTS)
    for column, label in BASELINE_LABS:
        rows.append(_median_row("Laboratory findings", groups, column,
                                f"{label}, median [min–max]"))
    return pd.DataFrame(rows, columns=["variable", "level", *groups])


def table3(characteristics: pd.DataFrame,
           time_to_max_response_months: pd.Series | None = None) -> pd.DataFrame:
    """Table 3 of the paper: baseline and treatment characteristics by tumour origin.

    Parameters
    ----------
    characteristics
        Output of :func:`patient_characteristics` (treated patients).
    time_to_max_response_months
        Per ``patient_id`` (index), months from inclusion to the maximum response, for the
        response-evaluable patients (NaN/absent rows are not counted); the row is left out if None.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``level`` and one per origin group plus ``"All (n=…)"``.
    """
    c = characteristics.copy()
    c["ecog_text"] = c["ecog_level"].astype(object)
    c["bed_text"] = _with_missing(c["bed_group"])
    groups = {f"{g} (n={int((c['origin_group'] == g).sum())})": c[c["origin_group"] == g]
              for g in ORIGIN_GROUPS}
    groups[f"All (n={len(c)})"] = c
    rows: list[dict[str, str]] = [_median_row("Age (years)", groups, "age_years"),
                                  _median_row("Ki67 (%)", groups, "ki67_percent")]
    rows += _count_rows("ECOG, count (%)", groups, "ecog_text", ECOG_LEVELS)
    rows += _flag_rows("Previous lines of treatment, count (%)", groups, PREVIOUS_TREATMENTS)
    bed_levels = list(c["bed_group"].cat.categories) + [MISSING]
    rows += _count_rows("Delivered kidney BED, count (%)", groups, "bed_text", bed_levels,
                        drop_empty=(MISSING,))
    if time_to_max_response_months is not None:
        ttmr = pd.to_numeric(time_to_max_response_months, errors="coerce").dropna()
        row = {"variable": "Time to max tumor response (months)"}
        n_row = {"variable": "Time to max tumor response (months)", "level": "n"}
        row["level"] = "median [min–max]"
        for name, df in groups.items():
            values = ttmr[ttmr.index.isin(df.index)]
            n_row[name] = str(len(values))
            row[name] = format_median_range(values)
        rows += [n_row, row]
    rows.append(_median_row("Number of treatment cycles", groups, "n_cycles"))
    return pd.DataFrame(rows, columns=["variable", "level", *groups])


def format_table(table: pd.DataFrame, decimals: int = 2) -> str:
    """Plain-text rendering with fixed precision for floats (stable for nbval comparisons)."""
    return table.to_string(index=False, na_rep="—",
                           float_format=lambda v: f"{v:.{decimals}f}")

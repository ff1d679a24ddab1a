"""CTCAE v4.03 grades of laboratory adverse events.

Source: National Cancer Institute, *Common Terminology Criteria for Adverse Events (CTCAE)
Version 4.03*, 14 June 2010 (NIH publication 09-5410), rows "Anemia", "Platelet count decreased",
"Neutrophil count decreased", "White blood cell decreased", "Lymphocyte count decreased",
"Alanine aminotransferase increased", "Aspartate aminotransferase increased", "Blood bilirubin
increased", "Alkaline phosphatase increased", "Creatinine increased" and "Chronic kidney disease".

Only the laboratory criterion of each term is graded; clinical criteria (transfusion, dialysis,
proteinuria, life-threatening consequences) are not visible in a lab value and are not assessed.

Grade table (canonical units)
-----------------------------
==============================  =======  =======  =======  ==========  ==============
term                            grade 1  grade 2  grade 3  grade 4     unit
==============================  =======  =======  =======  ==========  ==============
anemia (haemoglobin)            < LLN    < 100    < 80     (clinical)  g/L
platelet_count_decreased        < LLN    < 75     < 50     < 25        10⁹/L
neutrophil_count_decreased      < LLN    < 1.5    < 1.0    < 0.5       10⁹/L
white_blood_cell_decreased      < LLN    < 3.0    < 2.0    < 1.0       10⁹/L
lymphocyte_count_decreased      < LLN    < 0.8    < 0.5    < 0.2       10⁹/L
chronic_kidney_disease          < LLN    < 60     < 30     < 15        ml/min/1.73 m²
alt_increased, ast_increased    > 1.0    > 3.0    > 5.0    > 20.0      × ULN
blood_bilirubin_increased       > 1.0    > 1.5    > 3.0    > 10.0      × ULN
alkaline_phosphatase_increased  > 1.0    > 2.5    > 5.0    > 20.0      × ULN
creatinine_increased            > 1.0    > 1.5    > 3.0    > 6.0       × ULN
creatinine_increased            > 1.0    > 1.5    > 3.0    (none)      × baseline
==============================  =======  =======  =======  ==========  ==============

Each cell is the *entry* edge of the grade: a decrease reaches grade g when the value is strictly
below the edge (haemoglobin of exactly 100 g/L is grade 1 when below the LLN; grade 2 needs
< 100 g/L), an increase when it is strictly above it (ALT of exactly 3.0 × ULN is grade 1). The
grade is the highest one whose edge is crossed. For chronic kidney disease this reads the CTCAE
integer bands "59–30" and "29–15" as the continuous intervals 30 ≤ GFR < 60 (grade 2),
15 ≤ GFR < 30 (grade 3), GFR < 15 (grade 4) and 60 ≤ GFR < LLN (grade 1). Anemia grade 4
("life-threatening consequences") is not gradable from the haemoglobin alone, so the highest lab
grade of anemia is 3.

Values within a relative 1e-9 of an edge count as *on* the edge, so that binary rounding of decimal
lab values (0.9 / 0.3 = 3.0000000000000004 in floating point) cannot move a result across a grade.

Unknown stays unknown
---------------------
A grade that cannot be told from the data is ``None`` (``<NA>`` in tables), never 0:

* decreases: the absolute edges of grades 2–4 need no LLN; a value at or above the grade-2 edge is
  grade 0 or 1 depending on the LLN, so without an LLN it is ``None``. If the LLN is itself below
  the grade-2 edge the grade-1 band is empty and the CTCAE absolute edges apply as written (a
  neutrophil count of 1.45 × 10⁹/L is grade 2 even with a laboratory LLN of 1.4).
* increases: every edge is a multiple of the ULN, so without a ULN the grade is ``None``.
* creatinine increased: the grade is the worse of the ULN-based and the baseline-based grade. The
  ULN is part of every laboratory report and is required (without it: ``None``). The baseline is a
  pre-treatment value that may legitimately not exist (it is the baseline visit itself, or the
  analysis grades against the reference range only, as the ILUMINET report does: creatinine
  100–150 µmol/L with ULN 100 µmol/L is grade 1). Without a baseline the ULN criterion alone is
  used; that grade is a lower bound of the two-criterion grade. Supply baselines for all patients
  of an analysis or for none, otherwise grades are not comparable between patients.
* a missing value (``None``/NaN) or a missing or unrecognised unit gives ``None``. An unrecognised
  unit string also emits an :class:`UnrecognisedUnitWarning`.

Units
-----
``lln``, ``uln`` and ``baseline`` are in the unit of ``value``. Unit strings are compared after
Unicode normalisation, lower-casing and removing spaces, so ``µmol/L``, ``μmol/l`` and ``umol/L``
are the same, and so are ``10^9/L``, ``10E9/L``, ``x10^9/L``, ``×10⁹/L`` and ``10*9/L``.

* haemoglobin: g/L; g/dL and g/100 mL (× 10). Haemoglobin in mmol/L is rejected: the CTCAE
  mmol/L column (6.2 and 4.9 mmol/L) is rounded and matches no single conversion factor (with
  16.114 g/mmol of the haemoglobin monomer, 4.9 mmol/L is 79.0 g/L: grade 3 by the g/L column,
  grade 2 by the mmol/L column), so the conversion must be an explicit decision of the analysis.
* cell counts: 10⁹/L, 10³/µL, 10³/mm³, K/µL, /nL (× 1); /mm³, /µL, cells/mm³, 10⁶/L (÷ 1000).
  "G/L" (giga per litre) cannot be told apart from g/L after case folding and is rejected for
  counts: write 10^9/L.
* GFR and creatinine clearance: ml/min and ml/min/1.73 m² are graded as reported (no body-surface
  normalisation); ml/s and ml/s/1.73 m² are multiplied by 60.
* ALT, AST, ALP (U/L, IU/L, µkat/L, nkat/L), bilirubin and creatinine (µmol/L, mmol/L, mg/dL,
  mg/L) are graded as ratios to the ULN (and baseline), which share the unit of the value, so no
  conversion factor enters the grade (for reference: creatinine 1 mg/dL = 88.42 µmol/L, bilirubin
  1 mg/dL = 17.1 µmol/L). The unit is checked to be one of the analyte's units, to catch a value
  taken from the wrong column. The unit ``xULN`` (or ``×ULN``) says the value is already a multiple
  of the ULN; ``uln`` is then 1 (or omitted).

A recognised unit of another quantity (g/L for a platelet count, % for lymphocytes, U/L for
creatinine) raises :class:`~iluminet.errors.InputError` naming the unit: it is a data error, not
an unknown grade.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd

from iluminet.errors import InputError

__all__ = [
    "CTCAE_VERSION",
    "LABELS",
    "SPECS",
    "TERMS",
    "TermSpec",
    "UnrecognisedUnitWarning",
    "grade",
    "grade_table",
    "normalise_unit",
    "threshold_table",
]

CTCAE_VERSION = "4.03"

#: Relative tolerance within which a value counts as lying on a grade edge.
EDGE_RTOL = 1e-9


class UnrecognisedUnitWarning(UserWarning):
    """A unit string was not recognised; the grades concerned are unknown (``None``)."""


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------

#: Accepted units per measured quantity: normalised unit string -> factor to the canonical unit.
#: For ratio-graded quantities the factor is 1: the grade is a ratio of two values in one unit.
_UNITS: dict[str, dict[str, Fraction]] = {
    "haemoglobin": {"g/l": Fraction(1), "g/dl": Fraction(10), "g/100ml": Fraction(10)},
    "cell_count": {
        "10^9/l": Fraction(1),
        "10^3/ul": Fraction(1),
        "10^3/mm3": Fraction(1),
        "k/ul": Fraction(1),
        "/nl": Fraction(1),
        "/mm3": Fraction(1, 1000),
        "/ul": Fraction(1, 1000),
        "10^6/l": Fraction(1, 1000),
    },
    "gfr": {
        "ml/min": Fraction(1),
        "ml/min/1.73m2": Fraction(1),
        "ml/min/1.73": Fraction(1),
        "ml/s": Fraction(60),
        "ml/s/1.73m2": Fraction(60),
        "ml/s/1.73": Fraction(60),
    },
    "enzyme": {u: Fraction(1) for u in ("u/l", "iu/l", "ukat/l", "nkat/l", "xuln")},
    "small_molecule": {u: Fraction(1) for u in ("umol/l", "mmol/l", "mg/dl", "mg/l", "xuln")},
}

#: Units recognised as belonging to some other laboratory quantity (a data error if used here).
_OTHER_UNITS = frozenset(
    {"%", "mmol/l", "nmol/l", "pmol/l", "mg/ml", "ug/l", "ng/ml", "pg/ml", "fl", "pg",
     "10^12/l", "mm/h", "s", "ratio", "inr", "mmhg", "g/ml"}
)
_ALL_KNOWN_UNITS = frozenset(_OTHER_UNITS.union(*(set(u) for u in _UNITS.values())))

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_SUPERSCRIPT_RUN = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹]+")


def normalise_unit(unit: str) -> str:
    """Normalise a unit string for comparison.

    Superscript exponents become ``^n`` (``10⁹`` → ``10^9``, ``m²`` → ``m2``), micro signs become
    ``u``, case and white space are dropped, ``10E9``/``10*9``/``x10^9`` become ``10^9`` and a
    decimal comma becomes a point (``1,73 m2``).
    """
    s = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPTS), unit)
    s = unicodedata.normalize("NFKC", s).lower()
    s = re.sub(r"\s+", "", s)
    s = s.replace("µ", "u").replace("μ", "u").replace("mc", "u").replace("×", "x")
    s = s.replace(",", ".").replace("**", "^")
    s = re.sub(r"^(?:x)?10(?:\^|e|\*)(\d+)", r"10^\1", s)  # 10E9/L, 10*9/L, x10^9/L
    s = re.sub(r"(mm|m)\^([23])", r"\1\2", s)  # mm^3 -> mm3, m^2 -> m2
    s = re.sub(r"^cells?/", "/", s)  # cells/mm3 -> /mm3
    s = s.replace("/cumm", "/mm3").replace("/minper", "/min/").replace("/sper", "/s/")
    s = s.replace("x(uln)", "xuln").replace("*uln", "xuln")
    if s == "uln":
        s = "xuln"
    return s


# --------------------------------------------------------------------------------------------
# The grade table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermSpec:
    """CTCAE v4.03 laboratory criterion of one term.

    Attributes
    ----------
    term
        Key used in the API (``"platelet_count_decreased"``).
    label
        CTCAE term as printed in tables (``"Platelet count decreased"``).
    direction
        ``"decrease"``: grades by falling values, grade 1 below the LLN, grades ≥ 2 below the
        absolute ``edges``; ``"increase"``: grades by multiples of the ULN.
    quantity
        Key of the accepted-units table.
    canonical_unit
        Unit of ``edges`` (for decreases) or ``"× ULN"``.
    edges
        Decrease: entry edges of grades 2, 3, ... in ``canonical_unit``, decreasing
        (grade g when value < edges[g - 2]). Increase: entry edges of grades 1, 2, ... as multiples
        of the ULN, increasing (grade g when value > edges[g - 1] · ULN).
    baseline_edges
        Entry edges of grades 1, 2, ... as multiples of the patient's baseline (creatinine only).
    note
        What the lab value cannot grade.
    """

    term: str
    label: str
    direction: Literal["decrease", "increase"]
    quantity: str
    canonical_unit: str
    edges: tuple[float, ...]
    baseline_edges: tuple[float, ...] = ()
    note: str = ""

    @property
    def max_lab_grade(self) -> int:
        """Highest grade reachable from the lab value alone."""
        n = len(self.edges)
        return n + 1 if self.direction == "decrease" else n


_TABLE: tuple[TermSpec, ...] = (
    TermSpec("anemia", "Anemia", "decrease", "haemoglobin", "g/L", (100.0, 80.0),
             note="grade 4 (life-threatening consequences) is not gradable from haemoglobin"),
    TermSpec("platelet_count_decreased", "Platelet count decreased", "decrease", "cell_count",
             "10^9/L", (75.0, 50.0, 25.0)),
    TermSpec("neutrophil_count_decreased", "Neutrophil count decreased", "decrease", "cell_count",
             "10^9/L", (1.5, 1.0, 0.5)),
    TermSpec("white_blood_cell_decreased", "White blood cell decreased", "decrease", "cell_count",
             "10^9/L", (3.0, 2.0, 1.0)),
    TermSpec("lymphocyte_count_decreased", "Lymphocyte count decreased", "decrease", "cell_count",
             "10^9/L", (0.8, 0.5, 0.2)),
    TermSpec("alt_increased", "Alanine aminotransferase increased", "increase", "enzyme",
             "× ULN", (1.0, 3.0, 5.0, 20.0)),
    TermSpec("ast_increased", "Aspartate aminotransferase increased", "increase", "enzyme",
             "× ULN", (1.0, 3.0, 5.0, 20.0)),
    TermSpec("blood_bilirubin_increased", "Blood bilirubin increased", "increase",
             "small_molecule", "× ULN", (1.0, 1.5, 3.0, 10.0)),
    TermSpec("alkaline_phosphatase_increased", "Alkaline phosphatase increased", "increase",
             "enzyme", "× ULN", (1.0, 2.5, 5.0, 20.0)),
    TermSpec("creatinine_increased", "Creatinine increased", "increase", "small_molecule",
             "× ULN", (1.0, 1.5, 3.0, 6.0), baseline_edges=(1.0, 1.5, 3.0)),
    TermSpec("chronic_kidney_disease", "Chronic kidney disease", "decrease", "gfr",
             "ml/min/1.73 m2", (60.0, 30.0, 15.0),
             note="graded on eGFR/CrCl only; the proteinuria criterion of grade 1 and dialysis "
                  "or transplant of grade 4 are not assessed"),
)

SPECS: Mapping[str, TermSpec] = {s.term: s for s in _TABLE}
#: Supported terms, in table order.
TERMS: tuple[str, ...] = tuple(SPECS)
#: Printable CTCAE label per term.
LABELS: Mapping[str, str] = {s.term: s.label for s in _TABLE}

_TERM_ALIASES: dict[str, str] = {}
for _s in _TABLE:
    _TERM_ALIASES[_s.term] = _s.term
    _TERM_ALIASES[re.sub(r"[\s\-]+", "_", _s.label.lower())] = _s.term
_TERM_ALIASES["aspartate_aminotransferase_increased"] = "ast_increased"
_TERM_ALIASES["alanine_aminotransferase_increased"] = "alt_increased"


def threshold_table() -> pd.DataFrame:
    """The grade table as a data frame, one row per term and criterion (for printing)."""
    rows: list[dict[str, Any]] = []
    for s in _TABLE:
        if s.direction == "decrease":
            cells = ["< LLN"] + [f"< {e:.1f}" for e in s.edges]
            rows.append({"term": s.term, "label": s.label, "criterion": s.canonical_unit,
                         **_grade_cells(cells), "note": s.note})
        else:
            cells = ["> ULN"] + [f"> {e:.1f} × ULN" for e in s.edges[1:]]
            rows.append({"term": s.term, "label": s.label, "criterion": "ULN",
                         **_grade_cells(cells), "note": s.note})
            if s.baseline_edges:
                cells = [f"> {e:.1f} × baseline" for e in s.baseline_edges]
                rows.append({"term": s.term, "label": s.label, "criterion": "baseline",
                             **_grade_cells(cells), "note": s.note})
    return pd.DataFrame(rows)


def _grade_cells(cells: list[str]) -> dict[str, str]:
    return {f"grade_{g}": cells[g - 1] if g <= len(cells) else "" for g in range(1, 5)}


# --------------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------------


def _lookup_term(term: object, *, source: str | None, field: str, where: str = "") -> TermSpec:
    if isinstance(term, str):
        key = re.sub(r"[\s\-]+", "_", term.strip().lower())
        if key in _TERM_ALIASES:
            return SPECS[_TERM_ALIASES[key]]
    raise InputError(
        f"{where}unknown CTCAE term {term!r}; expected one of {', '.join(TERMS)}",
        source=source, field=field,
    )


def _is_missing(x: object) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isnan(float(x))


def _parse_text(x: object) -> object:
    """Numeric text as a float (tables read from CSV); anything else unchanged."""
    if isinstance(x, str):
        try:
            return float(x) if x.strip() else math.nan
        except ValueError:
            return x
    return x


def _as_float(x: object, *, name: str, positive: bool, source: str | None, field: str,
              where: str = "") -> float:
    """A non-negative (or positive) finite real number, NaN for a missing one."""
    if _is_missing(x):
        return math.nan
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise InputError(f"{where}expected a number for {name}, got {x!r}",
                         source=source, field=field)
    v = float(x)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        what = "a positive" if positive else "a non-negative"
        raise InputError(f"{where}expected {what} finite number for {name}, got {x!r}",
                         source=source, field=field)
    return v


@dataclass(frozen=True)
class _Unit:
    """A resolved unit: factor to the canonical unit, or unknown (``factor is None``)."""

    factor: Fraction | None
    is_uln_multiple: bool = False


def _resolve_unit(spec: TermSpec, unit: object, *, source: str | None, field: str,
                  where: str = "", warn: bool = True) -> _Unit:
    if _is_missing(unit) or (isinstance(unit, str) and not unit.strip()):
        return _Unit(None)
    if not isinstance(unit, str):
        raise InputError(f"{where}expected a unit string, got {unit!r}", source=source,
                         field=field)
    key = normalise_unit(unit)
    accepted = _UNITS[spec.quantity]
    if key in accepted:
        return _Unit(accepted[key], is_uln_multiple=key == "xuln")
    if spec.quantity == "haemoglobin" and key == "mmol/l":
        raise InputError(
            f"{where}haemoglobin in mmol/L is not graded: the CTCAE v4.03 mmol/L edges "
            "(6.2, 4.9) are rounded and match no single factor; convert explicitly to g/L "
            "(e.g. × 16.114 g/mmol, haemoglobin monomer) or g/dL",
            source=source, field=field,
        )
    if key in _ALL_KNOWN_UNITS:
        hint = " ('G/L' for giga per litre: write 10^9/L)" if key == "g/l" else ""
        raise InputError(
            f"{where}unit {unit!r} is not a unit of {spec.label.lower()} ({spec.quantity}); "
            f"expected one of {', '.join(sorted(accepted))}{hint}",
            source=source, field=field,
        )
    if warn:
        warnings.warn(
            f"{source + ': ' if source else ''}{where}unrecognised unit {unit!r} for "
            f"{spec.term}; grade left unknown",
            UnrecognisedUnitWarning, stacklevel=3,
        )
    return _Unit(None)


# --------------------------------------------------------------------------------------------
# Grading (vectorised core)
# --------------------------------------------------------------------------------------------


def _below(v: np.ndarray, edge: np.ndarray | float) -> np.ndarray:
    """v < edge, with values within EDGE_RTOL of the edge counted as on it."""
    return (v < edge) & ~np.isclose(v, edge, rtol=EDGE_RTOL, atol=0.0)


def _above(v: np.ndarray, edge: np.ndarray | float) -> np.ndarray:
    """v > edge, with values within EDGE_RTOL of the edge counted as on it."""
    return (v > edge) & ~np.isclose(v, edge, rtol=EDGE_RTOL, atol=0.0)


def _grade_arrays(spec: TermSpec, value: np.ndarray, lln: np.ndarray, uln: np.ndarray,
                  baseline: np.ndarray) -> np.ndarray:
    """Grades as floats (NaN = unknown) for values already in the canonical unit.

    Decrease: g = 1 + #{edges e : value < e} when value < edges[0]; otherwise 1 if value < LLN,
    0 if value ≥ LLN, unknown without LLN. Increase: g_ULN = #{m : value > m · ULN}, unknown
    without ULN; creatinine: max(g_ULN, #{m : value > m · baseline}) when a baseline is given.
    """
    with np.errstate(invalid="ignore"):
        if spec.direction == "decrease":
            n_below = sum((_below(value, e).astype(float) for e in spec.edges),
                          np.zeros_like(value))
            grade1 = np.where(np.isnan(lln), np.nan, _below(value, lln).astype(float))
            out = np.where(n_below > 0, 1.0 + n_below, grade1)
        else:
            g_uln = sum((_above(value, m * uln).astype(float) for m in spec.edges),
                        np.zeros_like(value))
            out = np.where(np.isnan(uln), np.nan, g_uln)
            if spec.baseline_edges:
                g_base = sum((_above(value, m * baseline).astype(float)
                              for m in spec.baseline_edges), np.zeros_like(value))
                out = np.where(np.isnan(baseline), out, np.fmax(out, g_base))
                out = np.where(np.isnan(uln), np.nan, out)  # the ULN criterion is required
    return np.where(np.isnan(value), np.nan, out)


def grade(term: str, value: float | None, unit: str | None, *, lln: float | None = None,
          uln: float | None = None, baseline: float | None = None) -> int | None:
    """CTCAE v4.03 grade of one laboratory value.

    Parameters
    ----------
    term
        One of :data:`TERMS`; the CTCAE label (``"Platelet count decreased"``) is accepted too.
    value
        The lab value (non-negative); ``None``/NaN gives ``None``.
    unit
        Unit of ``value`` (see the module notes); missing or unrecognised gives ``None``.
    lln, uln
        Lower / upper limit of normal of the reporting laboratory, in the unit of ``value``;
        ``None``/NaN when unknown. Decreases use the LLN (grade 0 vs 1 only), increases the ULN.
    baseline
        Pre-treatment value in the unit of ``value`` (creatinine increased only; ignored
        otherwise); ``None`` grades creatinine on the ULN criterion alone.

    Returns
    -------
    int or None
        Grade 0 (normal) to 4 (3 for anemia), or ``None`` when the data cannot tell the grade.

    Raises
    ------
    InputError
        Unknown ``term``; non-numeric, negative or infinite ``value``; non-positive ``lln``,
        ``uln`` or ``baseline``; a unit of another quantity; a ``xULN`` value with ``uln`` ≠ 1.

    Examples
    --------
    >>> grade("platelet_count_decreased", 60_000, "/mm3")
    2
    >>> grade("alt_increased", 120, "U/L", uln=40)
    1
    >>> grade("anemia", 105, "g/L") is None  # grade 0 or 1: the LLN decides
    True
    """
    spec = _lookup_term(term, source=None, field="term")
    v = _as_float(value, name="value", positive=False, source=None, field="value")
    lo = _as_float(lln, name="lln", positive=True, source=None, field="lln")
    hi = _as_float(uln, name="uln", positive=True, source=None, field="uln")
    base = (_as_float(baseline, name="baseline", positive=True, source=None, field="baseline")
            if spec.baseline_edges else math.nan)
    u = _resolve_unit(spec, unit, source=None, field="unit")
    if u.is_uln_multiple:
        if not math.isnan(hi) and hi != 1.0:
            raise InputError(f"value is a multiple of the ULN (unit {unit!r}), so uln must be 1 "
                             f"or omitted, got {uln!r}", field="uln")
        hi = 1.0
    if u.factor is None or math.isnan(v):
        return None
    f = float(u.factor.numerator), float(u.factor.denominator)
    g = _grade_arrays(spec, np.array([v * f[0] / f[1]]), np.array([lo * f[0] / f[1]]),
                      np.array([hi]), np.array([base]))[0]
    return None if math.isnan(g) else int(g)


def grade_table(df: pd.DataFrame, *, term_col: str = "term", value_col: str = "value",
                unit_col: str = "unit", lln_col: str | None = "lln",
                uln_col: str | None = "uln", baseline_col: str | None = None,
                source: str = "labs") -> pd.Series:
    """CTCAE v4.03 grades of a table of lab values, one per row.

    The rules are those of :func:`grade`, applied row by row (vectorised per term and unit).

    Parameters
    ----------
    df
        One row per lab value.
    term_col, value_col, unit_col
        Columns holding the term, the value and its unit (required).
    lln_col, uln_col, baseline_col
        Columns holding the LLN, ULN and baseline in the unit of the row's value; ``None`` when the
        table has no such column (all unknown). A named column that is absent is an error.
    source
        Name of the table, used in error messages.

    Returns
    -------
    pandas.Series
        Nullable ``Int64`` grades (``<NA>`` unknown), indexed like ``df``, named ``"grade"``.

    Raises
    ------
    InputError
        As :func:`grade`; the message names ``source``, the row index and the column.
    """
    required = {"term_col": term_col, "value_col": value_col, "unit_col": unit_col}
    optional = {"lln_col": lln_col, "uln_col": uln_col, "baseline_col": baseline_col}
    for col in [*required.values(), *(c for c in optional.values() if c is not None)]:
        if col not in df.columns:
            raise InputError(f"missing column {col!r} (columns: {list(df.columns)})",
                             source=source, field=col)

    def column(col: str | None, *, positive: bool) -> np.ndarray:
        if col is None:
            return np.full(len(df), np.nan)
        series = df[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            arr = series.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = ~np.isnan(arr) & (~np.isfinite(arr) | (arr < 0) | (positive & (arr == 0)))
            if not bad.any():
                return arr
        # Slow path: find and name the offending row; numeric text (from CSV) is accepted.
        return np.array([
            _as_float(_parse_text(x), name=col, positive=positive, source=source, field=col,
                      where=f"row {idx!r}: ")
            for idx, x in zip(df.index, series.to_numpy(dtype=object))
        ], dtype=float)

    value = column(value_col, positive=False)
    lln = column(lln_col, positive=True)
    uln = column(uln_col, positive=True)
    baseline = column(baseline_col, positive=True)
    terms = df[term_col].to_numpy(dtype=object)
    units = df[unit_col].to_numpy(dtype=object)

    out = np.full(len(df), np.nan)
    groups: dict[tuple[str, Hashable], list[int]] = {}
    spec_cache: dict[Hashable, TermSpec] = {}
    for i, (t, u) in enumerate(zip(terms, units)):
        key_t = t if isinstance(t, Hashable) else repr(t)
        if key_t not in spec_cache:
            spec_cache[key_t] = _lookup_term(t, source=source, field=term_col,
                                             where=f"row {df.index[i]!r}: ")
        u_key: Hashable = None if _is_missing(u) else (u if isinstance(u, Hashable) else repr(u))
        groups.setdefault((spec_cache[key_t].term, u_key), []).append(i)

    for (term, _), rows in groups.items():
        spec = SPECS[term]
        first = rows[0]
        where = f"row {df.index[first]!r}" + (f" and {len(rows) - 1} more" if len(rows) > 1
                                               else "") + ": "
        unit = _resolve_unit(spec, units[first], source=source, field=unit_col, where=where)
        if unit.factor is None:
            continue
        idx = np.asarray(rows)
        hi = uln[idx]
        if unit.is_uln_multiple:
            bad = ~np.isnan(hi) & (hi != 1.0)
            if bad.any():
                r = df.index[idx[np.argmax(bad)]]
                raise InputError(f"row {r!r}: value is a multiple of the ULN, so the ULN must be "
                                 f"1 or missing, got {hi[np.argmax(bad)]!r}",
                                 source=source, field=uln_col)
            hi = np.ones_like(hi)
        f = float(unit.factor.numerator), float(unit.factor.denominator)
        out[idx] = _grade_arrays(spec, value[idx] * f[0] / f[1], lln[idx] * f[0] / f[1], hi,
                                 baseline[idx])
    grades = [None if math.isnan(g) else g for g in np.asarray(out, dtype=float).tolist()]
    return pd.Series(pd.array(grades, dtype="Int64"),
                     index=df.index, name="grade")

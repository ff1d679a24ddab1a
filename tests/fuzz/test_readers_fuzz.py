"""Fuzzing the patient table readers and the parameter merge (hypothesis, seeded, bounded).

Random corruptions of a demo patient's tables — cell types, units ×1e-3/×1e3, swapped columns,
dropped/duplicated rows, NaN/inf, extra fields, truncation, other encodings — must each end in

* an :class:`~iluminet.errors.InputError` naming the corrupted file, or
* a withheld decision or a flagged cycle, or
* an unflagged decision equal to the clean one: same action, cumulative BED within its
  uncertainty (2 × the largest relative TIA standard error of the cycles × the cumulative BED:
  BED = D + G·D²/(α/β) grows at most with D², so a relative dose error r moves it by ≤ 2r),

never a traceback. The outcome counts are printed (``pytest -s``) for the validation record.
``derandomize=True`` makes the examples the same on every run; ``ILUMINET_FUZZ_EXAMPLES`` raises
the count locally.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iluminet.config.params import merge_parameters
from iluminet.errors import InputError
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.planning import Action
from iluminet.patient.records import ACTIVITY_FILE, CYCLES_FILE, PATIENT_FILE, load_patient
from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient

EXAMPLES = int(os.environ.get("ILUMINET_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
CELL_VALUES = ("", " ", "abc", "1,5", "NaN", "nan", "inf", "-inf", "1e400", "−5", "-1", "0",
               "None", "null", "true", "2024-13-45", "12.5 MBq", "0x1F", "1_000", "٣")


@pytest.fixture(scope="module")
def clean(tmp_path_factory, default_params) -> dict:
    folder = tmp_path_factory.mktemp("fuzz") / "P001"
    generate_demo_patient(SCENARIOS[0], folder, seed=1)
    result = run_patient_dosimetry(load_patient(folder), default_params)
    assert result.decision_.action is Action.NEXT_CYCLE
    files = {name: (folder / name).read_bytes()
             for name in (PATIENT_FILE, CYCLES_FILE, ACTIVITY_FILE)}
    return {"folder": folder, "files": files, "result": result}


def _uncertainty_gy(result) -> float:
    relative = (result.fits_["tia_se_mbq_h"] / result.fits_["tia_mbq_h"]).max()
    return float(2 * relative * result.decision_.cumulative_bed_gy)


def _parse(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8"))))


def _write(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


@st.composite
def table_corruption(draw, n_rows: int, n_columns: int):
    """A list of 1–3 operations on a CSV table (header row 0, data rows 1..n_rows)."""
    row = st.integers(1, n_rows)
    column = st.integers(0, n_columns - 1)
    op = st.one_of(
        st.tuples(st.just("cell"), row, column,
                  st.one_of(st.sampled_from(CELL_VALUES), st.text(max_size=8))),
        st.tuples(st.just("scale"), st.lists(row, min_size=1, max_size=n_rows, unique=True),
                  column, st.sampled_from([1e-3, 1e3])),
        st.tuples(st.just("swap"), column, column),
        st.tuples(st.just("drop"), st.lists(row, min_size=1, max_size=n_rows, unique=True)),
        st.tuples(st.just("duplicate"), row),
        st.tuples(st.just("extra_field"), st.integers(0, n_rows)),
        st.tuples(st.just("rename_column"), column, st.sampled_from(["", "x", "Cycle"])),
        st.tuples(st.just("encoding"), st.sampled_from(["latin-1", "utf-16", "cp1252"])),
        st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    )
    return draw(st.lists(op, min_size=1, max_size=3))


def _apply(raw: bytes, operations) -> bytes:
    rows = _parse(raw)
    tail: list = []
    for op in operations:
        kind = op[0]
        if kind in ("encoding", "truncate"):
            tail.append(op)
            continue
        if kind == "cell" and op[1] < len(rows) and op[2] < len(rows[op[1]]):
            rows[op[1]][op[2]] = op[3]
        elif kind == "scale":
            for r in op[1]:
                if r < len(rows) and op[2] < len(rows[r]):
                    try:
                        rows[r][op[2]] = f"{float(rows[r][op[2]]) * op[3]:.6g}"
                    except ValueError:
                        pass
        elif kind == "swap":
            for r in rows:
                if op[1] < len(r) and op[2] < len(r):
                    r[op[1]], r[op[2]] = r[op[2]], r[op[1]]
        elif kind == "drop":
            rows = [r for i, r in enumerate(rows) if i == 0 or i not in op[1]]
        elif kind == "duplicate" and op[1] < len(rows):
            rows.insert(op[1], list(rows[op[1]]))
        elif kind == "extra_field" and op[1] < len(rows):
            rows[op[1]].append("12.5")
        elif kind == "rename_column" and op[1] < len(rows[0]):
            rows[0][op[1]] = op[2]
    data = _write(rows)
    encodings = [op[1] for op in tail if op[0] == "encoding"]
    if encodings:  # a non-ASCII character first, so that the encoding shows
        data = ("é" + data.decode("utf-8")).encode(encodings[-1], errors="replace")
    for op in tail:
        if op[0] == "truncate":
            data = data[: int(len(data) * op[1])]
    return data


def _outcome(clean: dict, files: dict[str, bytes], default_params, corrupted: str) -> str:
    folder: Path = clean["folder"]
    for name, content in files.items():
        (folder / name).write_bytes(content)
    try:
        try:
            record = load_patient(folder)
        except InputError as exc:
            # the corrupted file, or the other table whose cross-reference it broke (a cycle
            # dropped from cycles.csv leaves kidney_activity.csv naming an unknown cycle)
            named = Path(exc.source).name if exc.source else None
            assert named == corrupted or named in clean["files"] or named == folder.name, \
                f"error names {exc.source}, the corrupted file is {corrupted}: {exc}"
            return "input_error"
        result = run_patient_dosimetry(record, default_params)
    finally:
        for name, content in clean["files"].items():
            (folder / name).write_bytes(content)
    decision = result.decision_
    if decision.action is Action.WITHHOLD:
        return "withheld"
    if (result.cycles_["flags"] != "").any():
        return "flagged"
    reference = clean["result"].decision_
    tolerance = _uncertainty_gy(clean["result"])
    assert decision.action is reference.action, f"unflagged decision changed: {decision}"
    assert abs(decision.cumulative_bed_gy - reference.cumulative_bed_gy) <= tolerance, (
        f"unflagged cumulative BED {decision.cumulative_bed_gy:.3f} Gy differs from the clean "
        f"{reference.cumulative_bed_gy:.3f} Gy by more than {tolerance:.3f} Gy")
    return "unchanged_within_uncertainty"


def _fuzz_table(clean, default_params, name: str) -> Counter:
    rows = _parse(clean["files"][name])
    counts: Counter = Counter()

    @FUZZ
    @given(operations=table_corruption(len(rows) - 1, len(rows[0])))
    def run(operations) -> None:
        files = dict(clean["files"])
        files[name] = _apply(files[name], operations)
        counts[_outcome(clean, files, default_params, name)] += 1

    run()
    print(f"\nfuzz {name}: {sum(counts.values())} cases: {dict(sorted(counts.items()))}")
    return counts


@pytest.mark.slow
def test_fuzz_cycles_csv(clean, default_params):
    counts = _fuzz_table(clean, default_params, CYCLES_FILE)
    assert sum(counts.values()) >= min(EXAMPLES, 500)


@pytest.mark.slow
def test_fuzz_kidney_activity_csv(clean, default_params):
    counts = _fuzz_table(clean, default_params, ACTIVITY_FILE)
    assert sum(counts.values()) >= min(EXAMPLES, 500)
    assert counts["withheld"] + counts["flagged"] > 0  # the unit corruptions are caught


YAML_VALUES = ("", "7", "580", "-90", "0", "1e400", ".nan", ".inf", "not a date", "2999-01-01",
               "[1, 2]", "{a: 1}", "yes", "'58'", "~", "P002", ": :", "!!python/none ''")


@pytest.mark.slow
def test_fuzz_patient_yaml(clean, default_params):
    lines = clean["files"][PATIENT_FILE].decode("utf-8").splitlines()
    counts: Counter = Counter()
    index = st.integers(0, len(lines) - 1)
    op = st.one_of(
        st.tuples(st.just("value"), index, st.one_of(st.sampled_from(YAML_VALUES),
                                                     st.text(max_size=8))),
        st.tuples(st.just("scale"), index, st.sampled_from([1e-3, 1e3])),
        st.tuples(st.just("drop"), index),
        st.tuples(st.just("duplicate_key"), index, st.sampled_from(YAML_VALUES)),
        st.tuples(st.just("encoding"), st.sampled_from(["latin-1", "utf-16"])),
    )

    @FUZZ
    @given(operations=st.lists(op, min_size=1, max_size=3))
    def run(operations) -> None:
        edited = list(lines)
        encoding = "utf-8"
        for o in operations:
            if o[0] == "encoding":
                encoding = o[1]
                continue
            if o[1] >= len(edited) or ":" not in edited[o[1]]:
                continue
            key, _, value = edited[o[1]].partition(":")
            if o[0] == "value":
                edited[o[1]] = f"{key}: {o[2]}"
            elif o[0] == "scale":
                try:
                    edited[o[1]] = f"{key}: {float(value) * o[2]:g}"
                except ValueError:
                    pass
            elif o[0] == "drop":
                del edited[o[1]]
            elif o[0] == "duplicate_key":
                edited.append(f"{key}: {o[2]}")
        files = dict(clean["files"])
        files[PATIENT_FILE] = ("# é\n" + "\n".join(edited) + "\n").encode(encoding,
                                                                          errors="replace")
        counts[_outcome(clean, files, default_params, PATIENT_FILE)] += 1

    run()
    print(f"\nfuzz {PATIENT_FILE}: {sum(counts.values())} cases: {dict(sorted(counts.items()))}")
    assert sum(counts.values()) >= min(EXAMPLES, 500)


def _leaf_paths(tree: dict, prefix: tuple = ()) -> list[tuple]:
    paths = []
    for key, value in tree.items():
        if isinstance(value, dict):
            paths += _leaf_paths(value, prefix + (key,))
        else:
            paths.append(prefix + (key,))
    return paths


def test_fuzz_parameter_merge(default_params):
    """Random override layers: an InputError, or a merged tree whose every value has the
    default's type (numbers stay numbers, sections stay sections); never another exception."""
    leaves = _leaf_paths(default_params)
    value = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(),
                      st.text(max_size=6), st.lists(st.integers(), max_size=2),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
    path = st.one_of(st.sampled_from(leaves),
                     st.sampled_from(leaves).map(lambda p: p[:-1] + (p[-1] + "x",)),
                     st.sampled_from(leaves).map(lambda p: p[:-1]),
                     st.lists(st.text(max_size=5), min_size=1, max_size=3).map(tuple))
    counts: Counter = Counter()

    @FUZZ
    @given(entries=st.lists(st.tuples(path, value), min_size=1, max_size=4))
    def run(entries) -> None:
        layer: dict = {}
        for keys, item in entries:
            node = layer
            for key in keys[:-1]:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
            node[keys[-1]] = item
        try:
            merged = merge_parameters(default_params, ("fuzz", layer))
        except InputError as exc:
            assert exc.source == "fuzz"
            counts["input_error"] += 1
            return
        for leaf in leaves:
            default, got = default_params, merged
            for key in leaf:
                default, got = default[key], got[key]
            if default is None or got is None:
                continue
            if isinstance(default, bool):
                assert isinstance(got, bool), leaf
            elif isinstance(default, (int, float)):
                assert isinstance(got, (int, float)) and not isinstance(got, bool), leaf
            else:
                assert isinstance(got, type(default)), leaf
        counts["merged"] += 1

    run()
    print(f"\nfuzz parameter merge: {sum(counts.values())} cases: {dict(sorted(counts.items()))}")
    assert sum(counts.values()) >= min(EXAMPLES, 500)

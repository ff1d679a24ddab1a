"""Atomic writing and provenance."""

from __future__ import annotations

import hashlib
import json
import math
import stat

import pytest

from iluminet.provenance import file_sha256, provenance, write_json_atomic, write_text_atomic


def test_atomic_write_replaces_and_keeps_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "results.json"
    write_json_atomic(target, {"dose_gy": 4.5, "missing": math.nan, "list": [1.0, math.inf]})
    assert json.loads(target.read_text()) == {"dose_gy": 4.5, "missing": None, "list": [1.0, None]}
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH  # readable like any other file
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]  # no temporary left


def test_unserialisable_content_leaves_the_previous_file(tmp_path):
    target = tmp_path / "results.json"
    write_text_atomic(target, '{"previous": true}')
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"previous": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_provenance_hashes_inputs(tmp_path, workbook_root):
    source = tmp_path / "in.csv"
    source.write_text("a,b\n1,2\n")
    block = provenance([source], {"protocol": {"x": 1}}, workbook_root)
    assert block["inputs"]["in.csv"] == file_sha256(source)  # relative to the inputs' folder
    assert block["data_root"] == tmp_path.resolve().as_posix()
    assert file_sha256(source) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert block["parameters"] == {"protocol": {"x": 1}}
    assert block["versions"]["numpy"]

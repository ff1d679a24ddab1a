"""Provenance of results and atomic writing.

Every machine-readable result carries what it was computed from: input file hashes, the merged
parameters, the package and library versions and the git commit of the workbook. Files are written
atomically (temporary file + rename in the same folder) so a crash never leaves half a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

LIBRARIES = ("iluminet", "numpy", "scipy", "pandas", "lifelines", "SimpleITK", "pydicom",
             "papermill", "matplotlib")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(root: str | Path) -> str | None:
    """The workbook's git commit, with ``-dirty`` when tracked files have uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def relative_input(path: str | Path, data_root: str | Path) -> str:
    """``path`` relative to ``data_root`` in POSIX form; a file outside the data root is named by
    its file name only (an absolute path can leak folder names a site chose after patients)."""
    resolved, base = Path(path).resolve(), Path(data_root).resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        return f"(outside the data root)/{resolved.name}"


def input_root(paths: Iterable[str | Path]) -> Path:
    """The deepest folder holding every one of ``paths`` (resolved)."""
    parents = [str(Path(path).resolve().parent) for path in paths]
    return Path(os.path.commonpath(parents))


def provenance(input_files: Iterable[str | Path], parameters: Mapping[str, Any],
               root: str | Path | None = None, *, data_root: str | Path | None = None
               ) -> dict[str, Any]:
    """The provenance block attached to every result file.

    The inputs are keyed by their path relative to ``data_root`` (stable across runs and machines;
    an absolute path can leak folder names a site chose after patients) and the root is recorded
    once, as ``data_root``. Without ``data_root`` it is the deepest folder holding every input
    (:func:`input_root`; for a cohort notebook, the cohort folder), so no input is ever keyed by
    its absolute path.
    """
    files = list(input_files)
    if data_root is None and files:
        data_root = input_root(files)
    inputs = ({relative_input(path, data_root): file_sha256(path) for path in files}
              if data_root is not None else {})
    block: dict[str, Any] = {"created_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    if data_root is not None:
        block["data_root"] = Path(data_root).resolve().as_posix()
    return {
        **block,
        "inputs": inputs,
        "parameters": dict(parameters),
        "versions": library_versions(),
        "python": platform.python_version(),
        "git_commit": git_commit(root) if root is not None else None,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and hasattr(value, "name"):  # Enum
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it owner-only
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _without_nan(value: Any) -> Any:
    """NaN and infinity are not JSON: a missing number is written as null."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    return value


def write_json_atomic(path: str | Path, content: Mapping[str, Any]) -> Path:
    """Serialise first (so a value that cannot be written leaves no file), then write atomically."""
    text = json.dumps(_without_nan(content), indent=2, default=_jsonable, allow_nan=False)
    return write_text_atomic(path, text + "\n")

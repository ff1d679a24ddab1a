"""Parameters: the protocol and the analysis choices, merged from YAML layers with explicit
precedence.

Layers, lowest precedence first:

1. the defaults ``params/protocol.yaml`` and ``params/analysis.yaml`` (they also define which keys
   exist and what type each value has);
2. a site file (``params/site.yaml``, optional), for a centre's local choices;
3. the patient's override file (``params/patients/<patient_id>.yaml``, optional);
4. explicit overrides (a notebook's parameters or the command line), as a nested mapping.

Every layer may set any subset of keys. A key that the defaults do not define is an error, as is a
value of the wrong type, so a typo never silently leaves the default in force.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from iluminet.errors import InputError

PARAMETER_FILES = {"protocol": "protocol.yaml", "analysis": "analysis.yaml"}
SITE_FILE = "site.yaml"


def workbook_root() -> Path:
    """The workbook folder: ``$ILUMINET_ROOT``, else the nearest parent of the working directory or
    of this package that holds ``params/protocol.yaml``."""
    env = os.environ.get("ILUMINET_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "params" / PARAMETER_FILES["protocol"]).is_file():
                return candidate
    raise InputError("cannot find the workbook's params/protocol.yaml; set ILUMINET_ROOT",
                     source=str(Path.cwd()), field="params/protocol.yaml")


def params_dir(root: Path | None = None) -> Path:
    return (root or workbook_root()) / "params"


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; an empty file is an empty mapping, anything else is an error."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
    except FileNotFoundError:
        raise InputError("file not found", source=str(path)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", source=str(path)) from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise InputError(f"expected a mapping of parameters, got {type(content).__name__}",
                         source=str(path))
    return content


def _type_matches(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True  # null in the defaults means "optional, any type"; null in a layer unsets
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, type(default))


def merge_parameters(defaults: Mapping[str, Any], *layers: tuple[str, Mapping[str, Any]]
                     ) -> dict[str, Any]:
    """Merge override layers onto ``defaults``; later layers win.

    Parameters
    ----------
    defaults
        The complete parameter tree; it defines the allowed keys and their types.
    *layers
        ``(source_name, mapping)`` pairs, lowest precedence first. ``source_name`` (a file path or
        "notebook parameters") is used in error messages.

    Raises
    ------
    InputError
        For a key not present in ``defaults`` or a value whose type differs from the default's
        (a number where a number is expected, a mapping where a section is expected, ...).
    """
    merged = copy.deepcopy(dict(defaults))
    for source, layer in layers:
        _merge_into(merged, layer, source=source, prefix="")
    return merged


def _merge_into(
    target: dict[str, Any], layer: Mapping[str, Any], *, source: str, prefix: str
) -> None:
    if not isinstance(layer, Mapping):
        raise InputError(f"expected a mapping, got {type(layer).__name__}", source=source,
                         field=prefix.rstrip(".") or None)
    for key, value in layer.items():
        path = f"{prefix}{key}"
        if key not in target:
            allowed = ", ".join(sorted(map(str, target))) or "none"
            raise InputError(f"unknown parameter (allowed here: {allowed})", source=source,
                             field=path)
        default = target[key]
        if isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise InputError(f"expected a section (mapping), got {value!r}", source=source,
                                 field=path)
            _merge_into(default, value, source=source, prefix=f"{path}.")
            continue
        if not _type_matches(default, value):
            raise InputError(
                f"expected {type(default).__name__} like the default {default!r}, got {value!r}",
                source=source, field=path)
        target[key] = copy.deepcopy(value)


def default_parameters(root: Path | None = None) -> dict[str, Any]:
    """The defaults: ``{"protocol": {...}, "analysis": {...}}`` from ``params/``."""
    directory = params_dir(root)
    return {name: read_yaml(directory / filename) for name, filename in PARAMETER_FILES.items()}


def load_parameters(patient_id: str | None = None, overrides: Mapping[str, Any] | None = None,
                    *, root: Path | None = None, override_source: str = "explicit overrides"
                    ) -> dict[str, Any]:
    """The parameters in force for a patient: defaults < site < patient file < ``overrides``.

    ``overrides`` is a nested mapping with top-level sections ``protocol`` and/or ``analysis``,
    e.g. ``{"protocol": {"step1": {"bed_limit_gy": 23.0}}}``.
    """
    directory = params_dir(root)
    layers: list[tuple[str, Mapping[str, Any]]] = []
    site = directory / SITE_FILE
    if site.is_file():
        layers.append((str(site), read_yaml(site)))
    if patient_id is not None:
        patient_file = directory / "patients" / f"{patient_id}.yaml"
        if patient_file.is_file():
            layers.append((str(patient_file), read_yaml(patient_file)))
    if overrides:
        layers.append((override_source, overrides))
    return merge_parameters(default_parameters(root), *layers)


def dotted_overrides(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"protocol.step1.bed_limit_gy": 23}`` into a nested mapping (command-line form)."""
    nested: dict[str, Any] = {}
    for dotted, value in pairs.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested

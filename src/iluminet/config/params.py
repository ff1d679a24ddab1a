"""Parameters: the protocol and the analysis choices, merged from YAML layers with explicit
precedence and validated against the typed models of :mod:`iluminet.config.models`.

Layers, lowest precedence first:

1. the defaults ``params/protocol.yaml``, ``params/analysis.yaml``, ``params/efficacy.yaml`` and
   ``params/safety.yaml`` (one section each; they hold every default value);
2. a site file (``params/site.yaml``, optional), for a centre's local choices (any section);
3. the patient's override file (``params/patients/<patient_id>.yaml``, optional; ``protocol`` and
   ``analysis`` only — the cohort analyses are not per patient);
4. explicit overrides (a notebook's ``parameter_overrides`` or ``--set`` on the command line), as a
   nested mapping.

Every layer may set any subset of keys. The tree is validated after each layer, so an error names
the layer (file) that introduced it, the dotted field and what was expected: an unknown key, a value
of the wrong type, a non-finite number, a value out of range, a broken relation (a tolerance not
smaller than its limit, ...) or ``null`` for a required key are all errors, so a typo never silently
leaves the default in force.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from iluminet.config.models import SECTIONS, Parameters
from iluminet.errors import InputError

PARAMETER_FILES = {"protocol": "protocol.yaml", "analysis": "analysis.yaml",
                   "efficacy": "efficacy.yaml", "safety": "safety.yaml"}
SITE_FILE = "site.yaml"
#: libyaml's safe loader when available (same results, ~20x faster than the pure-Python one)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Sections a patient override file may set (the cohort analyses are not per patient).
PATIENT_SECTIONS = ("protocol", "analysis")


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
            content = yaml.load(handle, Loader=_SAFE_LOADER)
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


# ------------------------------------------------------------------------------------------------
# validation errors in the project's words
# ------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as the user typed it (YAML spelling for null, booleans and non-finite numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return f"{value:g}"
    if isinstance(value, (int, str)):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _submodel(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    field = model.model_fields.get(name)
    if field is None:
        return None
    annotation = field.annotation
    candidates = [annotation, *get_args(annotation)] if get_origin(annotation) else [annotation]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _model_at(loc: Iterable[Any], root: type[BaseModel] = Parameters) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or not isinstance(part, str):
            return None
        model = _submodel(model, part)
    return model


def _range_text(loc: tuple[Any, ...], root: type[BaseModel]) -> str | None:
    """``[0, 1]``-style range of the numeric field at ``loc`` from its declared bounds."""
    parent = _model_at(loc[:-1], root)
    name = loc[-1]
    if parent is None or not isinstance(name, str) or name not in parent.model_fields:
        return None
    lower = upper = None
    lower_open = upper_open = False
    for meta in parent.model_fields[name].metadata:
        for attr, is_lower, is_open in (("gt", True, True), ("ge", True, False),
                                        ("lt", False, True), ("le", False, False)):
            bound = getattr(meta, attr, None)
            if bound is None:
                continue
            if is_lower:
                lower, lower_open = bound, is_open
            else:
                upper, upper_open = bound, is_open
    if lower is None and upper is None:
        return None
    if upper is None:
        return f"{'>' if lower_open else '≥'} {lower:g}"
    if lower is None:
        return f"{'<' if upper_open else '≤'} {upper:g}"
    return f"in {'(' if lower_open else '['}{lower:g}, {upper:g}{')' if upper_open else ']'}"


_TYPE_WORDS = {
    "float": "a finite number", "int": "a whole number (integer)", "bool": "true or false",
    "string": "text", "list": "a list", "dict": "a section (mapping)",
    "model": "a section (mapping)", "model_attributes": "a section (mapping)",
}


def _message(error: Mapping[str, Any], root: type[BaseModel]) -> tuple[str, str]:
    """(dotted field, message) for one pydantic error."""
    loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    field_loc = loc
    if kind == "relation":
        extra = tuple(str(ctx["field"]).split("."))
        field_loc = loc + extra
        message = str(error["msg"])
    elif kind == "extra_forbidden":
        parent = _model_at(loc[:-1], root)
        allowed = ", ".join(parent.model_fields) if parent is not None else "none"
        message = f"unknown parameter (allowed here: {allowed})"
    elif kind == "missing":
        message = "required parameter missing"
    elif value is None and kind != "literal_error":
        message = "required parameter: it cannot be unset (got null)"
    elif kind == "literal_error":
        what = "a value" if value is None else _show(value)
        message = f"expected one of {ctx.get('expected', '?')}, got {what}"
        if value is None:
            message = f"required parameter: it cannot be unset; expected one of {ctx['expected']}"
    elif kind == "finite_number":
        message = f"expected a finite number, got {_show(value)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        expected = _range_text(loc, root) or {"greater_than": f"> {ctx.get('gt')}",
                                        "greater_than_equal": f"≥ {ctx.get('ge')}",
                                        "less_than": f"< {ctx.get('lt')}",
                                        "less_than_equal": f"≤ {ctx.get('le')}"}[kind]
        message = f"expected a value {expected}, got {_show(value)}"
    elif kind in ("too_short", "too_long"):
        message = f"expected at least {ctx.get('min_length')} value(s), got {_show(value)}" \
            if kind == "too_short" else \
            f"expected at most {ctx.get('max_length')} value(s), got {_show(value)}"
    elif kind == "string_too_short":
        message = "expected non-empty text"
    else:
        word = next((w for prefix, w in _TYPE_WORDS.items() if kind.startswith(prefix)), None)
        if kind == "int_from_float":
            word = "a whole number (integer)"
        message = f"expected {word}, got {_show(value)}" if word else str(error["msg"])
    return ".".join(str(p) for p in field_loc), message


def validation_error(exc: ValidationError, source: str | Mapping[str, str],
                     root: type[BaseModel] = Parameters) -> InputError:
    """An :class:`InputError` naming the source, the dotted field and what was expected.

    ``source`` is a name, or a mapping section → file name (the defaults). ``root`` is the model
    validated (fields are dotted from it). With several errors the first names the field and the
    others follow in the message.
    """
    errors = exc.errors(include_url=False)
    messages = [_message(e, root) for e in errors]
    field, message = messages[0]
    if len(messages) > 1:
        message += "; also " + "; ".join(f"field '{f}': {m}" for f, m in messages[1:])
    if isinstance(source, Mapping):
        section = field.split(".", 1)[0]
        source = source.get(section, ", ".join(source.values()))
    return InputError(message, source=source, field=field)


def validate_parameters(tree: Mapping[str, Any], source: str | Mapping[str, str] = "parameters"
                        ) -> Parameters:
    """The typed parameters of a complete nested mapping; bad values raise :class:`InputError`."""
    try:
        return Parameters.model_validate(tree)
    except ValidationError as exc:
        raise validation_error(exc, source) from None


def as_parameters(parameters: Parameters | Mapping[str, Any]) -> Parameters:
    """``parameters`` typed (validated if given as a mapping)."""
    if isinstance(parameters, Parameters):
        return parameters
    return validate_parameters(parameters)


def parameters_schema() -> dict[str, Any]:
    """The JSON Schema of the parameter tree (``iluminet params --schema``)."""
    return Parameters.model_json_schema()


# ------------------------------------------------------------------------------------------------
# merging
# ------------------------------------------------------------------------------------------------


def _merge_into(target: dict[str, Any], layer: Mapping[str, Any], *, source: str,
                prefix: str) -> None:
    """Deep-merge ``layer`` into ``target``: mappings merge key by key, anything else replaces.
    What is allowed is decided by the models afterwards."""
    for key, value in layer.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str):
            raise InputError(f"expected a parameter name, got {_show(key)}", source=source,
                             field=prefix.rstrip(".") or None)
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge_into(current, value, source=source, prefix=f"{path}.")
        else:
            target[key] = copy.deepcopy(value)


def _check_layer(layer: Any, source: str, sections: Iterable[str], why: str) -> None:
    if not isinstance(layer, Mapping):
        raise InputError(f"expected a mapping of sections, got {_show(layer)}", source=source)
    allowed = tuple(sections)
    for key in layer:
        if key not in allowed:
            if key in SECTIONS:
                raise InputError(f"section '{key}' cannot be set here ({why}; allowed: "
                                 f"{', '.join(allowed)})", source=source, field=str(key))
            raise InputError(f"unknown parameter section (allowed here: {', '.join(allowed)})",
                             source=source, field=str(key))


def merge_parameters(base: Parameters | Mapping[str, Any],
                     *layers: tuple[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Merge override layers onto a complete parameter tree; later layers win.

    Parameters
    ----------
    base
        The complete parameter tree (typed, or a mapping such as ``PatientDosimetry.parameters``).
    *layers
        ``(source_name, mapping)`` pairs, lowest precedence first. ``source_name`` (a file path,
        "--set", "notebook parameters") is used in error messages.

    Returns
    -------
    dict
        The merged, validated tree as a plain nested mapping.

    Raises
    ------
    InputError
        Naming the layer, the dotted field and what was expected (see the module notes).
    """
    return _merge(base, [(s, layer, SECTIONS) for s, layer in layers]).to_dict()


def _merge(base: Parameters | Mapping[str, Any],
           layers: Iterable[tuple[str, Mapping[str, Any], Iterable[str]]]) -> Parameters:
    merged = as_parameters(base).to_dict()  # a fresh copy: the base is never mutated
    typed: Parameters | None = None
    for source, layer, sections in layers:
        _check_layer(layer, source, sections, "not applicable")
        _merge_into(merged, layer, source=source, prefix="")
        typed = validate_parameters(merged, source)
    return typed if typed is not None else validate_parameters(merged)


def default_parameters(root: Path | None = None) -> dict[str, Any]:
    """The defaults: ``{"protocol": {...}, "analysis": {...}, "efficacy": {...}, "safety": {...}}``
    from ``params/``, validated."""
    return _defaults(root).to_dict()


def _defaults(root: Path | None) -> Parameters:
    directory = params_dir(root)
    files = {name: str(directory / filename) for name, filename in PARAMETER_FILES.items()}
    tree = {name: read_yaml(Path(path)) for name, path in files.items()}
    return validate_parameters(tree, files)


def load_config(patient_id: str | None = None, overrides: Mapping[str, Any] | None = None, *,
                root: Path | None = None, override_source: str = "explicit overrides",
                sections: Iterable[str] = SECTIONS) -> Parameters:
    """The typed parameters in force: defaults < site < patient file < ``overrides``.

    Parameters
    ----------
    patient_id
        Whose ``params/patients/<patient_id>.yaml`` applies (None: no patient layer).
    overrides
        Nested mapping of top-level sections, e.g.
        ``{"protocol": {"step1": {"bed_limit_gy": 23}}}``.
    root
        The workbook folder (default :func:`workbook_root`).
    override_source
        Name of the overrides in error messages ("--set", "notebook parameters").
    sections
        The sections ``overrides`` may set (a command refuses overrides it cannot apply).
    """
    directory = params_dir(root)
    layers: list[tuple[str, Mapping[str, Any], Iterable[str]]] = []
    site = directory / SITE_FILE
    if site.is_file():
        layers.append((str(site), read_yaml(site), SECTIONS))
    if patient_id is not None:
        patient_file = directory / "patients" / f"{patient_id}.yaml"
        if patient_file.is_file():
            layers.append((str(patient_file), read_yaml(patient_file), PATIENT_SECTIONS))
    if overrides:
        layers.append((override_source, overrides, tuple(sections)))
    for source, layer, allowed in layers:  # the section check first, with a precise reason
        why = ("a patient file sets per-patient parameters" if allowed == PATIENT_SECTIONS
               else "this command does not use it")
        _check_layer(layer, source, allowed, why)
    return _merge(_defaults(root), layers)


def load_parameters(patient_id: str | None = None, overrides: Mapping[str, Any] | None = None,
                    *, root: Path | None = None, override_source: str = "explicit overrides",
                    sections: Iterable[str] = SECTIONS) -> dict[str, Any]:
    """:func:`load_config` as a plain nested mapping (what notebooks and reports store)."""
    return load_config(patient_id, overrides, root=root, override_source=override_source,
                       sections=sections).to_dict()


def dotted_overrides(pairs: Mapping[str, Any], source: str = "--set") -> dict[str, Any]:
    """Turn ``{"protocol.step1.bed_limit_gy": 23}`` into a nested mapping (command-line form)."""
    nested: dict[str, Any] = {}
    for dotted, value in pairs.items():
        parts = dotted.split(".")
        if any(not p.strip() for p in parts):
            raise InputError("expected a dotted parameter name such as protocol.step1.bed_limit_gy",
                             source=source, field=dotted or "(empty)")
        node = nested
        for depth, part in enumerate(parts[:-1], start=1):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InputError(f"'{'.'.join(parts[:depth])}' is set to a value and used as a "
                                 "section at the same time", source=source, field=dotted)
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise InputError(f"'{dotted}' is set to a value and used as a section at the same "
                             "time", source=source, field=dotted)
        node[parts[-1]] = value
    return nested

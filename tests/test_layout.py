"""The package layout: old module names keep working, and they are the same module objects."""

from __future__ import annotations

import importlib
import warnings

import pytest

from iluminet._moved import MOVED_MODULES


@pytest.mark.parametrize("old_name", sorted(MOVED_MODULES))
def test_old_module_name_is_the_new_module_with_a_deprecation_warning(old_name: str) -> None:
    new_module = importlib.import_module(MOVED_MODULES[old_name])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import sys

        sys.modules.pop(old_name, None)
        old_module = importlib.import_module(old_name)
    assert old_module is new_module
    assert any(
        issubclass(w.category, DeprecationWarning) and MOVED_MODULES[old_name] in str(w.message)
        for w in caught
    )


def test_unknown_module_is_still_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("iluminet.no_such_module")

"""Interactive viewers and explorers for JupyterLab.

Pure rendering lives in :mod:`~iluminet.viewers.images` (SPECT/CT and planar views),
:mod:`~iluminet.viewers.tac`, :mod:`~iluminet.viewers.whatif` and
:mod:`~iluminet.viewers.cohort_km`; :mod:`~iluminet.viewers.widgets` wraps them in
ipywidgets. Every number shown is computed by the package's own chain.

Widgets are for live exploration: papermill does not keep widget state, so the batch reports use
the static figures of :mod:`iluminet.report.patient_figures` (the notebooks show widgets only with
``interactive=True``).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from iluminet.viewers.widgets import (
        BedWhatIf,
        CohortExplorer,
        PlanarViewer,
        SpectCtViewer,
        TacExplorer,
        bed_whatif,
        cohort_explorer,
        planar_viewer,
        spect_ct_viewer,
        tac_explorer,
    )

#: exported name -> module that defines it
_EXPORTS: dict[str, str] = {
    "BedWhatIf": "iluminet.viewers.widgets",
    "CohortExplorer": "iluminet.viewers.widgets",
    "PlanarViewer": "iluminet.viewers.widgets",
    "SpectCtViewer": "iluminet.viewers.widgets",
    "TacExplorer": "iluminet.viewers.widgets",
    "bed_whatif": "iluminet.viewers.widgets",
    "cohort_explorer": "iluminet.viewers.widgets",
    "planar_viewer": "iluminet.viewers.widgets",
    "spect_ct_viewer": "iluminet.viewers.widgets",
    "tac_explorer": "iluminet.viewers.widgets",
}

__all__ = [
    "BedWhatIf",
    "CohortExplorer",
    "PlanarViewer",
    "SpectCtViewer",
    "TacExplorer",
    "bed_whatif",
    "cohort_explorer",
    "planar_viewer",
    "spect_ct_viewer",
    "tac_explorer",
]


def __getattr__(name: str) -> Any:
    # lazy: importing the package does not import its heavy dependencies until a name is used
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

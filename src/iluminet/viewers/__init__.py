"""Interactive viewers and explorers for JupyterLab.

Pure rendering lives in :mod:`~iluminet.viewers.images` (SPECT/CT and planar views),
:mod:`~iluminet.viewers.tac`, :mod:`~iluminet.viewers.whatif` and
:mod:`~iluminet.viewers.cohort_km`; :mod:`~iluminet.viewers.widgets` wraps them in
ipywidgets. Every number shown is computed by the package's own chain.

Widgets are for live exploration: papermill does not keep widget state, so the batch reports use
the static figures of :mod:`iluminet.report.patient_figures` (the notebooks show widgets only with
``interactive=True``).
"""

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

"""iluminet — dosimetry-guided 177Lu-DOTATATE therapy workbook (ILUMINET trial).

Kidney dosimetry from calibrated activities or images, biologically effective dose by the
linear-quadratic model, the protocol's cycle decision, and the trial's efficacy and safety analyses.

The package is grouped by domain:

- :mod:`iluminet.patient` — one patient's chain: records, kinetics, dose, BED, cycle decision;
- :mod:`iluminet.imaging` — camera calibration and image quantification (DICOM in);
- :mod:`iluminet.trial` — the trial analysis: tables, efficacy, safety and their statistics;
- :mod:`iluminet.synthetic` — virtual patients, demo patients and a synthetic trial;
- :mod:`iluminet.report` — tables and figures for the reports;
- :mod:`iluminet.viewers` — interactive widgets for JupyterLab;
- :mod:`iluminet.config` — parameters; :mod:`iluminet.workbook` — runner and command line;
- :mod:`iluminet.nuclide`, :mod:`iluminet.units`, :mod:`iluminet.errors`,
  :mod:`iluminet.provenance` — the foundations every part uses.
"""

from iluminet import _moved

_moved.install()


def __getattr__(name: str) -> str:
    """``iluminet.__version__``, looked up when asked for: importlib.metadata is slow to import
    and most uses of the package (the command line's --help among them) never need it."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("iluminet")
        except PackageNotFoundError:  # running from a source tree without installation
            return "0.0.0+unknown"
    raise AttributeError(f"module 'iluminet' has no attribute {name!r}")

__all__ = ["__version__"]

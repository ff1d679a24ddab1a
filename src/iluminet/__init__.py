"""iluminet — dosimetry-guided 177Lu-DOTATATE therapy workbook (ILUMINET trial).

Kidney dosimetry from calibrated activities or images, biologically effective dose by the
linear-quadratic model, the protocol's cycle decision, and the trial's efficacy and safety analyses.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("iluminet")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

"""Uncertainty of the per-patient chain, from every measured input to a probabilistic decision.

Following the EANM framework (Gear et al. 2018), each kidney activity is count rate /
(calibration factor × recovery), and every input carries a relative standard uncertainty and a
sharing: per scan (independent), per cycle (shared by the scans of a cycle), per patient (shared by
every cycle). :mod:`~iluminet.uncertainty.budget` holds the components, :mod:`.model` maps them
through fit → TIA → dose → BED → cumulative BED, :mod:`.propagation` propagates them analytically
(law of propagation, first order) and by Monte Carlo, :mod:`.decision` turns the result into the
probabilities of the next-cycle decision and :mod:`.sensitivity` tabulates the radiobiological
parameters.
"""

from iluminet.uncertainty.budget import COMPONENTS, Budget, Component
from iluminet.uncertainty.model import PatientErrorModel, build_error_model
from iluminet.uncertainty.propagation import (
    AnalyticResult,
    MonteCarloResult,
    propagate_analytic,
    propagate_monte_carlo,
)

__all__ = ["COMPONENTS", "AnalyticResult", "Budget", "Component", "MonteCarloResult",
           "PatientErrorModel", "build_error_model", "propagate_analytic",
           "propagate_monte_carlo"]

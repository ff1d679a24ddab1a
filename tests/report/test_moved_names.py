"""The printing and plotting functions moved from iluminet.trial to iluminet.report (the trial
analysis may not import the report layer): the trial modules define none of them."""

from __future__ import annotations

import inspect

from iluminet.report import trial_figures, trial_text
from iluminet.trial import efficacy, safety


def test_trial_modules_compute_only():
    for module in (efficacy, safety):
        own = [n for n, f in inspect.getmembers(module, inspect.isfunction)
               if f.__module__ == module.__name__]
        assert not [n for n in own if n.startswith(("plot_", "format_"))], own
    for name in ("plot_waterfall", "format_key_numbers", "describe_cohort_source"):
        assert hasattr(trial_text, name) or hasattr(trial_figures, name)


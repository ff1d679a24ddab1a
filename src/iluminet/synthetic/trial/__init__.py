"""A synthetic ILUMINET-like trial: population, treatment through the package's own dosimetry and
decision code, tumour response, outcomes and laboratory values, in the cohort table layout.

``generate_cohort``, ``CohortParameters`` and ``paper_comparison`` are imported on first use (the
generator pulls in the dosimetry chain).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CohortParameters", "generate_cohort", "paper_comparison"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from iluminet.synthetic.trial import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'iluminet.synthetic.trial' has no attribute {name!r}")

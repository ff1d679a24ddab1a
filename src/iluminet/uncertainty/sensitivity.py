"""Radiobiological sensitivity: the cumulative BED for other α/β and repair half-times.

Not drawn as random by default: α/β and T_rep of the kidney are model parameters, not measured
inputs, so their effect is shown as a table beside the propagated uncertainty. Each cell re-runs the
BED of every kidney-cycle with the same doses and fitted kinetics
(:func:`iluminet.uncertainty.model.PatientErrorModel.evaluate` at ε = 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from iluminet.uncertainty.model import PatientErrorModel

ALPHA_BETA_GY = (1.5, 2.0, 2.6, 3.0, 3.5)
REPAIR_HALF_TIME_H = (0.5, 1.0, 2.0, 2.8, 3.0)


def radiobiology_table(model: PatientErrorModel,
                       alpha_beta_gy: Sequence[float] = ALPHA_BETA_GY,
                       repair_half_time_h: Sequence[float] = REPAIR_HALF_TIME_H) -> pd.DataFrame:
    """Cumulative BED after the last usable cycle (Gy): rows α/β (Gy), columns T_rep (h)."""
    zero = np.zeros((1, model.n_vars))
    table = {}
    for t_rep in repair_half_time_h:
        column = []
        for ab in alpha_beta_gy:
            cum = replace(model, alpha_beta_gy=float(ab),
                          repair_half_time_h=float(t_rep)).evaluate(zero)["cumulative_bed_gy"][0]
            finite = cum[np.isfinite(cum)]
            column.append(float(finite[-1]) if finite.size else np.nan)
        table[f"T_rep {t_rep:g} h"] = column
    return pd.DataFrame(table, index=pd.Index([f"α/β {ab:g} Gy" for ab in alpha_beta_gy],
                                              name="cumulative BED (Gy)"))

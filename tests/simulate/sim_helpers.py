"""Helpers shared by the simulator tests."""

from __future__ import annotations

import json
from pathlib import Path

from iluminet.synthetic.virtual import SimulationSettings
from iluminet.synthetic.virtual.phantom import Grid
from iluminet.synthetic.virtual.planar import PlanarCamera

SEED = 20240305


def small_settings(**overrides) -> SimulationSettings:
    """A coarse (9.6 mm) grid and matching planar matrix: same physics, ~8× fewer voxels."""
    base = dict(
        grid=Grid.centred((50, 64, 64), 9.6),
        planar=PlanarCamera(matrix_rows=256, matrix_columns=64, top_row=24),
    )
    base.update(overrides)
    return SimulationSettings(**base)


def load_truth(cycle_dir: Path) -> dict:
    return json.loads((cycle_dir / "truth.json").read_text())

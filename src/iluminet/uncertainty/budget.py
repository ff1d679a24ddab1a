"""The input components of the uncertainty budget, their sharing and their site defaults.

Every component is a *relative* standard uncertainty (one standard deviation, fraction) of a
multiplicative factor: of the kidney activity (count statistics, planar sensitivity, SPECT level,
recovery, dead time, camera calibration), of the kidney mass or of the S value. It enters in log
space, ``ln A' = ln A + u·ε`` with ε standard normal, so that a 5 % error is the same at 1 h
and at a week. The sharing says which scans one draw of ε applies to:

``scan``      one ε per scan (count statistics, planar day-to-day reproducibility);
``cycle``     one ε per cycle, shared by both kidneys and every scan of the cycle (SPECT level,
              dead time);
``kidney_cycle`` one ε per kidney and cycle (recovery, VOI delineation → mass);
``patient``   one ε for the patient, shared by every cycle (camera calibration, S-value model).

The defaults are in ``params/analysis.yaml`` (``uncertainty``), with their sources in
docs/references.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from iluminet.config.models import Uncertainty

Sharing = Literal["scan", "cycle", "kidney_cycle", "patient"]
Target = Literal["activity", "mass", "s_value"]


@dataclass(frozen=True)
class Component:
    """One input of the budget: its name, what it scales and how it is shared."""

    name: str
    target: Target
    sharing: Sharing
    label: str


COMPONENTS: tuple[Component, ...] = (
    Component("count_statistics", "activity", "scan", "count statistics"),
    Component("planar_sensitivity", "activity", "scan", "planar sensitivity (per scan)"),
    Component("spect_level", "activity", "cycle", "SPECT level (per cycle)"),
    Component("dead_time", "activity", "cycle", "dead time"),
    Component("recovery", "activity", "kidney_cycle", "recovery coefficient"),
    Component("kidney_mass", "mass", "kidney_cycle", "VOI delineation / kidney mass"),
    Component("camera_calibration", "activity", "patient", "camera calibration factor"),
    Component("s_value_model", "s_value", "patient", "S-value model"),
)
BY_NAME = {c.name: c for c in COMPONENTS}


@dataclass(frozen=True)
class Budget:
    """Relative standard uncertainties (fractions) of the components, and of the next cycle."""

    relative: dict[str, float]
    administered_activity: float
    next_cycle_variability: float

    @classmethod
    def from_config(cls, config: Uncertainty | dict[str, Any]) -> Budget:
        """From the typed ``analysis.uncertainty`` section (a mapping is validated)."""
        section = config if isinstance(config, Uncertainty) else Uncertainty.model_validate(config)
        values = section.model_dump()
        return cls({c.name: float(values[c.name]) for c in COMPONENTS},
                   float(section.administered_activity), float(section.next_cycle_variability))

    def scaled(self, **relative: float) -> Budget:
        """A copy with some components replaced (for tests and what-if tables)."""
        unknown = set(relative) - set(BY_NAME)
        if unknown:
            raise KeyError(f"unknown component(s): {sorted(unknown)}")
        return Budget({**self.relative, **relative}, self.administered_activity,
                      self.next_cycle_variability)

    @property
    def future_relative_sd(self) -> float:
        """Relative SD of a future cycle's BED about its prediction from sources other than the
        measured cycles: ``√(u_A² + u_var²)`` (administered activity, cycle-to-cycle variation)."""
        return float((self.administered_activity ** 2 + self.next_cycle_variability ** 2) ** 0.5)

"""Wall time of the synthetic safety tables and of the safety analysis.

For the 96-patient ILUMINET-like cohort (``generate_cohort``, 97 enrolled) and a larger one
(970 enrolled): ``simulate_safety`` (labs and clinical adverse events) and ``safety_analysis``
(grading, Table 2, renal function). Best of ``REPEATS`` runs. Run:
``python benchmarks/bench_safety.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iluminet.synthetic.trial import generate_cohort
from iluminet.synthetic.trial.safety import simulate_safety
from iluminet.trial.safety import safety_analysis

REPEATS = 3


def _best(fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    print(machine())
    for n_enrolled in (97, 970):
        cohort = generate_cohort(seed=1, n_enrolled=n_enrolled, fast=True)
        p, c, e = cohort.patients, cohort.cycles, cohort.events
        t_sim, (labs, aes) = _best(lambda p=p, c=c, e=e: simulate_safety(p, c, e, seed=1))
        t_ana, _ = _best(lambda p=p, c=c, e=e, labs=labs, aes=aes:
                         safety_analysis(p, c, e, labs, aes))
        n_treated = int(p["treated"].sum())
        print(f"{n_treated:4d} treated patients: {len(labs):7d} lab rows, {len(aes):5d} AEs; "
              f"simulate_safety {t_sim:6.2f} s, safety_analysis {t_ana:6.2f} s")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()

"""Benchmark: uncertainty propagation of a 6-cycle patient (analytic, Monte Carlo with 10 000
draws) and the default total relative dose uncertainty per cycle of the demo patients.

Run: .venv/bin/python benchmarks/bench_uncertainty.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _machine import machine

from iluminet.config.params import load_parameters, workbook_root
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.entry import prepare_patient
from iluminet.uncertainty.propagation import propagate_analytic, propagate_monte_carlo


def main() -> None:
    print(machine())
    params = load_parameters()
    demo = workbook_root() / "data" / "demo" / "patients"
    for patient in ("P001", "P002", "P003", "P004"):
        result = run_patient_dosimetry(prepare_patient(demo, patient, params).record, params)
        u = result.uncertainty_
        kid = u.kidney_table()
        cyc = u.cycle_table()
        rel_cycle = cyc["cycle_dose_gy_u"] / cyc["cycle_dose_gy"]
        print(f"{patient}: relative dose uncertainty (1 SD) per kidney-cycle "
              f"{100 * kid['dose_gy_relative_u'].min():.1f}–"
              f"{100 * kid['dose_gy_relative_u'].max():.1f} %, per cycle (mean kidney) "
              f"{100 * rel_cycle.min():.1f}–{100 * rel_cycle.max():.1f} %; "
              f"{u.dominant_source_sentence()}")
    result = run_patient_dosimetry(prepare_patient(demo, "P002", params).record, params)
    model = result.uncertainty_.model
    print(f"P002: {len(model.cycles)} cycles, {model.n_vars} elementary error variables")
    for label, fn in (("analytic", lambda: propagate_analytic(model)),
                      ("Monte Carlo 10 000 draws",
                       lambda: propagate_monte_carlo(model, 10_000, 1))):
        times = []
        for _ in range(5):
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            times.append((time.perf_counter() - start, time.process_time() - cpu))
        wall = statistics.median(t[0] for t in times)
        cpu_s = statistics.median(t[1] for t in times)
        print(f"{label}: median wall {wall:.3f} s, CPU {cpu_s:.3f} s over 5 runs")
    mc = propagate_monte_carlo(model, 10_000, 1)
    a = propagate_analytic(model)
    ratio = mc.sd("cumulative_bed_gy") / a.sd("cumulative_bed_gy")
    print("MC/analytic SD of the cumulative BED per cycle: "
          + ", ".join(f"{r:.3f}" for r in ratio if np.isfinite(r)))


if __name__ == "__main__":
    main()

"""Benchmark: the measurement-level chain (fit → TIA → dose → BED → decision) per patient, and one
patient's two notebooks through papermill (kernel start included).

Run: .venv/bin/python benchmarks/bench_patient_chain.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from iluminet.config.params import load_parameters, workbook_root
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.records import load_patient
from iluminet.synthetic.demo_patients import generate_demo_patients
from iluminet.workbook.runner import run_patients


def main() -> None:
    print(machine())
    params = load_parameters()
    with tempfile.TemporaryDirectory() as tmp:
        folders = generate_demo_patients(Path(tmp) / "patients")
        timings = []
        tracemalloc.start()
        for _ in range(20):
            for folder in folders:
                start = time.perf_counter()
                run_patient_dosimetry(load_patient(folder), params)
                timings.append(time.perf_counter() - start)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"chain per patient (read + fit + dose + BED + decision, 2–6 cycles): "
              f"median {1000 * statistics.median(timings):.1f} ms, "
              f"max {1000 * max(timings):.1f} ms over {len(timings)} runs; "
              f"peak traced memory {peak / 1e6:.1f} MB")
        root = workbook_root()
        for workers in (1, 2):
            start = time.perf_counter()
            results = run_patients([f.name for f in folders], data_dir=Path(tmp) / "patients",
                                   reports_dir=Path(tmp) / f"reports{workers}",
                                   notebooks_dir=root / "notebooks", workers=workers,
                                   progress=False)
            elapsed = time.perf_counter() - start
            assert all(r.ok for r in results), [r.error for r in results]
            print(f"papermill, {len(folders)} patients × 2 notebooks, {workers} worker(s): "
                  f"{elapsed:.1f} s ({elapsed / len(folders):.1f} s per patient)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()

"""Benchmark: image processing of one cycle (DICOM reading, planar and SPECT quantification,
hybrid curve) — wall time (median of repeats, in-process, excluding interpreter/kernel start)
and peak memory (tracemalloc: Python and NumPy allocations; ru_maxrss: whole process).

Run: .venv/bin/python benchmarks/bench_imaging.py [--repeat 5] [--data DIR]
(without --data, one virtual patient with one cycle is generated in a temporary folder).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from iluminet.imaging import calibrate_camera, quantify_cycle, read_cycle_study
from iluminet.synthetic.virtual import generate_virtual_patients


def main() -> None:
    print(machine())
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None,
                        help="a generated dataset (virtual_patients.json); default: generate one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        if args.data is None:
            generate_virtual_patients(1, 1, 2022, root)
        calibration, _, _ = calibrate_camera(root / "calibration", "bench")
        cycle = min((root / "patients").glob("*/cycle_01"))
        quantify_cycle(cycle, calibration, cycle=1)  # warm-up (imports, caches)

        read_t, total_t = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            study = read_cycle_study(cycle)
            read_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            quantify_cycle(cycle, calibration, cycle=1)
            total_t.append(time.perf_counter() - start)
        tracemalloc.start()
        quantify_cycle(cycle, calibration, cycle=1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        n_files = sum(1 for _ in (cycle / "dicom").rglob("*.dcm"))
        print(f"cycle: {cycle} ({n_files} DICOM files, {len(study.planar)} planar scans)")
        print(f"read + check DICOM/VOIs: median {statistics.median(read_t):.2f} s "
              f"(min {min(read_t):.2f}) over {args.repeat} runs")
        print(f"whole cycle (read + quantify): median {statistics.median(total_t):.2f} s "
              f"(min {min(total_t):.2f}) over {args.repeat} runs")
        print(f"peak traced memory: {peak / 2**20:.0f} MiB; process max RSS {maxrss_mb:.0f} MiB")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()

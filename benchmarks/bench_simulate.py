"""Wall time and on-disk size of one virtual patient with one cycle on the clinical grid.

One cycle = CT (128 × 128 × 100, 4.8 mm), SPECT (same grid), 4 time points × 2 planar views × 3
energy windows (512 × 128, 4.8 mm), VOIs and truth, plus the calibration acquisitions written once
per dataset. Run: ``python benchmarks/bench_simulate.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from iluminet.synthetic.virtual import generate_virtual_patients


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "vp"
        start = time.perf_counter()
        generate_virtual_patients(1, 1, seed=1, out_dir=out, noise=True)
        elapsed = time.perf_counter() - start
        cycle = out / "patients" / "VP001" / "cycle_01"
        print(f"one patient, one cycle (with calibration): {elapsed:.2f} s wall time")
        print(f"  cycle folder:      {_size_mb(cycle):6.2f} MB")
        for sub in ("dicom/spect_ct_024h/CT", "dicom/spect_ct_024h/NM_RECON.dcm", "voi"):
            target = cycle / sub
            size = target.stat().st_size / 1e6 if target.is_file() else _size_mb(target)
            print(f"    {sub:30s} {size:6.2f} MB")
        planar = sum(_size_mb(p) for p in (cycle / "dicom").glob("wb_*"))
        print(f"    {'planar (4 × 2 views × 3 windows)':30s} {planar:6.2f} MB")
        print(f"  calibration:       {_size_mb(out / 'calibration'):6.2f} MB")
        print(f"  dataset total:     {_size_mb(out):6.2f} MB")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()

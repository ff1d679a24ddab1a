"""``iluminet simulate images --patients N --cycles K --seed S --out DIR [--force] [--no-noise]``:
image-level virtual patients (DICOM planar whole-body, SPECT and CT, NIfTI kidney VOIs and a
``truth.json`` per cycle) written by :func:`iluminet.synthetic.virtual.generate_virtual_patients`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from iluminet.errors import InputError

#: Shown in the help; a test checks it against the simulator's DEFAULT_ACTIVITY_MBQ (the help is
#: built without importing the simulator).
_DEFAULT_ACTIVITY_HELP_MBQ = 7400


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate images`` options to a (sub)parser."""
    parser.add_argument("--patients", type=int, required=True, help="number of virtual patients")
    parser.add_argument("--cycles", type=int, required=True, help="treatment cycles per patient")
    parser.add_argument("--seed", type=int, required=True,
                        help="random seed (the dataset is deterministic in it)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder to write (empty, new, or a dataset written earlier by this "
                             "command)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing generated dataset in --out")
    parser.add_argument("--no-noise", dest="noise", action="store_false",
                        help="write noise-free (expected) counts and CT numbers")
    parser.add_argument("--activity-mbq", type=float, default=None,
                        help="nominal injected activity per cycle "
                             f"(MBq, default {_DEFAULT_ACTIVITY_HELP_MBQ})")


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; print a one-line summary. Returns 0, or 2 on bad input."""
    from iluminet.synthetic.virtual.study import DEFAULT_ACTIVITY_MBQ, generate_virtual_patients

    start = time.perf_counter()
    activity_mbq = DEFAULT_ACTIVITY_MBQ if args.activity_mbq is None else args.activity_mbq
    try:
        paths = generate_virtual_patients(args.patients, args.cycles, args.seed, args.out,
                                          force=args.force, noise=args.noise,
                                          activity_mbq=activity_mbq)
    except InputError as exc:
        print(f"iluminet simulate images: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} virtual patient(s) × {args.cycles} cycle(s) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="iluminet simulate images", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

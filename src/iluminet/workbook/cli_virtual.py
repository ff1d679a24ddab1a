"""Command line: ``iluminet simulate --patients N --cycles K --seed S --out DIR [--force]
[--no-noise]``."""

from __future__ import annotations

import argparse
import sys
import time

from iluminet.errors import InputError
from iluminet.synthetic.virtual.study import DEFAULT_ACTIVITY_MBQ, generate_virtual_patients


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to a (sub)parser."""
    parser.add_argument("--patients", type=int, required=True, help="number of virtual patients")
    parser.add_argument("--cycles", type=int, required=True, help="treatment cycles per patient")
    parser.add_argument(
        "--seed", type=int, required=True, help="random seed (dataset is deterministic in it)"
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output folder (empty, new, or a dataset written earlier by this command)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing generated dataset in --out"
    )
    parser.add_argument(
        "--no-noise",
        dest="noise",
        action="store_false",
        help="write noise-free (expected) counts and CT numbers",
    )
    parser.add_argument(
        "--activity-mbq",
        type=float,
        default=DEFAULT_ACTIVITY_MBQ,
        help="nominal injected activity per cycle (MBq, default 7400)",
    )


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; print a one-line summary. Returns 0, or 2 on bad input."""
    start = time.perf_counter()
    try:
        paths = generate_virtual_patients(
            args.patients,
            args.cycles,
            args.seed,
            args.out,
            force=args.force,
            noise=args.noise,
            activity_mbq=args.activity_mbq,
        )
    except InputError as exc:
        print(f"iluminet simulate: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {len(paths)} virtual patient(s) × {args.cycles} cycle(s) to {args.out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="iluminet simulate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

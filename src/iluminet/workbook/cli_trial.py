"""``iluminet simulate cohort [--seed S] [--out DIR] [--patients N] [--force] [--fast|--fit]``:
a synthetic ILUMINET-like trial cohort (:func:`iluminet.synthetic.trial.generator.generate_cohort`)
— the cohort tables written into ``--out``, with a README and ``provenance.json`` that label them
synthetic — then the paper-vs-this-run table. ``iluminet cohort --data DIR`` analyses them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from iluminet.errors import InputError

DEFAULT_OUT = Path("data") / "demo" / "cohort"
#: Above this many patients the closed-form dosimetry is used unless --fit is given.
FAST_ABOVE = 1000
#: Shown in the help; a test checks it against the generator's DEFAULT_SEED (the help is built
#: without importing the simulator).
_DEFAULT_SEED_HELP = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate cohort`` options to a (sub)parser."""
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; the cohort is deterministic in it "
                             f"(default {_DEFAULT_SEED_HELP})")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder to write the cohort tables into (default "
                             f"<workbook>/{DEFAULT_OUT})")
    parser.add_argument("--patients", type=int, default=97,
                        help="enrolled patients (default 97, as ILUMINET)")
    parser.add_argument("--force", action="store_true", help="replace an existing cohort in --out")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", dest="fast", action="store_true", default=None,
                      help="closed-form mono-exponential dosimetry (default above "
                           f"{FAST_ABOVE} patients)")
    mode.add_argument("--fit", dest="fast", action="store_false",
                      help="the package's kinetic fit for every cycle (default up to "
                           f"{FAST_ABOVE} patients)")
    parser.add_argument("--no-comparison", dest="comparison", action="store_false",
                        help="do not print the paper-vs-this-run table")
    parser.add_argument("--kidney-spread", choices=("calibrated", "published"),
                        default="calibrated",
                        help="between-patient kidney uptake/half-life spread: the calibrated "
                             "model (dose per GBq CV ~16 %%) or the published one (~35 %%)")


def run(args: argparse.Namespace, *, quiet: bool = False) -> int:
    """Generate and write the cohort; returns 0, or 2 on bad input. ``quiet``: no summary line."""
    from iluminet.synthetic.trial.generator import (
        DEFAULT_SEED,
        CohortParameters,
        generate_cohort,
        paper_comparison,
        provenance_text,
        readme_text,
    )
    from iluminet.trial.schema import write_cohort

    start = time.perf_counter()
    seed = DEFAULT_SEED if args.seed is None else args.seed
    try:
        out = args.out
        if out is None:
            from iluminet.config.params import workbook_root

            out = workbook_root() / DEFAULT_OUT
        fast = args.fast if args.fast is not None else args.patients > FAST_ABOVE
        parameters = CohortParameters()
        if getattr(args, "kidney_spread", "calibrated") == "published":
            parameters = parameters.with_published_kidney_spread()
        cohort = generate_cohort(seed, args.patients, parameters, fast=fast)
        write_cohort(cohort, out, force=args.force, extra_files={
            "README.md": readme_text(seed, args.patients, parameters, fast),
            "provenance.json": provenance_text(seed, args.patients, parameters, fast)})
    except InputError as exc:
        print(f"iluminet simulate cohort: error: {exc}", file=sys.stderr)
        return 2
    if not quiet:
        print(f"wrote a synthetic cohort of {args.patients} enrolled patients (seed {seed}) to "
              f"{out} in {time.perf_counter() - start:.1f} s")
    if getattr(args, "comparison", True):
        print(paper_comparison(cohort).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def main(argv: list[str] | None = None, *, quiet: bool = False) -> int:
    parser = argparse.ArgumentParser(prog="iluminet simulate cohort", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv), quiet=quiet)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

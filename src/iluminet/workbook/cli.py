"""The ``iluminet`` command line.

    iluminet run                      the demo: every demo patient, then the cohort notebooks
    iluminet patient ID [ID ...]      per-patient dosimetry, BED and cycle decision reports
    iluminet demo [--force]           generate the demo data (patients, virtual patients, cohort)
    iluminet simulate --patients N --cycles K --seed S --out DIR
                                      virtual patients: DICOM planar/SPECT/CT, VOIs, ground truth
    iluminet simulate cohort [--seed S] [--patients N] [--out DIR]
                                      a synthetic ILUMINET-like trial (the cohort tables)
    iluminet cohort [--data DIR]      the cohort notebooks (efficacy, safety) → reports/cohort
    iluminet params [--patient ID]    print the parameters in force (merged YAML)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from iluminet.errors import InputError

DEMO_DIR = Path("data") / "demo"
DEMO_PATIENTS_DIR = DEMO_DIR / "patients"
DEMO_IMAGES_DIR = DEMO_DIR / "images"
DEMO_IMAGE_PATIENTS, DEMO_IMAGE_CYCLES, DEMO_IMAGE_SEED = 3, 2, 2022


def _root() -> Path:
    from iluminet.config.params import workbook_root

    return workbook_root()


def _parse_set(pairs: list[str]) -> dict[str, Any]:
    """``--set protocol.step1.bed_limit_gy=23`` pairs (values parsed as YAML scalars)."""
    from iluminet.config.params import dotted_overrides

    parsed = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"expected KEY=VALUE, got {pair!r}", field="--set")
        key, value = pair.split("=", 1)
        parsed[key.strip()] = yaml.safe_load(value)
    return dotted_overrides(parsed)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reports", type=Path, default=None,
                        help="report folder (default: <workbook>/reports)")
    parser.add_argument("--workers", type=int, default=1, help="parallel patient processes")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run on a Dask scheduler (tcp://host:8786), or 'local' for a local "
                             "cluster of --workers processes")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a parameter, e.g. protocol.step1.bed_limit_gy=23")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iluminet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the demo: all demo patients, then the cohort")
    _add_common(run)

    patient = commands.add_parser("patient", help="per-patient reports")
    patient.add_argument("patient_ids", nargs="+", metavar="ID")
    patient.add_argument("--data", type=Path, default=None,
                         help="folder holding the patient folders (default: the demo data, "
                             "measurement level then virtual patients)")
    _add_common(patient)

    demo = commands.add_parser("demo", help="generate the demo data (patients, images, cohort)")
    demo.add_argument("--out", type=Path, default=None,
                      help=f"demo folder (default <workbook>/{DEMO_DIR})")
    demo.add_argument("--force", action="store_true", help="regenerate existing demo data")

    from iluminet.workbook import cli_virtual as simulate_cli

    simulate = commands.add_parser("simulate", help="generate virtual patients (DICOM + truth)")
    simulate_cli.add_arguments(simulate)

    cohort = commands.add_parser("cohort", help="the cohort notebooks (efficacy, safety)")
    cohort.add_argument("--data", type=Path, default=None,
                        help="folder holding cohort/ with the trial tables (default: the demo)")
    cohort.add_argument("--reports", type=Path, default=None)
    cohort.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE")

    params = commands.add_parser("params", help="print the merged parameters")
    params.add_argument("--patient", default=None)
    params.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE")
    return parser


def _run_patients(batches: list[tuple[Path, list[str]]], args: argparse.Namespace) -> int:
    """Run ``(data_dir, patient_ids)`` batches; one summary, non-zero if any patient failed."""
    from iluminet.config.params import load_parameters
    from iluminet.workbook.runner import format_summary, run_patients

    root = _root()
    overrides = _parse_set(args.overrides)
    for _, ids in batches:  # fail fast on a bad parameter before starting any kernel
        for patient_id in ids:
            load_parameters(patient_id, overrides, root=root, override_source="--set")
    results = []
    for data_dir, ids in batches:
        results += run_patients(ids, data_dir=data_dir,
                                reports_dir=args.reports or root / "reports",
                                notebooks_dir=root / "notebooks", workers=args.workers,
                                parameter_overrides=overrides, progress=not args.no_progress,
                                dask_address=args.dask)
    print(format_summary(results))
    return 0 if all(r.ok for r in results) else 1


def _demo_patient_dirs(root: Path) -> list[Path]:
    """Measurement-level demo patients, then the image-level virtual patients."""
    return [root / DEMO_PATIENTS_DIR, root / DEMO_IMAGES_DIR / "patients"]


def _locate(patient_ids: list[str], data_dirs: list[Path]) -> list[tuple[Path, list[str]]]:
    """Group the IDs by the first data folder holding them; an unknown ID is an error."""
    from iluminet.patient.records import find_patients

    known = {d: set(find_patients(d)) if d.is_dir() else set() for d in data_dirs}
    batches: dict[Path, list[str]] = {}
    missing = []
    for patient_id in patient_ids:
        home = next((d for d in data_dirs if patient_id in known[d]), None)
        if home is None:
            missing.append(patient_id)
        else:
            batches.setdefault(home, []).append(patient_id)
    if missing:
        raise InputError(f"no patient folder with patient.yaml for {missing}",
                         source=", ".join(map(str, data_dirs)), field="ID")
    return list(batches.items())


def ensure_demo_data(demo_dir: Path, *, force: bool = False) -> list[Path]:
    """The embedded demo data under ``demo_dir``, each part generated once (deterministically)
    and then reused: measurement-level patients, image-level virtual patients, the synthetic
    trial cohort."""
    from iluminet.synthetic.demo_patients import generate_demo_patients
    from iluminet.synthetic.virtual import generate_virtual_patients
    from iluminet.synthetic.virtual.study import MANIFEST
    from iluminet.workbook import cli_trial as cohort_cli

    patients, images, cohort = (demo_dir / "patients", demo_dir / "images", demo_dir / "cohort")
    generate_demo_patients(patients, force=force)
    if force or not (images / MANIFEST).is_file():
        generate_virtual_patients(DEMO_IMAGE_PATIENTS, DEMO_IMAGE_CYCLES, DEMO_IMAGE_SEED, images,
                                  force=force)
    # a cohort written before questionnaires were simulated lacks qol.csv: regenerate it
    stale = (cohort / "patients.csv").is_file() and not (cohort / "qol.csv").is_file()
    if force or stale or not (cohort / "patients.csv").is_file():
        arguments = ["--out", str(cohort), "--no-comparison"] + (
            ["--force"] if force or stale else [])
        if cohort_cli.main(arguments):
            raise InputError("could not generate the demo cohort", source=str(cohort))
    return [patients, images, cohort]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["simulate", "cohort"]:  # a sub-command of its own, with its own options
        from iluminet.workbook import cli_trial as cohort_cli

        return cohort_cli.main(argv[2:])
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "params":
        from iluminet.config.params import load_parameters

        merged = load_parameters(args.patient, _parse_set(args.overrides), override_source="--set")
        print(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True), end="")
        return 0
    if args.command == "simulate":
        from iluminet.workbook import cli_virtual as simulate_cli

        return simulate_cli.run(args)
    if args.command == "demo":
        for folder in ensure_demo_data(args.out or _root() / DEMO_DIR, force=args.force):
            print(folder)
        return 0
    if args.command == "patient":
        data_dirs = [args.data] if args.data else _demo_patient_dirs(_root())
        return _run_patients(_locate(args.patient_ids, data_dirs), args)
    if args.command == "cohort":
        from iluminet.trial import read_cohort
        from iluminet.workbook.runner import format_summary, run_cohort

        root = _root()
        data = args.data or root / DEMO_DIR
        read_cohort(data / "cohort")  # fail fast, naming the table, row and column
        results = run_cohort(data_dir=data, reports_dir=args.reports or root / "reports",
                             notebooks_dir=root / "notebooks",
                             parameter_overrides=_parse_set(args.overrides))
        print(format_summary(results))
        return 0 if all(r.ok for r in results) else 1
    if args.command == "run":
        from iluminet.patient.records import find_patients
        from iluminet.workbook.runner import format_summary, run_cohort

        root = _root()
        ensure_demo_data(root / DEMO_DIR)
        batches = [(d, find_patients(d)) for d in _demo_patient_dirs(root)]
        status = _run_patients(batches, args)
        cohort = run_cohort(data_dir=root / DEMO_DIR,
                            reports_dir=args.reports or root / "reports",
                            notebooks_dir=root / "notebooks",
                            parameter_overrides=_parse_set(args.overrides))
        if cohort:
            print(format_summary(cohort))
            status = status or int(not all(r.ok for r in cohort))
        return status
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())

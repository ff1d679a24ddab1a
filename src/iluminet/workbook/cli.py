"""The ``iluminet`` command line.

    iluminet run                      the demo: every demo patient, then the cohort notebooks
    iluminet patient ID [ID ...]      per-patient dosimetry, BED and cycle decision reports
    iluminet cohort [--data DIR]      the cohort notebooks (efficacy, safety) → reports/cohort
    iluminet demo [--out DIR]         generate the demo data (patients, virtual patients, cohort)
    iluminet simulate images --patients N --cycles K --seed S --out DIR
                                      virtual patients: DICOM planar/SPECT/CT, VOIs, ground truth
    iluminet simulate cohort [--seed S] [--patients N] [--out DIR]
                                      a synthetic ILUMINET-like trial (the cohort tables)
    iluminet params [--patient ID] [--schema]
                                      print the parameters in force (merged YAML), or their
                                      JSON Schema

``--data DIR`` is always the folder holding the data the command reads (the patient folders for
``patient``, the cohort tables for ``cohort``); ``--out DIR`` is always the folder a command writes
its data into; ``--reports DIR`` the report folder.

``--set SECTION.KEY=VALUE`` (repeatable) overrides any parameter of params/*.yaml for this run; the
value is read as YAML (23, true, biexp, [25, 29]; empty = null). ``patient`` takes protocol.* and
analysis.*, ``cohort`` efficacy.* and safety.*, ``run`` all four; anything else is refused.

Each command is a sub-parser whose handler (``set_defaults(handler=...)``) imports what it needs
when it runs, so ``iluminet --help`` loads neither the simulator nor the imaging libraries.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iluminet.errors import InputError

DEMO_DIR = Path("data") / "demo"
DEMO_PATIENTS_DIR = DEMO_DIR / "patients"
DEMO_IMAGES_DIR = DEMO_DIR / "images"
DEMO_COHORT_DIR = DEMO_DIR / "cohort"
DEMO_IMAGE_PATIENTS, DEMO_IMAGE_CYCLES, DEMO_IMAGE_SEED = 3, 2, 2022
#: Version of the virtual DICOM files the demo holds; cached demo images of another version are
#: regenerated (2: whole-body sweeps timed by FieldOfViewDimensions and ScanVelocity).
DEMO_IMAGES_FORMAT = 2
DEMO_IMAGES_STAMP = "images_format.txt"

Handler = Callable[[argparse.Namespace], int]


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 help: str = "print the version and exit") -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0,
                         help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        import iluminet

        print(f"{parser.prog} {iluminet.__version__}")
        parser.exit()


def _root() -> Path:
    from iluminet.config.params import workbook_root

    return workbook_root()


#: The parameter sections each command applies (``--set`` outside them is refused).
COMMAND_SECTIONS: dict[str, tuple[str, ...]] = {
    "patient": ("protocol", "analysis"),
    "cohort": ("efficacy", "safety"),
    "run": ("protocol", "analysis", "efficacy", "safety"),
    "params": ("protocol", "analysis", "efficacy", "safety"),
}
PATIENT_SECTIONS, COHORT_SECTIONS = COMMAND_SECTIONS["patient"], COMMAND_SECTIONS["cohort"]


def _parse_set(pairs: list[str], command: str | None = None) -> dict[str, Any]:
    """``--set protocol.step1.bed_limit_gy=23`` pairs (values parsed as YAML scalars), refused
    when ``command`` does not apply the section."""
    import yaml

    from iluminet.config.params import dotted_overrides

    parsed = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"expected KEY=VALUE, got {pair!r}", source="--set", field=pair)
        key, value = pair.split("=", 1)
        try:
            parsed[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InputError(f"value {value!r} is not a YAML scalar (quote text)", source="--set",
                             field=key.strip()) from None
    nested = dotted_overrides(parsed)
    if command is not None:
        _check_sections(nested, command)
    return nested


def _check_sections(overrides: dict[str, Any], command: str) -> None:
    allowed = COMMAND_SECTIONS[command]
    for section, values in overrides.items():
        if section in allowed:
            continue
        users = [c for c in ("patient", "cohort") if section in COMMAND_SECTIONS[c]]
        where = (f"it applies to `iluminet {users[0]}` and `iluminet run`" if users
                 else f"known sections: {', '.join(COMMAND_SECTIONS['params'])}")
        raise InputError(f"`iluminet {command}` does not use the {section} parameters ({where}); "
                         f"this command takes {', '.join(s + '.*' for s in allowed)}",
                         source="--set", field=_first_key(section, values))


def _first_key(prefix: str, node: Any) -> str:
    """The first dotted key under ``prefix`` (to name the refused ``--set`` option)."""
    while isinstance(node, dict) and node:
        key, node = next(iter(node.items()))
        prefix = f"{prefix}.{key}"
    return prefix


def _sections(overrides: dict[str, Any], sections: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if k in sections}


def _validate_parameters(overrides: dict[str, Any], root: Path, command: str) -> None:
    """Fail fast (exit 2) on a bad parameter (site file or ``--set``) before any kernel starts;
    the per-patient files are checked with each patient."""
    from iluminet.config.params import load_config

    load_config(None, overrides, root=root, override_source="--set",
                sections=COMMAND_SECTIONS[command])


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a parameter, e.g. protocol.step1.bed_limit_gy=23 "
                             "(repeatable)")


def _add_reports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reports", type=Path, default=None,
                        help="report folder (default: <workbook>/reports)")


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress output (bars and step lines on stderr)")


def _add_batch(parser: argparse.ArgumentParser) -> None:
    _add_reports(parser)
    parser.add_argument("--workers", type=int, default=1, help="parallel patient processes")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run on a Dask scheduler (tcp://host:8786), or 'local' for a local "
                             "cluster of --workers processes")
    _add_set(parser)
    _add_progress(parser)


def _command(commands: Any, name: str, handler: Handler, help_text: str,
             description: str | None = None) -> argparse.ArgumentParser:
    """A sub-command whose ``handler(args)`` runs it (the way to add a command)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=description or help_text)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from iluminet.workbook import cli_trial, cli_virtual

    parser = argparse.ArgumentParser(prog="iluminet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _command(commands, "run", _cmd_run,
                   "run the demo: all demo patients, then the cohort notebooks")
    _add_batch(run)

    patient = _command(commands, "patient", _cmd_patient, "per-patient reports")
    patient.add_argument("patient_ids", nargs="+", metavar="ID")
    patient.add_argument("--data", type=Path, default=None,
                         help="folder holding the patient folders (default: the demo data, "
                              "measurement level then virtual patients)")
    patient.add_argument("--entry-level", choices=("auto", "images", "measurements"),
                         default="auto",
                         help="images (quantify the DICOM studies), measurements (read "
                              "kidney_activity.csv) or auto (images when the patient has image "
                              "folders; default)")
    _add_batch(patient)

    cohort = _command(commands, "cohort", _cmd_cohort,
                      "the cohort notebooks (efficacy, safety) → <reports>/cohort")
    cohort.add_argument("--data", type=Path, default=None,
                        help=f"folder holding the trial tables (patients.csv, cycles.csv, …; "
                             f"default <workbook>/{DEMO_COHORT_DIR})")
    _add_reports(cohort)
    _add_set(cohort)
    _add_progress(cohort)

    demo = _command(commands, "demo", _cmd_demo,
                    "generate the demo data (patients, images, cohort) once")
    demo.add_argument("--out", type=Path, default=None,
                      help=f"demo folder to write (default <workbook>/{DEMO_DIR})")
    demo.add_argument("--force", action="store_true", help="regenerate existing demo data")
    _add_progress(demo)

    simulate = _command(commands, "simulate", _cmd_simulate_usage,
                        "generate synthetic data: virtual patients (images) or a trial (cohort)")
    kinds = simulate.add_subparsers(dest="kind", metavar="KIND")
    images = _command(kinds, "images", cli_virtual.run,
                      "virtual patients: DICOM planar/SPECT/CT, kidney VOIs and ground truth",
                      description=cli_virtual.__doc__)
    cli_virtual.add_arguments(images)
    trial = _command(kinds, "cohort", cli_trial.run,
                     "a synthetic ILUMINET-like trial: the cohort tables, labelled synthetic",
                     description=cli_trial.__doc__)
    cli_trial.add_arguments(trial)

    params = _command(commands, "params", _cmd_params, "print the merged parameters")
    params.add_argument("--patient", default=None, help="include this patient's parameter file")
    params.add_argument("--schema", action="store_true",
                        help="print the JSON Schema of params/*.yaml instead")
    _add_set(params)
    return parser


def _legacy_argv(argv: list[str]) -> list[str]:
    """``iluminet simulate --patients …`` (without a kind) is ``iluminet simulate images …``."""
    if len(argv) > 1 and argv[0] == "simulate" and argv[1].startswith("--") \
            and argv[1] != "--help":
        print("note: 'iluminet simulate --patients …' is 'iluminet simulate images --patients …'",
              file=sys.stderr)
        return ["simulate", "images", *argv[1:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = _legacy_argv(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # runs in progress remove their staging folders; every previous report is unchanged
        print("interrupted: reports not yet swapped in were discarded; previous reports are "
              "unchanged", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------------------------
# Command handlers (imports inside: only the command that runs pays for them)
# --------------------------------------------------------------------------------------------


def _step(message: str, enabled: bool) -> Callable[[], None]:
    """Print ``message …`` on stderr now and ``done in X s`` when the returned function is
    called (progress of the long steps, kept off stdout, which carries the results)."""
    start = time.perf_counter()
    if enabled:
        print(f"{message} …", file=sys.stderr, flush=True)

    def done() -> None:
        if enabled:
            print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    return done


def _cmd_simulate_usage(args: argparse.Namespace) -> int:
    print("usage: iluminet simulate {images,cohort} [options]  (iluminet simulate KIND --help)",
          file=sys.stderr)
    return 2


def _cmd_params(args: argparse.Namespace) -> int:
    import json

    import yaml

    from iluminet.config.params import load_parameters, parameters_schema

    merged = load_parameters(args.patient, _parse_set(args.overrides, "params"),
                             override_source="--set")
    if args.schema:
        print(json.dumps(parameters_schema(), indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True), end="")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    for folder in ensure_demo_data(args.out or _root() / DEMO_DIR, force=args.force,
                                   progress=not args.no_progress):
        print(folder)
    return 0


def _cmd_patient(args: argparse.Namespace) -> int:
    data_dirs = [args.data] if args.data else _demo_patient_dirs(_root())
    return _run_patients(_locate(args.patient_ids, data_dirs), args)


def _cmd_cohort(args: argparse.Namespace) -> int:
    from iluminet.trial import read_cohort
    from iluminet.workbook.runner import check_reports_dir, format_summary, run_cohort

    root = _root()
    data = args.data or root / DEMO_COHORT_DIR
    overrides = _parse_set(args.overrides, "cohort")
    _validate_parameters(overrides, root, "cohort")
    check_reports_dir(args.reports or root / "reports")
    read_cohort(data)  # fail fast, naming the table, row and column
    results = run_cohort(data_dir=data, reports_dir=args.reports or root / "reports",
                         notebooks_dir=root / "notebooks", parameter_overrides=overrides,
                         progress=not args.no_progress)
    print(format_summary(results))
    return 0 if all(r.ok for r in results) else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from iluminet.patient.records import find_patients
    from iluminet.workbook.runner import format_summary, run_cohort

    root = _root()
    overrides = _parse_set(args.overrides, "run")
    _validate_parameters(overrides, root, "run")  # before the demo data and any kernel
    ensure_demo_data(root / DEMO_DIR, progress=not args.no_progress)
    batches = [(d, find_patients(d)) for d in _demo_patient_dirs(root)]
    status = _run_patients(batches, args)
    cohort = run_cohort(data_dir=root / DEMO_COHORT_DIR,
                        reports_dir=args.reports or root / "reports",
                        notebooks_dir=root / "notebooks",
                        parameter_overrides=_sections(overrides, COHORT_SECTIONS),
                        progress=not args.no_progress)
    if cohort:
        print(format_summary(cohort))
        status = status or int(not all(r.ok for r in cohort))
    return status


def _run_patients(batches: list[tuple[Path, list[str]]], args: argparse.Namespace) -> int:
    """Run ``(data_dir, patient_ids)`` batches; one summary, non-zero if any patient failed."""
    from iluminet.config.params import load_parameters
    from iluminet.workbook.runner import RunResult, check_reports_dir, format_summary, run_patients

    root = _root()
    overrides = _sections(_parse_set(args.overrides, args.command), PATIENT_SECTIONS)
    check_reports_dir(args.reports or root / "reports")
    for _, ids in batches:  # fail fast on a bad parameter before starting any kernel
        for patient_id in ids:
            load_parameters(patient_id, overrides, root=root, override_source="--set",
                            sections=PATIENT_SECTIONS)
    results: list[RunResult] = []
    for data_dir, ids in batches:
        results += run_patients(ids, data_dir=data_dir,
                                reports_dir=args.reports or root / "reports",
                                notebooks_dir=root / "notebooks", workers=args.workers,
                                parameter_overrides=overrides, progress=not args.no_progress,
                                dask_address=args.dask,
                                entry_level=getattr(args, "entry_level", "auto"))
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
    for patient_id in dict.fromkeys(patient_ids):  # an ID given twice runs once
        home = next((d for d in data_dirs if patient_id in known[d]), None)
        if home is None:
            missing.append(patient_id)
        else:
            batches.setdefault(home, []).append(patient_id)
    if missing:
        raise InputError(f"no patient folder with patient.yaml for {missing}",
                         source=", ".join(map(str, data_dirs)), field="ID")
    return list(batches.items())


def ensure_demo_data(demo_dir: Path, *, force: bool = False, progress: bool = True) -> list[Path]:
    """The embedded demo data under ``demo_dir``, each part generated once (deterministically)
    and then reused: measurement-level patients, image-level virtual patients, the synthetic
    trial cohort. With ``progress``, each part generated is announced on stderr with its time."""
    from iluminet.synthetic.demo_patients import generate_demo_patients
    from iluminet.synthetic.virtual import generate_virtual_patients
    from iluminet.synthetic.virtual.study import MANIFEST
    from iluminet.workbook import cli_trial

    patients, images, cohort = (demo_dir / "patients", demo_dir / "images", demo_dir / "cohort")
    done = _step(f"demo: measurement-level patients in {patients}", progress)
    generate_demo_patients(patients, force=force)
    done()
    # beside the images, not inside: the simulator owns its folder and refuses foreign files
    stamp = demo_dir / DEMO_IMAGES_STAMP
    current = stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == str(
        DEMO_IMAGES_FORMAT)
    if force or not (images / MANIFEST).is_file() or not current:
        # images written by an earlier file format (e.g. whole-body timing tags) are regenerated
        done = _step(f"demo: {DEMO_IMAGE_PATIENTS} virtual patients × {DEMO_IMAGE_CYCLES} "
                     f"cycles (DICOM) in {images}", progress)
        generate_virtual_patients(DEMO_IMAGE_PATIENTS, DEMO_IMAGE_CYCLES, DEMO_IMAGE_SEED, images,
                                  force=force or (images / MANIFEST).is_file())
        stamp.write_text(f"{DEMO_IMAGES_FORMAT}\n", encoding="utf-8")
        done()
    # a cohort written before questionnaires were simulated lacks qol.csv: regenerate it
    stale = (cohort / "patients.csv").is_file() and not (cohort / "qol.csv").is_file()
    if force or stale or not (cohort / "patients.csv").is_file():
        done = _step(f"demo: synthetic trial cohort in {cohort}", progress)
        arguments = ["--out", str(cohort), "--no-comparison"] + (
            ["--force"] if force or stale else [])
        if cli_trial.main(arguments, quiet=True):
            raise InputError("could not generate the demo cohort", source=str(cohort))
        done()
    return [patients, images, cohort]


if __name__ == "__main__":
    sys.exit(main())

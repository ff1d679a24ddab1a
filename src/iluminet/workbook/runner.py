"""Run the workbook's notebooks with papermill: per patient, for many patients, for the cohort.

Each notebook runs in its own kernel process (papermill's working-directory handling is not thread
safe, so parallel runs are separate processes). A patient's notebooks execute into a staging folder
that replaces ``reports/patients/<id>/`` only when everything succeeded: a failed run never destroys
the previous report, and its executed notebooks are kept in ``reports/patients/<id>.failed/`` to
show where it stopped. One failing patient does not stop the others.

Concurrent runs of one patient (two batches, two users) are serialised by a lock file
``reports/patients/.locks/<id>.lock`` (``fcntl.flock``: released by the operating system when a
process dies, so a killed run never leaves a stale lock). Under the lock, staging and backup
folders left by an interrupted run of the same patient are removed before the new run starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iluminet.errors import InputError

PATIENT_NOTEBOOKS = ("02_kidney_dosimetry", "03_bed_cycle_decision")
COHORT_NOTEBOOKS = ("04_efficacy", "05_safety", "08_quality_of_life")
#: The parameter section each cohort notebook applies; it receives only that part of the overrides.
COHORT_NOTEBOOK_SECTIONS = {"04_efficacy": "efficacy", "05_safety": "safety"}
#: The parameter sections the per-patient notebooks apply.
PATIENT_SECTIONS = ("protocol", "analysis")
KERNEL_NAME = "python3"
EXECUTION_TIMEOUT_S = 600
KERNEL_START_RETRIES = 2
DASK_CONNECT_TIMEOUT_S = 20
STAGING_TAG, BACKUP_TAG = "staging", "previous"
LOCKS_DIR = ".locks"


@dataclass
class RunResult:
    """Outcome of one unit of work (a patient or the cohort)."""

    name: str
    ok: bool
    seconds: float
    report_dir: Path | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def notebook_path(notebooks_dir: Path, name: str) -> Path:
    return notebooks_dir / f"{name}.ipynb"


def check_parameters(notebook: Path, parameters: Mapping[str, Any]) -> None:
    """Refuse parameters the notebook does not declare (papermill itself only warns)."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise InputError(f"unknown notebook parameter(s) {unknown}; declared: {sorted(declared)}",
                         source=str(notebook), field=", ".join(unknown))


def _is_kernel_start_failure(exc: BaseException) -> bool:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return False  # a cell raised: never retried
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in ("kernel died", "kernel didn't respond", "timeout waiting",
                                   "kernel_info", "zmq"))


def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernels talk over IPC (Unix domain sockets) instead of TCP.

    The kernels papermill starts here are local child processes: IPC needs no ports (no collisions
    between parallel runs) and ipykernel then has no reason to warn "Kernel is running over TCP
    without encryption" once per notebook.
    """
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class IpcKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _ip_default(self) -> str:
            # One socket prefix per kernel: kernels started at once in one folder (parallel
            # patients, Dask workers) would otherwise pick the same ./kernel-ipc-N files.
            return os.path.join(tempfile.gettempdir(), f"iluminet-kernel-{uuid.uuid4().hex}")

    return IpcKernelManager


def execute_notebook(notebook: Path, output: Path, parameters: Mapping[str, Any]) -> None:
    """Execute ``notebook`` into ``output`` with papermill; retry only kernel start failures."""
    import papermill

    kernel_manager = _ipc_kernel_manager()

    check_parameters(notebook, parameters)
    for attempt in range(KERNEL_START_RETRIES + 1):
        try:
            papermill.execute_notebook(
                str(notebook), str(output), parameters=dict(parameters), kernel_name=KERNEL_NAME,
                cwd=str(notebook.parent), execution_timeout=EXECUTION_TIMEOUT_S,
                progress_bar=False, log_output=False, report_mode=False,
                kernel_manager_class=kernel_manager)
            return
        except Exception as exc:  # noqa: BLE001 — classified below
            if attempt < KERNEL_START_RETRIES and _is_kernel_start_failure(exc):
                time.sleep(1.0 + attempt)
                continue
            raise


def export_html(executed: Path, html: Path, subject: str = "") -> None:
    """HTML rendering of an executed notebook without code cells (for clinicians), titled with
    ``subject`` (the patient) and the notebook (:mod:`iluminet.report.export`)."""
    from iluminet.report.export import export_notebook_html

    export_notebook_html(executed, html, subject or executed.stem)


def write_index(reports_dir: Path) -> None:
    """Rewrite ``reports/index.html`` (atomically) from what the runs left on disk."""
    from iluminet.report.export import write_report_index

    write_report_index(reports_dir)


def _replace_dir(staging: Path, final: Path) -> None:
    """Swap a finished staging folder into place, keeping the old one until the swap is done.

    The backup name is unique, so two swaps can never collide on it; if the second rename fails
    the previous report is put back."""
    backup = final.with_name(f".{final.name}.{BACKUP_TAG}-{uuid.uuid4().hex[:12]}")
    had_previous = final.exists()
    if had_previous:
        os.replace(final, backup)
    try:
        os.replace(staging, final)
    except BaseException:
        if had_previous and not final.exists():
            os.replace(backup, final)
        raise
    if had_previous:
        shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def report_lock(report_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of one report folder (waits for another run of the same report)."""
    locks = report_dir.parent / LOCKS_DIR
    locks.mkdir(parents=True, exist_ok=True)
    # lock files stay (removing one while another process waits on it would break the lock)
    with open(locks / f"{report_dir.name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_stale(report_dir: Path) -> list[Path]:
    """Remove the staging and backup folders of ``report_dir`` left by interrupted runs.

    Call only while holding :func:`report_lock`: then no other run of the same report is using
    them. The names are matched exactly, so another report's folders are never touched."""
    pattern = re.compile(rf"^\.{re.escape(report_dir.name)}\.({STAGING_TAG}|{BACKUP_TAG})-[\w]+$")
    removed = []
    for candidate in report_dir.parent.iterdir():
        if pattern.match(candidate.name) and candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def check_reports_dir(reports_dir: Path) -> Path:
    """The report folder, created if needed and checked writable, before any kernel starts."""
    reports_dir = Path(reports_dir)
    if reports_dir.exists() and not reports_dir.is_dir():
        raise InputError("is a file, not a folder", source=str(reports_dir), field="--reports")
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=reports_dir, prefix=".write-test-")
        probe.close()
    except OSError as exc:
        raise InputError(f"cannot write there ({exc.strerror or type(exc).__name__})",
                         source=str(reports_dir), field="--reports") from None
    return reports_dir


def run_notebooks(name: str, notebooks: Sequence[str], parameters: Mapping[str, Any],
                  report_dir: Path, notebooks_dir: Path,
                  summarize: Callable[[Path], dict[str, Any]] | None = None) -> RunResult:
    """Execute ``notebooks`` in order into ``report_dir`` (atomically, see module docs)."""
    start = time.perf_counter()
    try:
        report_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the report folder ({exc.strerror or type(exc).__name__})",
                         source=str(report_dir.parent)) from None
    with report_lock(report_dir):
        remove_stale(report_dir)
        return _run_locked(name, notebooks, parameters, report_dir, notebooks_dir, summarize, start)


def _error_text(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    error = f"{type(exc).__name__}: {message[-1] if message else ''}"
    if hasattr(exc, "ename"):  # papermill cell error: name the exception raised in the cell
        error = f"{exc.ename}: {exc.evalue}"  # type: ignore[attr-defined]
    return error


def _stage(notebooks: Sequence[str], parameters: Mapping[str, Any], report_dir: Path,
           notebooks_dir: Path, summarize: Callable[[Path], dict[str, Any]] | None
           ) -> tuple[Path, dict[str, Any] | None, str | None]:
    """Execute into a new staging folder: ``(staging, summary, None)`` or ``(staging, None,
    error)``. A Ctrl-C removes the staging folder and propagates."""
    staging = Path(tempfile.mkdtemp(prefix=f".{report_dir.name}.{STAGING_TAG}-",
                                    dir=report_dir.parent))
    try:
        for notebook_name in notebooks:
            source = notebook_path(notebooks_dir, notebook_name)
            if not source.is_file():
                raise InputError("notebook not found", source=str(source))
            executed = staging / f"{notebook_name}.ipynb"
            execute_notebook(source, executed, {**parameters, "results_dir": str(staging)})
            export_html(executed, staging / f"{notebook_name}.html",
                        "Cohort" if notebook_name == report_dir.name else report_dir.name)
        return staging, (summarize(staging) if summarize else {}), None
    except KeyboardInterrupt:
        shutil.rmtree(staging, ignore_errors=True)  # the previous report stays as it was
        raise
    except Exception as exc:  # noqa: BLE001 — one failure must not stop the batch
        return staging, None, _error_text(exc)


def _keep_failed(staging: Path, report_dir: Path) -> Path:
    failed_dir = report_dir.with_name(f"{report_dir.name}.failed")
    if failed_dir.exists():
        shutil.rmtree(failed_dir)
    if staging.exists():
        os.replace(staging, failed_dir)
    return failed_dir


def _run_locked(name: str, notebooks: Sequence[str], parameters: Mapping[str, Any],
                report_dir: Path, notebooks_dir: Path,
                summarize: Callable[[Path], dict[str, Any]] | None, start: float) -> RunResult:
    staging, summary, error = _stage(notebooks, parameters, report_dir, notebooks_dir, summarize)
    if error is None:
        try:
            _replace_dir(staging, report_dir)
        except OSError as exc:
            error = _error_text(exc)
    if error is not None:
        return RunResult(name, False, time.perf_counter() - start,
                         _keep_failed(staging, report_dir), error=error)
    failed_dir = report_dir.with_name(f"{report_dir.name}.failed")
    if failed_dir.exists():
        shutil.rmtree(failed_dir)
    return RunResult(name, True, time.perf_counter() - start, report_dir, summary=summary or {})


def _patient_summary(report_dir: Path) -> dict[str, Any]:
    import json

    results = report_dir / "results.json"
    if not results.is_file():
        raise InputError("the decision notebook wrote no results.json", source=str(report_dir))
    content = json.loads(results.read_text(encoding="utf-8"))
    decision = content.get("decision") or {}
    cycles = content.get("cycles") or []
    return {"cycles": len(cycles),
            "cumulative_bed_gy": cycles[-1].get("cumulative_bed_gy") if cycles else None,
            "detail": decision.get("action")}


def _cohort_summary(report_dir: Path) -> dict[str, Any]:
    """The detail column of a cohort notebook's summary line: which results file it wrote."""
    written = sorted(p.name for p in report_dir.glob("*.json"))
    if not written:
        raise InputError("the cohort notebook wrote no results (JSON)", source=str(report_dir))
    tables = len(list(report_dir.glob("*.csv")))
    return {"detail": f"{', '.join(written)} + {tables} CSV tables"}


def _refuse_sections(overrides: Mapping[str, Any], allowed: tuple[str, ...], users: str) -> None:
    """Overrides of a section the notebooks do not apply are an error, not silently ignored."""
    for section in overrides:
        if section not in allowed:
            raise InputError(f"{users} do not use the '{section}' parameters (they take "
                             f"{', '.join(allowed)})", source="parameter overrides", field=section)


def run_patient(patient_id: str, *, data_dir: Path, reports_dir: Path, notebooks_dir: Path,
                parameter_overrides: Mapping[str, Any] | None = None,
                entry_level: str = "auto") -> RunResult:
    parameters = {"patient_id": patient_id, "data_dir": str(Path(data_dir).resolve()),
                  "parameter_overrides": dict(parameter_overrides or {}),
                  "entry_level": entry_level}
    return run_notebooks(patient_id, PATIENT_NOTEBOOKS, parameters,
                         Path(reports_dir).resolve() / "patients" / patient_id,
                         Path(notebooks_dir).resolve(), summarize=_patient_summary)


def _run_on_dask(address: str, patient_ids: Sequence[str], kwargs: Mapping[str, Any],
                 workers: int, bar: Any) -> list[RunResult]:
    """Submit one task per patient to a Dask scheduler (``"local"``: a local cluster of
    ``workers`` processes). The report folders must be on storage every worker can reach."""
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:  # optional dependency
        raise InputError("Dask distributed is not installed: pip install 'iluminet[dask]'",
                         field="--dask") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None) if address == "local" else None
    results: list[RunResult] = []
    try:
        client = Client(cluster if cluster is not None else address,
                        timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise InputError(f"cannot reach the Dask scheduler within {DASK_CONNECT_TIMEOUT_S} s "
                         f"({type(exc).__name__})", source=address, field="--dask") from None
    with client:
        futures = {client.submit(run_patient, pid, pure=False, **kwargs): pid
                   for pid in patient_ids}
        for future in dask_completed(futures):
            try:
                results.append(future.result())
            except Exception as exc:  # noqa: BLE001 — a lost worker is one failure
                results.append(RunResult(futures[future], False, 0.0, error=repr(exc)))
            bar.update()
    if cluster is not None:
        cluster.close()
    return results


def run_patients(patient_ids: Sequence[str], *, data_dir: Path, reports_dir: Path,
                 notebooks_dir: Path, workers: int = 1,
                 parameter_overrides: Mapping[str, Any] | None = None,
                 progress: bool = True, dask_address: str | None = None,
                 entry_level: str = "auto") -> list[RunResult]:
    """Run every patient: serially, in a local process pool of ``workers``, or on a Dask
    scheduler at ``dask_address`` (``"local"`` starts a local cluster). ``entry_level`` is passed
    to the notebooks (:func:`iluminet.patient.entry.prepare_patient`)."""
    from tqdm import tqdm

    if workers < 1:
        raise InputError(f"must be ≥ 1, got {workers}", field="--workers")
    patient_ids = list(dict.fromkeys(patient_ids))  # "P1 P1" runs P1 once
    _refuse_sections(parameter_overrides or {}, PATIENT_SECTIONS, "the patient notebooks")
    kwargs: dict[str, Any] = dict(data_dir=data_dir, reports_dir=reports_dir,
                                  notebooks_dir=notebooks_dir,
                                  parameter_overrides=parameter_overrides,
                                  entry_level=entry_level)
    results: list[RunResult] = []
    bar = tqdm(total=len(patient_ids), desc="patients", unit="patient",
               disable=not progress or len(patient_ids) < 2)
    if dask_address:
        results = _run_on_dask(dask_address, patient_ids, kwargs, workers, bar)
    elif workers == 1 or len(patient_ids) < 2:
        for patient_id in patient_ids:
            results.append(run_patient(patient_id, **kwargs))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_patient, pid, **kwargs): pid for pid in patient_ids}
            for future in as_completed(futures):
                try:
                    results.append(future.result())
                except Exception as exc:  # noqa: BLE001 — a crashed worker is one failure
                    results.append(RunResult(futures[future], False, 0.0, error=repr(exc)))
                bar.update()
    bar.close()
    write_index(Path(reports_dir))
    order = {pid: i for i, pid in enumerate(patient_ids)}
    return sorted(results, key=lambda r: order.get(r.name, len(order)))


def _site_ae_terms(overrides: Mapping[str, Any]) -> dict[str, str]:
    """``safety.site_ae_terms`` in force (defaults < site < ``overrides``), for the preflight."""
    from iluminet.config.params import load_config

    safety_overrides = {k: v for k, v in overrides.items() if k == "safety"}
    config = load_config(overrides=safety_overrides, override_source="--set",
                         sections=("safety",))
    return dict(config.safety.site_ae_terms)


def run_cohort(*, data_dir: Path, reports_dir: Path, notebooks_dir: Path,
               parameter_overrides: Mapping[str, Any] | None = None,
               progress: bool = False) -> list[RunResult]:
    """Run each cohort notebook that exists (efficacy, safety, …) into ``reports/cohort/``.

    ``data_dir`` is the folder holding the cohort tables (``patients.csv``, ``cycles.csv``, …);
    ``parameter_overrides`` may hold the ``efficacy`` and ``safety`` sections, each notebook gets
    its own section; with ``progress`` a bar on stderr counts the notebooks done.

    Every check of the cohort tables runs first (:func:`iluminet.trial.preflight.preflight_cohort`:
    an InputError before any kernel starts), and the reports are swapped in together: if one
    notebook fails, no cohort report is replaced, so the set never mixes two data versions."""
    from tqdm import tqdm

    from iluminet.trial.preflight import preflight_cohort

    overrides = dict(parameter_overrides or {})
    _refuse_sections(overrides, tuple(COHORT_NOTEBOOK_SECTIONS.values()), "the cohort notebooks")
    preflight_cohort(Path(data_dir), site_ae_terms=_site_ae_terms(overrides))
    names = [n for n in COHORT_NOTEBOOKS if notebook_path(Path(notebooks_dir), n).is_file()]
    cohort_dir = Path(reports_dir).resolve() / "cohort"
    cohort_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as locks:
        for name in sorted(names):  # one order for every process: no deadlock
            locks.enter_context(report_lock(cohort_dir / name))
        staged = {}
        with tqdm(total=len(names), desc="cohort", unit="notebook", disable=not progress) as bar:
            for name in names:
                bar.set_postfix_str(name)
                section = COHORT_NOTEBOOK_SECTIONS.get(name)
                parameters = {"data_dir": str(Path(data_dir).resolve()),
                              "parameter_overrides": {k: v for k, v in overrides.items()
                                                      if k == section}}
                start = time.perf_counter()
                remove_stale(cohort_dir / name)
                staging, summary, error = _stage([name], parameters, cohort_dir / name,
                                                 Path(notebooks_dir).resolve(), _cohort_summary)
                staged[name] = (staging, summary, error, time.perf_counter() - start)
                bar.update()
        failed = [n for n, (_, _, error, _) in staged.items() if error is not None]
        results = []
        for name, (staging, summary, error, seconds) in staged.items():
            final = cohort_dir / name
            if failed:
                why = error or f"not replaced: {', '.join(failed)} failed (reports swap together)"
                results.append(RunResult(name, False, seconds, _keep_failed(staging, final),
                                         error=why))
                continue
            _replace_dir(staging, final)
            if final.with_name(f"{name}.failed").exists():
                shutil.rmtree(final.with_name(f"{name}.failed"))
            results.append(RunResult(name, True, seconds, final, summary=summary or {}))
    write_index(Path(reports_dir))
    return results


def format_summary(results: Sequence[RunResult]) -> str:
    """A plain-text summary table of a batch."""
    header = f"{'name':<16} {'status':<7} {'time_s':>7}  {'cycles':>6} {'cum_BED_Gy':>10}  detail"
    lines = [header, "-" * len(header)]
    for r in results:
        bed = r.summary.get("cumulative_bed_gy")
        lines.append(
            f"{r.name:<16} {'ok' if r.ok else 'FAILED':<7} {r.seconds:7.1f}  "
            f"{r.summary.get('cycles', ''):>6} {'' if bed is None else f'{bed:.2f}':>10}  "
            f"{r.summary.get('detail', '') if r.ok else r.error}")
        if not r.ok and r.report_dir is not None:
            lines.append(f"{'':<16} executed notebooks kept in {r.report_dir}")
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results) - failed} succeeded, {failed} failed")
    return "\n".join(lines)

"""Run the workbook's notebooks with papermill: per patient, for many patients, for the cohort.

Each notebook runs in its own kernel process (papermill's working-directory handling is not thread
safe, so parallel runs are separate processes). A patient's notebooks execute into a staging folder
that replaces ``reports/patients/<id>/`` only when everything succeeded: a failed run never destroys
the previous report, and its executed notebooks are kept in ``reports/patients/<id>.failed/`` to
show where it stopped. One failing patient does not stop the others.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iluminet.errors import InputError

PATIENT_NOTEBOOKS = ("02_kidney_dosimetry", "03_bed_cycle_decision")
COHORT_NOTEBOOKS = ("04_efficacy", "05_safety", "08_quality_of_life")
KERNEL_NAME = "python3"
EXECUTION_TIMEOUT_S = 600
KERNEL_START_RETRIES = 2


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


def execute_notebook(notebook: Path, output: Path, parameters: Mapping[str, Any]) -> None:
    """Execute ``notebook`` into ``output`` with papermill; retry only kernel start failures."""
    import papermill

    check_parameters(notebook, parameters)
    for attempt in range(KERNEL_START_RETRIES + 1):
        try:
            papermill.execute_notebook(
                str(notebook), str(output), parameters=dict(parameters), kernel_name=KERNEL_NAME,
                cwd=str(notebook.parent), execution_timeout=EXECUTION_TIMEOUT_S,
                progress_bar=False, log_output=False, report_mode=False)
            return
        except Exception as exc:  # noqa: BLE001 — classified below
            if attempt < KERNEL_START_RETRIES and _is_kernel_start_failure(exc):
                time.sleep(1.0 + attempt)
                continue
            raise


def export_html(executed: Path, html: Path) -> None:
    """HTML rendering of an executed notebook without code cells (for clinicians)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    html.write_text(body, encoding="utf-8")


def _replace_dir(staging: Path, final: Path) -> None:
    """Swap a finished staging folder into place, keeping the old one until the swap is done."""
    backup = final.with_name(f".{final.name}.previous")
    if backup.exists():
        shutil.rmtree(backup)
    if final.exists():
        os.replace(final, backup)
    os.replace(staging, final)
    if backup.exists():
        shutil.rmtree(backup)


def run_notebooks(name: str, notebooks: Sequence[str], parameters: Mapping[str, Any],
                  report_dir: Path, notebooks_dir: Path,
                  summarize: Callable[[Path], dict[str, Any]] | None = None) -> RunResult:
    """Execute ``notebooks`` in order into ``report_dir`` (atomically, see module docs)."""
    start = time.perf_counter()
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{report_dir.name}.", dir=report_dir.parent))
    failed_dir = report_dir.with_name(f"{report_dir.name}.failed")
    try:
        for notebook_name in notebooks:
            source = notebook_path(notebooks_dir, notebook_name)
            if not source.is_file():
                raise InputError("notebook not found", source=str(source))
            executed = staging / f"{notebook_name}.ipynb"
            execute_notebook(source, executed, {**parameters, "results_dir": str(staging)})
            export_html(executed, staging / f"{notebook_name}.html")
        summary = summarize(staging) if summarize else {}
        _replace_dir(staging, report_dir)
        if failed_dir.exists():
            shutil.rmtree(failed_dir)
        return RunResult(name, True, time.perf_counter() - start, report_dir, summary=summary)
    except Exception as exc:  # noqa: BLE001 — one failure must not stop the batch
        if failed_dir.exists():
            shutil.rmtree(failed_dir)
        if staging.exists():
            os.replace(staging, failed_dir)
        message = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {message[-1] if message else ''}"
        if hasattr(exc, "ename"):  # papermill cell error: name the exception raised in the cell
            error = f"{exc.ename}: {exc.evalue}"  # type: ignore[attr-defined]
        return RunResult(name, False, time.perf_counter() - start, failed_dir, error=error)


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


def run_patient(patient_id: str, *, data_dir: Path, reports_dir: Path, notebooks_dir: Path,
                parameter_overrides: Mapping[str, Any] | None = None) -> RunResult:
    parameters = {"patient_id": patient_id, "data_dir": str(Path(data_dir).resolve()),
                  "parameter_overrides": dict(parameter_overrides or {})}
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
    with Client(cluster if cluster is not None else address) as client:
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
                 progress: bool = True, dask_address: str | None = None) -> list[RunResult]:
    """Run every patient: serially, in a local process pool of ``workers``, or on a Dask
    scheduler at ``dask_address`` (``"local"`` starts a local cluster)."""
    from tqdm import tqdm

    if workers < 1:
        raise InputError(f"must be ≥ 1, got {workers}", field="--workers")
    kwargs = dict(data_dir=data_dir, reports_dir=reports_dir, notebooks_dir=notebooks_dir,
                  parameter_overrides=parameter_overrides)
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
    order = {pid: i for i, pid in enumerate(patient_ids)}
    return sorted(results, key=lambda r: order.get(r.name, len(order)))


def run_cohort(*, data_dir: Path, reports_dir: Path, notebooks_dir: Path,
               parameter_overrides: Mapping[str, Any] | None = None) -> list[RunResult]:
    """Run each cohort notebook that exists (efficacy, safety) into ``reports/cohort/``."""
    results = []
    for name in COHORT_NOTEBOOKS:
        if not notebook_path(Path(notebooks_dir), name).is_file():
            continue
        parameters = {"data_dir": str(Path(data_dir).resolve()),
                      "parameter_overrides": dict(parameter_overrides or {})}
        results.append(run_notebooks(name, [name], parameters,
                                     Path(reports_dir).resolve() / "cohort" / name,
                                     Path(notebooks_dir).resolve(), summarize=_cohort_summary))
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
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results) - failed} succeeded, {failed} failed")
    return "\n".join(lines)

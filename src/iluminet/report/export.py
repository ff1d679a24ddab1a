"""The batch reports as files: each executed notebook rendered to HTML without code (titled with
the patient and the notebook), and ``reports/index.html`` listing every patient with status,
cycles, cumulative BED and decision, linked to their reports, and the cohort reports.

Both files are written atomically (a reader never sees half a page). The index is built only from
what the runs left on disk (``results.json``, the HTML files, the ``*.failed`` folders), so it can
be rebuilt at any time with :func:`write_report_index`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iluminet.provenance import write_text_atomic
from iluminet.report.data_source import cohort_source
from iluminet.report.html import escape

__all__ = ["INDEX_FILE", "TEXT_ONLY_TAG", "PatientEntry", "export_notebook_html",
           "notebook_heading", "patient_entries", "render_index", "report_title",
           "write_report_index"]

INDEX_FILE = "index.html"
#: Notebook cell tag: printed text kept for nbval, left out of the HTML report.
TEXT_ONLY_TAG = "text-only"
_ACTION_LABELS = {
    "next_cycle": "give next cycle",
    "step1_complete_step2_eligible": "step 1 complete → step 2",
    "step1_complete_not_eligible": "step 1 complete, stop",
    "stop_at_limit": "stop: limit reached",
    "withhold": "withhold",
}
_ACTION_COLOURS = {"next_cycle": "#1a7f37", "step1_complete_step2_eligible": "#1a7f37",
                   "step1_complete_not_eligible": "#0b4f8a", "stop_at_limit": "#0b4f8a",
                   "withhold": "#a50f15"}


def notebook_heading(nb: Any) -> str:
    """The notebook's first Markdown heading without the ``#`` ("02 · Kidney dosimetry …")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in str(cell.source).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def report_title(subject: str, heading: str) -> str:
    """``"P001 — 02 · Kidney dosimetry"``: the patient (or "Cohort") first, then the notebook."""
    return f"{subject} — {heading}" if heading else subject


def export_notebook_html(executed: Path, html: Path, subject: str) -> Path:
    """Render an executed notebook to HTML without code cells or prompts, its ``<title>`` the
    subject (patient ID or "Cohort") and the notebook heading; cells tagged
    :data:`TEXT_ONLY_TAG` are left out."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    title = report_title(subject, notebook_heading(nb) or Path(executed).stem)
    nb.metadata["title"] = title
    # Cells tagged TEXT_ONLY_TAG hold the fixed-precision printed text that nbval compares;
    # the report shows their styled HTML version instead.
    nb.cells = [c for c in nb.cells if TEXT_ONLY_TAG not in c.get("metadata", {}).get("tags", [])]
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return write_text_atomic(Path(html), body)


@dataclass
class PatientEntry:
    """One row of the index."""

    patient_id: str
    status: str  # "ok", "failed" (no report) or "failed; previous report shown"
    cycles: int | None = None
    cumulative_bed_gy: float | None = None
    action: str | None = None
    summary: str = ""
    window: str = "—"
    synthetic: bool | None = None
    reports: tuple[str, ...] = ()  # paths relative to the reports folder
    updated: str = ""


def _decision_text(decision: Mapping[str, Any]) -> str:
    action = str(decision.get("action", ""))
    text = _ACTION_LABELS.get(action, action)
    if decision.get("next_cycle") and action in ("next_cycle", "step1_complete_step2_eligible"):
        text = f"give cycle {decision['next_cycle']} (step {decision.get('step')})"
    return text


def _window_text(decision: Mapping[str, Any]) -> str:
    if decision.get("earliest_date") and decision.get("latest_date"):
        return f"{decision['earliest_date']} to {decision['latest_date']}"
    return "—"


def patient_entries(reports_dir: Path) -> list[PatientEntry]:
    """Every patient found under ``reports_dir/patients`` (finished or failed), by ID."""
    root = Path(reports_dir) / "patients"
    if not root.is_dir():
        return []
    names = {p.name.removesuffix(".failed") for p in root.iterdir()
             if p.is_dir() and not p.name.startswith(".")}
    entries = []
    for pid in sorted(names):
        folder, failed = root / pid, root / f"{pid}.failed"
        results = folder / "results.json"
        entry = PatientEntry(pid, "ok")
        if results.is_file():
            try:
                content = json.loads(results.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                content = {}
            cycles = content.get("cycles") or []
            decision = content.get("decision") or {}
            entry.cycles = len(cycles)
            entry.cumulative_bed_gy = cycles[-1].get("cumulative_bed_gy") if cycles else None
            entry.action = decision.get("action")
            entry.summary = _decision_text(decision) if decision else ""
            entry.window = _window_text(decision)
            source = content.get("data_source") or {}
            entry.synthetic = source.get("synthetic") if isinstance(source, Mapping) else None
            entry.reports = tuple(f"patients/{pid}/{p.name}" for p in sorted(folder.glob("*.html")))
            entry.updated = datetime.fromtimestamp(results.stat().st_mtime, UTC
                                                   ).strftime("%Y-%m-%d %H:%M UTC")
        if failed.is_dir():
            entry.status = "failed; previous report shown" if results.is_file() else "failed"
            entry.reports += tuple(f"patients/{pid}.failed/{p.name}"
                                   for p in sorted(failed.glob("*.ipynb")))
        elif not results.is_file():
            entry.status = "incomplete"
        entries.append(entry)
    return entries


def _cohort_reports(reports_dir: Path) -> list[tuple[str, str, bool | None, list[str]]]:
    """(name, status, synthetic, links) per cohort notebook folder."""
    root = Path(reports_dir) / "cohort"
    if not root.is_dir():
        return []
    out = []
    names = sorted({p.name.removesuffix(".failed") for p in root.iterdir()
                    if p.is_dir() and not p.name.startswith(".")})
    for name in names:
        folder, failed = root / name, root / f"{name}.failed"
        links = [f"cohort/{name}/{p.name}" for p in sorted(folder.glob("*.html"))] \
            if folder.is_dir() else []
        synthetic = None
        for js in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                inputs = (json.loads(js.read_text(encoding="utf-8")).get("provenance") or {}
                          ).get("inputs") or {}
            except (OSError, ValueError, AttributeError):
                continue
            if inputs:
                synthetic = cohort_source(Path(next(iter(inputs))).parent).synthetic
                break
        status = "ok" if links and not failed.is_dir() else (
            "failed; previous report shown" if links else "failed")
        if failed.is_dir():
            links += [f"cohort/{name}.failed/{p.name}" for p in sorted(failed.glob("*.ipynb"))]
        out.append((name, status, synthetic, links))
    return out


_PAGE_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 1.5em 2em;
       color: #1f2328; max-width: 75em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; }
th { background: #f0f3f7; border-bottom: 2px solid #8a9bb0; padding: 5px 10px; text-align: left; }
td { padding: 4px 10px; border-bottom: 1px solid #e3e7ec; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-ok { color: #1a7f37; font-weight: 600; }
.status-failed { color: #a50f15; font-weight: 700; }
.synthetic { background: #fff3cd; border: 1px solid #d39e00; border-radius: 4px;
             padding: 0 5px; font-size: 0.85em; font-weight: 700; color: #5c4400; }
.banner { background: #fff3cd; border: 2px solid #d39e00; border-radius: 6px; padding: 8px 14px;
          color: #5c4400; margin: 0.6em 0 1em 0; }
a { color: #0b57d0; }
.muted { color: #666; font-size: 0.9em; }
"""


_LINK_LABELS = {"02_kidney_dosimetry": "02 dosimetry", "03_bed_cycle_decision": "03 decision",
                "04_efficacy": "04 efficacy", "05_safety": "05 safety"}


def _link(path: str) -> str:
    label = _LINK_LABELS.get(Path(path).stem, Path(path).stem)
    if ".failed/" in path:
        label += " (failed run)"
    return f"<a href='{escape(path)}'>{escape(label)}</a>"


def render_index(reports_dir: Path) -> str:
    """The HTML of ``reports/index.html`` (see module docs)."""
    patients = patient_entries(reports_dir)
    cohort = _cohort_reports(reports_dir)
    any_synthetic = any(p.synthetic for p in patients) or any(c[2] for c in cohort)
    rows = []
    for p in patients:
        status_class = "status-ok" if p.status == "ok" else "status-failed"
        bed = "—" if p.cumulative_bed_gy is None else f"{p.cumulative_bed_gy:.2f}"
        colour = _ACTION_COLOURS.get(p.action or "", "#1f2328")
        mark = " <span class='synthetic'>SYNTHETIC</span>" if p.synthetic else ""
        first = next((r for r in p.reports if r.endswith(".html")), None)
        name = f"<a href='{escape(first)}'>{escape(p.patient_id)}</a>" if first \
            else escape(p.patient_id)
        rows.append(
            f"<tr><td><strong>{name}</strong>{mark}</td>"
            f"<td class='{status_class}'>{escape(p.status)}</td>"
            f"<td class='num'>{'—' if p.cycles is None else p.cycles}</td>"
            f"<td class='num'>{bed}</td>"
            f"<td style='color:{colour}; font-weight:600'>{escape(p.summary or '—')}</td>"
            f"<td style='white-space:nowrap'>{escape(p.window)}</td>"
            f"<td>{' · '.join(_link(r) for r in p.reports) or '—'}</td>"
            f"<td class='muted'>{escape(p.updated)}</td></tr>")
    cohort_rows = [
        f"<tr><td><strong>{escape(name)}</strong>"
        f"{' <span class=synthetic>SYNTHETIC</span>' if synthetic else ''}</td>"
        f"<td class='{'status-ok' if status == 'ok' else 'status-failed'}'>{escape(status)}</td>"
        f"<td>{' · '.join(_link(link) for link in links) or '—'}</td></tr>"
        for name, status, synthetic, links in cohort]
    banner = ("<div class='banner'><strong>SYNTHETIC DATA</strong> — reports marked SYNTHETIC "
              "are computed from generated data (demo patients, virtual patients, simulated "
              "trial), not from real patients. Not for clinical use.</div>"
              if any_synthetic else "")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    patient_table = (
        "<table><thead><tr><th>Patient</th><th>Status</th><th>Cycles</th>"
        "<th>Cumulative kidney BED (Gy)</th><th>Decision</th><th>Next cycle window</th>"
        "<th>Reports</th><th>Updated</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>" if rows
        else "<p class='muted'>No patient report yet.</p>")
    cohort_table = (
        "<table><thead><tr><th>Analysis</th><th>Status</th><th>Reports</th></tr></thead>"
        f"<tbody>{''.join(cohort_rows)}</tbody></table>" if cohort_rows
        else "<p class='muted'>No cohort report yet.</p>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>iluminet reports — all patients and the cohort</title>"
        f"<style>{_PAGE_CSS}</style></head><body>"
        "<h1>iluminet reports</h1>"
        f"<p class='muted'>Index written {now}. Cumulative BED: kidney BED summed over the "
        "cycles so far (— when a cycle's dosimetry is flagged).</p>"
        f"{banner}<h2>Patients</h2>{patient_table}<h2>Cohort</h2>{cohort_table}</body></html>")


def write_report_index(reports_dir: str | Path) -> Path:
    """Write ``reports_dir/index.html`` atomically and return its path."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(reports_dir / INDEX_FILE, render_index(reports_dir))

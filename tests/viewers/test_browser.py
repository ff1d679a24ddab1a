"""Real-browser test: JupyterLab on 127.0.0.1 with a token, notebook 03 with ``interactive=True``
in headless Chromium (Debian's ``chromium``, driven by Playwright), a slider moved with the
keyboard, and the displayed numbers and the rendered figure checked for the change.

Needs ``apt-get install chromium`` and ``pip install playwright`` (no browser download: the
system Chromium is used). Missing either, the test fails with the install command, unless
``ILUMINET_SKIP_BROWSER=1`` is set (then it is skipped). A screenshot is kept in
``reports/test-artifacts/``.

On a loaded machine every step waits for the state it needs (server answering, kernel idle, cells
run, the widget's numbers changed) up to a generous ceiling (``ILUMINET_BROWSER_TIMEOUT_S``,
default 600 s) instead of a short fixed timeout; a page that still fails is retried once in a
fresh page with a fresh kernel.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = ("apt-get update && apt-get install -y chromium && "
           ".venv/bin/pip install playwright   (never 'playwright install': the system Chromium "
           "is used)")
ARTIFACTS = ROOT / "reports" / "test-artifacts"
#: Ceiling of every wait (they end as soon as their condition holds).
TIMEOUT_S = float(os.environ.get("ILUMINET_BROWSER_TIMEOUT_S", "600"))
PAGE_ATTEMPTS = 2

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(str(CHROMIUM))
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    if not missing:
        return
    message = f"browser test needs {' and '.join(missing)}: {INSTALL}"
    if os.environ.get("ILUMINET_SKIP_BROWSER") == "1":
        pytest.skip(message + " (skipped: ILUMINET_SKIP_BROWSER=1)")
    pytest.fail(message + " — or set ILUMINET_SKIP_BROWSER=1 to skip", pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def lab(tmp_path: Path, measurement_patients: Path) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab serving a temporary folder that holds notebook 03 with interactive=True."""
    _require_browser()
    import papermill.iorw
    import papermill.parameterize

    nb = papermill.iorw.load_notebook_node(str(ROOT / "notebooks" / "03_bed_cycle_decision.ipynb"))
    nb = papermill.parameterize.parameterize_notebook(
        nb, {"interactive": True, "patient_id": "P001",
             "data_dir": str(measurement_patients)}, kernel_name="python3")
    for cell in nb.cells:
        if cell.cell_type == "code":  # the browser runs it afresh
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, tmp_path / "explore.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, ILUMINET_ROOT=str(ROOT), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), MPLBACKEND="Agg")
    with open(tmp_path / "lab.log", "wb") as log:
        yield from _serve(tmp_path, env, port, token, log)


def _serve(tmp_path: Path, env: dict[str, str], port: int, token: str,
           log: IO[bytes]) -> Iterator[tuple[str, str, Path]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--ServerApp.token={token}", f"--ServerApp.root_dir={tmp_path}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         "--allow-root", "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n"
                                + (tmp_path / "lab.log").read_text(errors="replace")[-3000:])
                time.sleep(0.3)
        yield base, token, tmp_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _total_cycles(text: str) -> int:
    match = re.search(r"= (\d+)\s*$", text.strip())
    assert match, f"no predicted cycle total in {text!r}"
    return int(match.group(1))


def _run_all_cells(page: Any, attempts: int = 4) -> None:
    """Run every cell from the Run menu once the kernel is idle; the first click can land before
    the notebook is connected to its kernel, so it is repeated until a cell is queued or has run
    (``[*]`` or ``[n]``), never while cells are already running."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for()
    started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\d+|\*)\]"))
    for _ in range(attempts):
        news = page.get_by_role("button", name="No", exact=True)
        if news.count():
            news.first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            started.first.wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:  # the click was lost: open the menu again
            page.keyboard.press("Escape")
    pytest.fail("JupyterLab did not run the notebook's cells")


def _shut_down_kernels(base: str, token: str) -> None:
    """Delete every session (and its kernel), so a retried page starts from a fresh kernel."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=30) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=60).close()


def _move_slider(page: Any, base: str, token: str) -> tuple[int, int, bytes, bytes]:
    """Open the notebook, run it, move the step-1 limit slider 27 → 35 Gy; the predicted cycle
    totals and the figure's PNG before and after."""
    page.goto(f"{base}/lab/tree/explore.ipynb?token={token}")
    page.locator(".jp-Notebook").wait_for()
    _run_all_cells(page)
    total = page.locator("b.total-cycles")
    total.wait_for()  # the what-if widget rendered: every cell before it has run
    paragraph = page.locator("p", has=total)
    before = _total_cycles(paragraph.inner_text())
    slider = page.locator(".widget-slider", has_text="step 1 limit (Gy)")
    slider.scroll_into_view_if_needed()
    figure = page.locator(".widget-image").last
    png_before = figure.screenshot()
    readout = slider.locator(".widget-readout")
    assert float(readout.inner_text()) == 27.0
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(16):  # 0.5 Gy per step: 27 → 35 Gy
        handle.press("ArrowRight")
    page.wait_for_function(
        "el => el.innerText.trim() === '35.00' || el.innerText.trim() === '35.0'",
        arg=readout.element_handle())
    # query the total afresh on each poll: the widget may replace its HTML, which would leave
    # a handle taken before the change pointing at a detached element that never changes
    page.wait_for_function(
        "old => { const b = document.querySelector('b.total-cycles');"
        " return b !== null && !b.closest('p').innerText.includes('= ' + old); }",
        arg=before)
    after = _total_cycles(paragraph.inner_text())
    png_after = figure.screenshot()
    page.screenshot(path=str(ARTIFACTS / "browser_bed_whatif.png"), full_page=True)
    return before, after, png_before, png_after


def test_bed_whatif_slider_in_jupyterlab(lab: tuple[str, str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    base, token, _folder = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            for attempt in range(1, PAGE_ATTEMPTS + 1):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(TIMEOUT_S * 1000)
                try:
                    before, after, png_before, png_after = _move_slider(page, base, token)
                    break
                except Exception:
                    failed = ARTIFACTS / f"browser_bed_whatif_failed_{attempt}.png"
                    page.screenshot(path=str(failed))
                    if attempt == PAGE_ATTEMPTS:
                        raise
                    page.close()
                    _shut_down_kernels(base, token)
        finally:
            browser.close()
    assert after > before
    assert png_after != png_before

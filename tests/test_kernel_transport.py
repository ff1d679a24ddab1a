"""Notebook kernels of the runner talk over IPC: no "Kernel is running over TCP without
encryption" warning from ipykernel, and no TCP ports to collide between parallel runs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from iluminet.workbook.runner import _ipc_kernel_manager, execute_notebook


def test_kernel_manager_uses_ipc_with_one_socket_prefix_per_kernel() -> None:
    manager = _ipc_kernel_manager()
    first, second = manager(), manager()
    assert first.transport == second.transport == "ipc"
    # kernels started at once (parallel patients) must not share ./kernel-ipc-N sockets
    assert first.ip != second.ip and Path(first.ip).is_absolute()


def test_executed_notebook_has_no_tcp_warning(tmp_path: Path,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x: int = 1", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("print(x + 1)")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    source, output = tmp_path / "tiny.ipynb", tmp_path / "tiny_out.ipynb"
    nbformat.write(notebook, source)
    execute_notebook(source, output, {"x": 41})
    cells = json.loads(output.read_text())["cells"]
    assert "".join(cells[-1]["outputs"][0]["text"]) == "42\n"  # it really ran, with the parameter
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out

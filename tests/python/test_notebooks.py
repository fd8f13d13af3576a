"""Every notebook in notebooks/ runs top to bottom, so a broken notebook fails the suite (STYLE.md, 14)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


@pytest.fixture
def jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncKernelManager:
    """A kernel manager whose python3 kernel is this interpreter, with Jupyter's files kept in tmp_path.

    The kernel spec is written here rather than looked up, so the kernel runs the
    venv that runs the tests (with bbreview installed), whatever kernels the user
    or the system has registered.
    """
    # Opt in to platformdirs now: otherwise jupyter_core warns that it will
    # change, and pytest turns warnings into errors.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))  # connection files
    monkeypatch.setenv("MPLBACKEND", "Agg")
    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (bbreview test venv)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)


def run_notebook(nb: nbformat.NotebookNode, km: AsyncKernelManager, cwd: Path) -> None:
    """Executes every cell in order; raises CellExecutionError at the first cell that fails.

    The kernel is shut down and its channels closed afterwards, pass or fail.
    """
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(cwd)}})
    # NotebookClient keeps a kernel manager it did not create alive; cleanup_kc stops it.
    client.execute(cleanup_kc=True)


def test_there_are_notebooks_to_run():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb files"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path: Path, jupyter_env: AsyncKernelManager):
    nb = nbformat.read(path, as_version=4)
    run_notebook(nb, jupyter_env, cwd=path.parent)
    errors = [o for cell in nb.cells for o in cell.get("outputs", ()) if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_saved_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


@pytest.mark.slow
def test_a_failing_cell_fails_the_run(tmp_path: Path, jupyter_env: AsyncKernelManager):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import bbreview"),
        nbformat.v4.new_code_cell("bbreview.parse_diff('@@ -1 +1 @@\\n')"),
        nbformat.v4.new_code_cell("print('unreachable')"),
    ])
    with pytest.raises(CellExecutionError, match="DiffParseError"):
        run_notebook(nb, jupyter_env, cwd=tmp_path)
    assert nb.cells[2].outputs == []

"""Every notebook in ``notebooks/`` runs top to bottom without a cell error.

One test per notebook: it is executed in a fresh ``python3`` kernel (the ipykernel of
the interpreter running pytest, e.g. the project venv) with the notebooks directory as
the working directory. Any exception in any cell fails the test with that cell's
traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: Seconds any single cell may run before the test fails.
CELL_TIMEOUT = 600
#: Terminal colour codes in kernel tracebacks (stripped for a readable failure).
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_notebooks_exist() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised\n{_ANSI.sub('', str(err))}", pytrace=False)

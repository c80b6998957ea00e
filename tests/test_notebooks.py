"""The example notebooks run end to end with nbclient on a devshell kernel bound to a fresh database."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import ROOT, run_devshell

NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def kernel_name(address, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A devshell database (base installed) and a kernel bound to it, in a temporary Jupyter prefix."""
    from devshell.db.admin import drop_database

    db = f"notebooks_{uuid.uuid4().hex[:8]}"
    prefix = tmp_path_factory.mktemp("jupyter")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        patch.setenv("JUPYTER_PLATFORM_DIRS", "1")
        init = run_devshell("db", "init", "-d", db, "--admin-password", "pw")
        assert init.returncode == 0, init.stderr
        installed = run_devshell("kernel", "install", "-d", db, "--name", "devshell-notebooks", "--prefix", str(prefix))
        assert installed.returncode == 0, installed.stderr
        yield "devshell-notebooks"
    drop_database(address, db, missing_ok=True)


def execute(name: str, kernel: str, cwd: Path) -> Any:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def texts(notebook: Any) -> list[str]:
    """Per code cell: everything it showed, as text."""
    shown = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for output in cell.outputs:
            assert output.output_type != "error", "".join(output.traceback)
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
        shown.append("\n".join(parts))
    return shown


def test_quickstart(kernel_name: str, tmp_path: Path) -> None:
    shown = texts(execute("quickstart.ipynb", kernel_name, tmp_path))
    assert any(text == "{'quickstart_book': 25}" for text in shown)  # populate
    assert any("(5 rows)" in text and "author_email" in text for text in shown)  # %%sql with :median
    assert any("'status': 'ok'" in text and "'mode': 'threaded'" in text for text in shown)  # the server answered
    assert any('"GET /web/health HTTP/1.1" 200' in text for text in shown)  # its logs
    assert "'stopped'" in shown


def test_long_polling(kernel_name: str, tmp_path: Path) -> None:
    shown = texts(execute("long_polling.ipynb", kernel_name, tmp_path))
    assert any("'message': {'hello': 'from the notebook'}" in text for text in shown)
    assert "['second', 'third']" in shown
    # a WebSocket subscribing from `seen` is first sent what it missed, like the poll
    assert any("'subscribed'" in text and text.endswith("['second', 'third']") for text in shown)
    assert any("{'hello': 'over a websocket'}" in text for text in shown)  # pushed over the WebSocket
    assert any("(4 rows)" in text for text in shown)  # the three polled, the one pushed over the WebSocket
    assert any(text.startswith("no servers") for text in shown)


@pytest.mark.parametrize("name", ["quickstart.ipynb", "long_polling.ipynb"])
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    import nbformat

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.fixture
def plain_kernel(address, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """ipykernel's own python3 kernel with nothing configured but the embedded default; the scratch
    databases the notebooks make for themselves are dropped afterwards."""
    from devshell.db.admin import drop_database

    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    for name in ("DEVSHELL_DB_NAME", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    yield "python3"
    for scratch in ("devshell_quickstart", "devshell_long_polling"):
        drop_database(address, scratch, missing_ok=True)


@pytest.mark.parametrize("name", ["quickstart.ipynb", "long_polling.ipynb"])
def test_notebooks_on_a_plain_kernel_use_a_scratch_database(  # type: ignore[no-untyped-def]
        name: str, plain_kernel: str, address, tmp_path: Path) -> None:
    from devshell.db.admin import database_exists

    scratch = "devshell_" + name.removesuffix(".ipynb")
    shown = texts(execute(name, plain_kernel, tmp_path))
    assert shown[0].startswith(f"created the scratch database {scratch!r} on the embedded server")
    assert f"connected to {scratch!r}" in shown[0]
    assert database_exists(address, scratch)
    again = texts(execute(name, plain_kernel, tmp_path))  # run again: the scratch database is reused
    assert again[0].startswith(f"connected to {scratch!r}")

"""Scaffold: every template renders, a scaffolded module installs and its own test passes, bad input is refused."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import DATA_DIR, FIXTURES, run_devshell, unique_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TEMPLATES = Path(__file__).resolve().parents[1] / "devshell" / "scaffold" / "templates"


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def rendered_from_tmpl(template: Path) -> list[str]:
    """The output names (suffix dropped, still templated) of the files of *template* that are rendered."""
    return [str(p.relative_to(template))[: -len(".tmpl")] for p in template.rglob("*.tmpl")]


@pytest.mark.parametrize("template", ["module", "project", "demo"])
def test_every_template_renders(tmp_path: Path, template: str) -> None:
    from devshell.modules import read_manifest
    from devshell.scaffold import scaffold

    result = scaffold("shelf", tmp_path, template)
    assert result.target == tmp_path / "shelf"
    written = {str(path.relative_to(result.target)) for path in result.files}
    assert written and all(path.is_file() for path in result.files)
    for name in written:
        text = (result.target / name).read_text()
        if name.endswith(".py"):
            ast.parse(text, filename=name)  # valid Python
        if name.endswith(".toml"):
            tomllib.loads(text)
    # rendered files keep no Jinja syntax, and their names were rendered too
    for output in rendered_from_tmpl(TEMPLATES / template):
        name = output.replace("{{ name }}", "shelf")
        assert "{{" not in (result.target / name).read_text(), name
    for manifest in result.target.rglob("__manifest__.py"):
        assert read_manifest(manifest, manifest.parent.name).version
    if template == "module":
        assert {"__manifest__.py", "__init__.py", "data/schema.sql", "tests/test_shelf.py"} <= written
        assert "CREATE TABLE IF NOT EXISTS shelf_item" in (result.target / "data/schema.sql").read_text()
    if template == "project":
        assert {"devshell.toml", "README.md", ".gitignore", "addons/shelf/__manifest__.py",
                "addons/shelf/tests/test_shelf.py"} <= written
        assert tomllib.loads((result.target / "devshell.toml").read_text())["addons_path"] == ["addons"]
    if template == "demo":
        assert {"addons/library/static/src/live.js", "addons/library/views/index.jinja"} <= written


def test_scaffolded_module_installs_and_its_test_passes(tmp_path: Path, address) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.admin import drop_database

    addons = tmp_path / "addons"
    created = run_devshell("scaffold", "reading_list", str(addons))
    assert created.returncode == 0, created.stderr
    assert f"created {addons / 'reading_list'}" in created.stdout

    db = unique_name("scaffolded")
    try:
        init = run_devshell("db", "init", "-d", db, "-i", "reading_list", "--addons-path", str(addons),
                            "--admin-password", "pw")
        assert init.returncode == 0, init.stderr
        assert "installed reading_list 0.1.0" in init.stdout.splitlines()
    finally:
        drop_database(address, db, missing_ok=True)


def test_scaffolded_module_test_uses_the_project_data_dir_and_stops_its_server() -> None:
    """The generated test, run the way a user runs it (pytest in a child process, from the project folder,
    nothing configured): its embedded server lives in the project's data dir, not in the module's folder,
    and is stopped after the tests that started it."""
    from devshell.db.embedded import EmbeddedCluster

    project = Path(tempfile.mkdtemp(prefix="project-", dir=DATA_DIR.parent))  # reachable by the cluster's account
    os.chmod(project, 0o755)
    cluster = EmbeddedCluster(project / ".devshell")
    try:
        assert run_devshell("scaffold", "reading_list", "addons", cwd=project).returncode == 0
        module = project / "addons" / "reading_list"
        env = {name: value for name, value in os.environ.items() if name != "DEVSHELL_DATA_DIR"}
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              str(module / "tests" / "test_reading_list.py")],
                             cwd=project, capture_output=True, text=True, timeout=240, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "3 passed" in run.stdout
        assert cluster.initialized and not cluster.status().running  # the project's, stopped again
        assert not (module / ".devshell").exists()
    finally:
        if cluster.status().running:
            cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(project, ignore_errors=True)


def test_scaffold_outside_the_addons_path_says_how_to_add_it(tmp_path: Path, address) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.admin import drop_database

    created = run_devshell("scaffold", "my_mod", "addons/", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    hint = created.stdout.splitlines()[-1]
    assert hint.startswith(f"{tmp_path / 'addons'} is not on the addons path")
    assert hint.endswith('pass --addons-path addons, or add addons_path = ["addons"] to devshell.toml')

    db = unique_name("hint")
    line = one_line_error(run_devshell("db", "init", "-d", db, "-i", "my_mod", cwd=tmp_path), 2)
    assert "module 'my_mod' is not on the addons path" in line
    assert line.endswith(f"it is in {tmp_path / 'addons'}: pass --addons-path addons, or add "
                         'addons_path = ["addons"] to devshell.toml')
    (tmp_path / "devshell.toml").write_text('addons_path = ["addons"]\n')  # the advice, followed
    try:
        init = run_devshell("db", "init", "-d", db, "-i", "my_mod", "--admin-password", "pw", cwd=tmp_path)
        assert init.returncode == 0, init.stderr
        assert "installed my_mod 0.1.0" in init.stdout.splitlines()
    finally:
        drop_database(address, db, missing_ok=True)
    again = run_devshell("scaffold", "second", "addons", cwd=tmp_path)  # now on the path: no advice
    assert again.returncode == 0 and "not on the addons path" not in again.stdout


def test_demo_module_test_passes(tmp_path: Path) -> None:
    from devshell.scaffold import scaffold

    result = scaffold("demo_tests", tmp_path, "demo")
    test_file = result.target / "addons" / "library" / "tests" / "test_library.py"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                         cwd=result.target, capture_output=True, text=True, timeout=240, env=dict(os.environ))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


@pytest.mark.parametrize("name", ["1shelf", "My-Module", "class", "shelf.v2", "Shelf", "café"])
def test_refuses_invalid_names(tmp_path: Path, name: str) -> None:
    message = one_line_error(run_devshell("scaffold", name, str(tmp_path)), 2)
    assert f"invalid name {name!r}" in message
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_module_already_on_the_addons_path(tmp_path: Path) -> None:
    message = one_line_error(run_devshell("scaffold", "base", str(tmp_path)), 2)
    assert "a module named 'base' already exists" in message
    library = FIXTURES / "addons_library"
    message = one_line_error(run_devshell("scaffold", "library", str(tmp_path),
                                          env={"DEVSHELL_ADDONS_PATH": str(library)}), 2)
    assert f"already exists at {library / 'library'}" in message
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    assert run_devshell("scaffold", "shelf", str(tmp_path)).returncode == 0
    manifest = tmp_path / "shelf" / "__manifest__.py"
    manifest.write_text("# edited by hand\n")
    (tmp_path / "shelf" / "data" / "schema.sql").unlink()

    message = one_line_error(run_devshell("scaffold", "shelf", str(tmp_path)), 1)
    assert "would overwrite 3 existing file(s)" in message and "--force" in message
    assert manifest.read_text() == "# edited by hand\n"
    assert not (tmp_path / "shelf" / "data" / "schema.sql").exists()  # nothing written at all

    forced = run_devshell("scaffold", "shelf", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "Shelf" in manifest.read_text()


def test_list_shows_the_builtin_templates() -> None:
    result = run_devshell("scaffold", "--list")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["module", "project", "demo"]
    assert "populate factory" in result.stdout


def test_template_folder_given_by_path(tmp_path: Path) -> None:
    import devshell

    template = tmp_path / "tpl"
    (template / "{{ name }}_docs").mkdir(parents=True)
    (template / "{{ name }}_docs" / "intro.md.tmpl").write_text("# {{ title }}\nmade in {{ year }}\n")
    (template / "logo.bin").write_bytes(b"\x00\x01{{ name }}")  # not .tmpl: copied byte for byte
    result = devshell.scaffold("user_guide", tmp_path / "out", template=template)
    intro = tmp_path / "out" / "user_guide" / "user_guide_docs" / "intro.md"
    assert intro.read_text().startswith("# User Guide\nmade in 2")
    assert (tmp_path / "out" / "user_guide" / "logo.bin").read_bytes() == b"\x00\x01{{ name }}"
    assert len(result.files) == 2

    (template / "broken.txt.tmpl").write_text("{% if %}\n")
    message = one_line_error(run_devshell("scaffold", "other", str(tmp_path / "out"), "-t", str(template)), 1)
    assert "template file broken.txt.tmpl line 1" in message
    assert not (tmp_path / "out" / "other").exists()

    message = one_line_error(run_devshell("scaffold", "other", str(tmp_path), "-t", "nope"), 2)
    assert "unknown template 'nope'" in message

"""Layered configuration: each layer, sources, masking, unknown keys, bad values, relative paths."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import assert_one_line_error, run_devshell
from devshell.config import Config, load_config
from devshell.errors import ConfigError

LINE = re.compile(r"^(?P<key>\w+)\s+(?P<value>.*?)\s+\((?P<source>[^()]*)\)$")


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A user config dir, a project with devshell.toml, and a folder two levels inside the project."""
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    project = tmp_path / "project"
    inside = project / "src" / "deeper"
    inside.mkdir(parents=True)
    return {"tmp": tmp_path, "user_dir": user_dir, "project": project, "inside": inside}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_config(*args: str, cwd: Path, user_dir: Path,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`devshell config …` in *cwd*, with only the user dir and *env* as configuration."""
    # an empty variable counts as unset: this hides the test session's DEVSHELL_DATA_DIR
    return run_devshell("config", *args, cwd=cwd,
                        env={"DEVSHELL_DATA_DIR": "", "DEVSHELL_CONFIG_DIR": str(user_dir), **(env or {})})


def parse_table(stdout: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match and not line.startswith("#"):
            rows[match["key"]] = (match["value"], match["source"])
    return rows


# -- in-process: load_config with an explicit cwd and environment ----------------------------------

def test_each_layer_beats_the_one_below(layout: dict[str, Path]) -> None:
    user_file = write(layout["user_dir"] / "config.toml",
                      'http_port = 1001\ngevent_port = 1002\nworkers = 1\nlog_level = "debug"\n')
    project_file = write(layout["project"] / "devshell.toml", "gevent_port = 2002\nworkers = 2\nmax_cron_threads = 3\n")
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "DEVSHELL_WORKERS": "4",
               "DEVSHELL_MAX_CRON_THREADS": "5", "PGHOST": "from-libpq", "DEVSHELL_DB_HOST": "from-devshell",
               "PGUSER": "alice", "PGDATABASE": "libpq_db"}
    config = load_config(cwd=layout["inside"], environ=environ, overrides={"max_cron_threads": 7, "mode": None})

    expected = {
        "mode": ("threaded", "default"),
        "log_level": ("debug", f"user file {user_file}"),
        "http_port": (1001, f"user file {user_file}"),
        "gevent_port": (2002, f"project file {project_file}"),
        "workers": (4, "environment $DEVSHELL_WORKERS"),
        "db_host": ("from-devshell", "environment $DEVSHELL_DB_HOST"),  # DEVSHELL_* wins over PG*
        "db_user": ("alice", "environment $PGUSER"),
        "db_name": ("libpq_db", "environment $PGDATABASE"),
        "max_cron_threads": (7, "command line --max-cron-threads"),
    }
    assert {key: (config[key], config.sources[key]) for key in expected} == expected
    assert config.project_root == layout["project"]
    assert config.files == [user_file, project_file]
    assert config.unknown == []
    assert config.is_set("workers") and not config.is_set("mode")


def test_defaults_only_outside_a_project(layout: dict[str, Path]) -> None:
    config = load_config(cwd=layout["tmp"], environ={"DEVSHELL_CONFIG_DIR": str(layout["user_dir"])})
    assert config.project_root is None
    assert set(config.sources.values()) == {"default"}
    assert config["http_port"] == 8069 and config["list_db"] is True and config["db_host"] is None
    assert config.data_dir == layout["tmp"] / ".devshell"  # the default data dir follows the cwd


def test_pyproject_tool_section_is_the_project_file(layout: dict[str, Path]) -> None:
    project = layout["project"]
    pyproject = write(project / "pyproject.toml", '[project]\nname = "x"\n\n[tool.devshell]\nhttp_port = 3003\n')
    # a pyproject.toml without [tool.devshell] on the way up is not a project file
    write(project / "src" / "pyproject.toml", '[project]\nname = "inner"\n')
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"])}
    config = load_config(cwd=layout["inside"], environ=environ)
    assert config["http_port"] == 3003
    assert config.sources["http_port"] == f"project file {pyproject}"
    assert config.project_root == project
    assert config.data_dir == project / ".devshell"

    # devshell.toml wins over pyproject.toml in the same folder
    devshell_toml = write(project / "devshell.toml", "http_port = 4004\n")
    config = load_config(cwd=layout["inside"], environ=environ)
    assert (config["http_port"], config.files) == (4004, [devshell_toml])


def test_relative_paths_are_read_against_their_file(layout: dict[str, Path]) -> None:
    write(layout["user_dir"] / "config.toml", 'pidfile = "run/devshell.pid"\n')
    write(layout["project"] / "devshell.toml", 'data_dir = "var"\naddons_path = ["addons", "../shared/addons"]\n')
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "DEVSHELL_PG_BINDIR": "pgbin"}
    config = load_config(cwd=layout["inside"], environ=environ, overrides={"pidfile": "flag.pid"})
    assert config["data_dir"] == str(layout["project"] / "var")
    assert config["addons_path"] == [str(layout["project"] / "addons"), str(layout["tmp"] / "shared" / "addons")]
    assert config["pg_bindir"] == str(layout["inside"] / "pgbin")  # the environment: the cwd
    assert config["pidfile"] == str(layout["inside"] / "flag.pid")  # a flag: the cwd

    without_flag = load_config(cwd=layout["inside"], environ=environ)
    assert without_flag["pidfile"] == str(layout["user_dir"] / "run" / "devshell.pid")


def test_values_are_converted(layout: dict[str, Path]) -> None:
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "DEVSHELL_LIST_DB": "no",
               "DEVSHELL_DEV": "reload, xml", "DEVSHELL_ALLOW_ROOT": "1", "PGPORT": "5433", "DEVSHELL_MODE": ""}
    config = load_config(cwd=layout["tmp"], environ=environ)
    assert config["list_db"] is False and config["allow_root"] is True
    assert config["dev"] == ["reload", "xml"]
    assert config["db_port"] == 5433
    assert config.sources["mode"] == "default"  # an empty variable counts as unset


def test_unknown_keys_are_collected(layout: dict[str, Path]) -> None:
    user_file = write(layout["user_dir"] / "config.toml", "htp_port = 1\n")
    project_file = write(layout["project"] / "devshell.toml", "[server]\nworkers = 2\n")
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "DEVSHELL_WORKRES": "3",
               "DEVSHELL_PASSWORD": "not a setting"}
    config = load_config(cwd=layout["inside"], environ=environ)
    assert config.unknown == [("htp_port", f"user file {user_file}"), ("server", f"project file {project_file}"),
                              ("DEVSHELL_WORKRES", "environment")]
    assert config["workers"] == 0


@pytest.mark.parametrize("text, key", [
    ('http_port = "abc"\n', "http_port"),
    ("list_db = 3\n", "list_db"),
    ("workers = true\n", "workers"),
    ('mode = ["threaded"]\n', "mode"),
])
def test_bad_types_raise_config_error(layout: dict[str, Path], text: str, key: str) -> None:
    project_file = write(layout["project"] / "devshell.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=layout["inside"], environ={"DEVSHELL_CONFIG_DIR": str(layout["user_dir"])})
    assert caught.value.exit_code == 2
    assert str(project_file) in caught.value.message and key in caught.value.message
    assert "\n" not in caught.value.message


def test_bad_value_in_the_environment_and_flags(layout: dict[str, Path]) -> None:
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "PGPORT": "fivefourthreetwo"}
    with pytest.raises(ConfigError, match=r"\$PGPORT: invalid value for db_port"):
        load_config(cwd=layout["tmp"], environ=environ)
    config: Config = load_config(cwd=layout["tmp"], environ={"DEVSHELL_CONFIG_DIR": str(layout["user_dir"])})
    with pytest.raises(ConfigError, match="command line --http-port: invalid value for http_port"):
        config.with_overrides({"http_port": "x"})


# -- the real command: `devshell config` in a child process -------------------------------------

def test_config_command_shows_value_and_source(layout: dict[str, Path]) -> None:
    user_file = write(layout["user_dir"] / "config.toml", "http_port = 1001\n")
    project_file = write(layout["project"] / "devshell.toml", 'gevent_port = 2002\ndata_dir = "var"\n')
    result = run_config(cwd=layout["inside"], user_dir=layout["user_dir"],
                        env={"DEVSHELL_WORKERS": "4", "PGUSER": "alice"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"# project: {layout['project']}"
    rows = parse_table(result.stdout)
    from devshell.settings import SETTINGS

    assert set(rows) == set(SETTINGS)
    assert rows["http_port"] == ("1001", f"user file {user_file}")
    assert rows["gevent_port"] == ("2002", f"project file {project_file}")
    assert rows["data_dir"] == (str(layout["project"] / "var"), f"project file {project_file}")
    assert rows["workers"] == ("4", "environment $DEVSHELL_WORKERS")
    assert rows["db_user"] == ("alice", "environment $PGUSER")
    assert rows["mode"] == ("threaded", "default")
    assert rows["list_db"] == ("true", "default")

    only = run_config("http_port", "mode", cwd=layout["inside"], user_dir=layout["user_dir"])
    assert set(parse_table(only.stdout)) == {"http_port", "mode"}


def test_config_json(layout: dict[str, Path]) -> None:
    project_file = write(layout["project"] / "devshell.toml", "http_port = 2002\nhtp_port = 1\n")
    result = run_config("--json", cwd=layout["inside"], user_dir=layout["user_dir"])
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["project_root"] == str(layout["project"])
    assert payload["files"] == [str(project_file)]
    assert payload["settings"]["http_port"] == {"value": 2002, "source": f"project file {project_file}"}
    assert payload["settings"]["list_db"] == {"value": True, "source": "default"}
    assert payload["unknown"] == [{"key": "htp_port", "where": f"project file {project_file}"}]


def test_secrets_are_masked(layout: dict[str, Path]) -> None:
    write(layout["project"] / "devshell.toml", 'admin_password = "project-secret-1"\n')
    env = {"PGPASSWORD": "libpq-secret-2"}
    text = run_config(cwd=layout["inside"], user_dir=layout["user_dir"], env=env)
    as_json = run_config("--json", cwd=layout["inside"], user_dir=layout["user_dir"], env=env)
    for result in (text, as_json):
        assert result.returncode == 0, result.stderr
        assert "project-secret-1" not in result.stdout and "libpq-secret-2" not in result.stdout
    rows = parse_table(text.stdout)
    assert rows["db_password"] == ("********", "environment $PGPASSWORD")
    assert rows["admin_password"][0] == "********"
    settings = json.loads(as_json.stdout)["settings"]
    assert settings["db_password"] == {"value": "********", "source": "environment $PGPASSWORD"}


def test_unknown_keys_are_reported_with_a_suggestion(layout: dict[str, Path], address: object) -> None:
    project_file = write(layout["project"] / "devshell.toml", "htp_port = 1\nzzz = 2\n")
    result = run_config(cwd=layout["inside"], user_dir=layout["user_dir"], env={"DEVSHELL_WORKRES": "3"})
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("# unknown")]
    assert notes == [
        f"# unknown setting 'htp_port' in project file {project_file} (did you mean 'http_port'?)",
        f"# unknown setting 'zzz' in project file {project_file}",
        "# unknown setting 'DEVSHELL_WORKRES' in environment (did you mean 'DEVSHELL_WORKERS'?)",
    ]
    # any other command warns on stderr, once, and still works
    status = run_devshell("db", "server", "status", env={"DEVSHELL_HTTP_PROT": "1"})
    assert status.returncode == 0, status.stderr
    assert status.stderr.splitlines() == [
        "devshell: warning: unknown setting 'DEVSHELL_HTTP_PROT' in environment (did you mean 'DEVSHELL_HTTP_PORT'?)"
    ]


@pytest.mark.parametrize("file_text, env, expected", [
    ('http_port = "abc"\n', {}, "invalid value for http_port"),
    ("http_port = \n", {}, "not valid TOML"),
    ("[tool.devshell\n", {}, "not valid TOML"),
    ("", {"DEVSHELL_LIMIT_TIME_REAL": "soon"}, "$DEVSHELL_LIMIT_TIME_REAL: invalid value for limit_time_real"),
])
def test_bad_configuration_is_one_line_exit_2(layout: dict[str, Path], file_text: str, env: dict[str, str],
                                              expected: str) -> None:
    write(layout["project"] / "devshell.toml", file_text)
    result = run_config(cwd=layout["inside"], user_dir=layout["user_dir"], env=env)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("devshell: error: ") and expected in lines[0], result.stderr
    # the built-ins' help does not read the configuration, so it still works
    assert run_devshell("--help", cwd=layout["inside"]).returncode == 0


def test_invalid_user_file_names_the_file(layout: dict[str, Path]) -> None:
    user_file = write(layout["user_dir"] / "config.toml", "= oops\n")
    result = run_config(cwd=layout["tmp"], user_dir=layout["user_dir"])
    assert result.returncode == 2
    assert result.stderr.startswith(f"devshell: error: {user_file}: not valid TOML")
    assert len(result.stderr.strip().splitlines()) == 1


# -- settings with a fixed set of values, the workers rule, the environment of child processes ---------

@pytest.mark.parametrize("key, value", [("mode", "fast"), ("log_level", "loud"), ("shell_interface", "emacs"),
                                        ("db_sslmode", "sometimes")])
def test_a_value_outside_the_choices_is_one_line_exit_2(layout: dict[str, Path], key: str, value: str) -> None:
    from devshell.settings import SETTINGS

    variable = f"DEVSHELL_{key.upper()}"
    result = run_config(cwd=layout["tmp"], user_dir=layout["user_dir"], env={variable: value})
    line = assert_one_line_error(result, 2)
    # the key, the value, where it came from, and what it could have been
    assert key in line and repr(value) in line and f"${variable}" in line
    assert ", ".join(SETTINGS[key].choices) in line
    project_file = write(layout["project"] / "devshell.toml", f'{key} = "{value}"\n')
    with pytest.raises(ConfigError, match=re.escape(str(project_file))):
        load_config(cwd=layout["inside"], environ={"DEVSHELL_CONFIG_DIR": str(layout["user_dir"])})


def test_choices_ignore_case_and_keep_the_known_spelling(layout: dict[str, Path]) -> None:
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "DEVSHELL_LOG_LEVEL": "DEBUG",
               "DEVSHELL_MODE": "Gevent"}
    config = load_config(cwd=layout["tmp"], environ=environ)
    assert (config["log_level"], config["mode"]) == ("debug", "gevent")
    with pytest.raises(ConfigError, match=r"command line --dev: unknown developer feature 'teleport' for dev"):
        config.with_overrides({"dev": ["reload", "teleport"]})  # on the command line and in code every item counts


def test_the_mode_flag_offers_the_declared_choices() -> None:
    from devshell.settings import SETTINGS

    result = run_devshell("server", "-h")
    assert result.returncode == 0
    assert "[" + "|".join(SETTINGS["mode"].choices) + "]" in result.stdout


def test_workers_make_the_mode_prefork_for_a_server(layout: dict[str, Path]) -> None:
    from devshell.errors import UsageError

    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "DEVSHELL_WORKERS": "3"}
    config = load_config(cwd=layout["tmp"], environ=environ)
    served = config.for_server()
    assert served["mode"] == "prefork" and "$DEVSHELL_WORKERS" in served.sources["mode"]
    assert served.for_server() is served and config["mode"] == "threaded"  # the layers as given stay as given
    plain = load_config(cwd=layout["tmp"], environ={"DEVSHELL_CONFIG_DIR": str(layout["user_dir"])})
    assert plain.for_server() is plain and plain.for_server()["mode"] == "threaded"
    with pytest.raises(UsageError, match="--workers 3 runs HTTP worker processes, which only prefork mode has"):
        config.with_overrides({"mode": "gevent"}).for_server()
    with pytest.raises(UsageError, match="needs mode='prefork'"):
        config.with_overrides({"mode": "threaded"}, source="start_server").for_server()


def test_child_environment_writes_what_a_child_would_not_read_again(layout: dict[str, Path]) -> None:
    from devshell.config import child_environment

    write(layout["project"] / "devshell.toml", "http_port = 9000\n")
    environ = {"DEVSHELL_CONFIG_DIR": str(layout["user_dir"]), "DEVSHELL_MAX_CRON_THREADS": "1",
               "PGPASSWORD": "secret"}
    config = load_config(cwd=layout["inside"], environ=environ).with_overrides(
        {"workers": 2, "dev": ["reload"], "allow_root": True})
    # a child in the same folder and environment re-reads files and variables: only the flags are written
    assert child_environment(config) == {"DEVSHELL_WORKERS": "2", "DEVSHELL_DEV": "reload",
                                         "DEVSHELL_ALLOW_ROOT": "true"}
    assert child_environment(config, db_name="x", workers=None) == {
        "DEVSHELL_DEV": "reload", "DEVSHELL_ALLOW_ROOT": "true", "DEVSHELL_DB_NAME": "x"}
    # a kernel started later by Jupyter: everything that is not a default, the secrets left out
    complete = child_environment(config, complete=True)
    assert complete["DEVSHELL_HTTP_PORT"] == "9000" and complete["DEVSHELL_MAX_CRON_THREADS"] == "1"
    assert complete["DEVSHELL_WORKERS"] == "2" and "DEVSHELL_DB_PASSWORD" not in complete
    assert "DEVSHELL_MODE" not in complete  # still the default
    # what a child builds from these variables is the same configuration
    child = load_config(cwd=layout["inside"], environ={**environ, **child_environment(config)})
    assert {key: child[key] for key in ("workers", "dev", "allow_root", "http_port", "max_cron_threads")} == {
        key: config[key] for key in ("workers", "dev", "allow_root", "http_port", "max_cron_threads")}

"""A notebook's background server behind a real jupyter-server-proxy, in a real Jupyter server started here;
and the handle's URLs (`url_for`, `srv.url + "/web/health"`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from conftest import eventually, unique_name
from debian_tools import ensure_tool
from headless import Browser

TOKEN = "devshell-proxy-test"
BASE_URL = "/jhub/"


class JupyterServer:
    """``jupyter server`` with jupyter-server-proxy, on a free port, under BASE_URL, with a token."""

    def __init__(self, folder: Path) -> None:
        self.runtime = folder / "runtime"
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime), "JUPYTER_CONFIG_DIR": str(folder / "config"),
               "JUPYTER_DATA_DIR": str(folder / "data"), "JUPYTER_PLATFORM_DIRS": "1"}
        self.log = (folder / "jupyter.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", "--port=0",
             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.base_url={BASE_URL}", f"--ServerApp.root_dir={folder}",
             '--ServerApp.jpserver_extensions={"jupyter_server_proxy": True}',
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_ready(folder)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, folder: Path) -> None:
        info = self.runtime / f"jpserver-{self.proc.pid}.json"
        eventually(lambda: info.is_file() or self.proc.poll() is not None, timeout=60,
                   message="the Jupyter server never wrote its runtime file")
        assert self.proc.poll() is None, (folder / "jupyter.log").read_text()
        self.port = int(eventually(lambda: json.loads(info.read_text() or "{}").get("port"), timeout=10))
        self.root = f"http://127.0.0.1:{self.port}"
        eventually(lambda: self.get(f"{BASE_URL}api/status").status_code == 200, timeout=30,
                   message="the Jupyter server never answered")

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.root + path, headers={"Authorization": f"token {TOKEN}"}, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.root + path, headers={"Authorization": f"token {TOKEN}"}, timeout=30, **kwargs)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = JupyterServer(tmp_path_factory.mktemp("jupyter"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def demo_db(address: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A database with the demo's library module installed, and its addons folder."""
    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.modules import init_database
    from devshell.scaffold import scaffold

    folder = tmp_path_factory.mktemp("proxydemo")
    scaffold("proxydemo", folder, template="demo")
    addons = folder / "proxydemo" / "addons"
    db = unique_name("proxied")
    init_database(load_config(overrides={"addons_path": [str(addons)]}), db, ["library"], admin_password="pw")
    try:
        yield db, addons
    finally:
        drop_database(address, db, missing_ok=True)


def test_server_behind_jupyter_server_proxy(jupyter: JupyterServer, demo_db: tuple[str, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import devshell

    db, addons = demo_db
    # as a kernel of that Jupyter server sees it: its parent's pid names the server's runtime file
    monkeypatch.setenv("JPY_PARENT_PID", str(jupyter.proc.pid))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(jupyter.runtime))
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    with devshell.start_server(db=db, addons_path=[str(addons)], max_cron_threads=0, name="proxied") as srv:
        assert srv.public_url == f"{BASE_URL}proxy/{srv.port}/"  # detected: no proxy=True needed
        assert f'href="{srv.public_url}"' in srv._repr_html_() and srv.config["proxy_mode"] == 1
        health = jupyter.get(srv.url_for("web/health", public=True))
        assert health.status_code == 200 and health.json()["status"] == "ok"

        page = jupyter.get(srv.url_for("library", public=True, db=db))
        assert page.status_code == 200, page.text
        root = f"{BASE_URL}proxy/{srv.port}"
        assert f'src="{root}/library/static/src/live.js"' in page.text and f'data-root="{root}"' in page.text
        assert jupyter.get(f"{root}/library/static/src/live.js").status_code == 200
        polled = jupyter.post(f"{root}/longpolling/poll?db={db}", json={"channels": ["library"], "last": 0,
                                                                        "timeout": 0})
        assert polled.status_code == 200 and isinstance(polled.json(), list)

        browser = Browser(ensure_tool("chromium", "chromium"),
                          f"{jupyter.root}{root}/library?db={db}&token={TOKEN}")
        try:
            browser.wait_for_text("Library")  # the page, its script and its live channel come through the proxy:
            with devshell.connect(db) as env:
                env.bus.send("library", {"text": "through the proxy"})
                env.commit()
            browser.wait_for_text("through the proxy")
        finally:
            browser.close()
    direct = devshell.start_server(db=db, addons_path=[str(addons)], max_cron_threads=0, name="direct", proxy=False)
    try:
        assert direct.public_url == direct.url and direct.config["proxy_mode"] == 0
        # without proxy_mode nobody is trusted: a forged prefix changes nothing
        page = requests.get(direct.url_for("library", db=db), headers={"X-Forwarded-Prefix": "/evil"}, timeout=30)
        assert page.status_code == 200 and 'data-root=""' in page.text and "/evil" not in page.text
    finally:
        direct.stop()


def test_url_for_and_a_slash_too_many(address: Any, new_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import devshell

    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/someone/")
    with devshell.start_server(db=new_db, max_cron_threads=0, name="urls") as srv:
        assert srv.url.endswith("/") and srv.url_for("web/health") == srv.url + "web/health"
        assert srv.url + "/web/health" == srv.url + "web/health"  # no `//`
        assert requests.get(srv.url + "/web/health", timeout=30).json()["status"] == "ok"
        assert srv.url_for("/web/database/list", db="x y") == srv.url + "web/database/list?db=x+y"
        # JupyterHub's prefix without jupyter-server-proxy being asked about: detected (the package is installed)
        assert srv.public_url == f"/user/someone/proxy/{srv.port}/"
        assert srv.url_for("web/health", public=True) == f"/user/someone/proxy/{srv.port}/web/health"
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX")
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    with devshell.start_server(db=new_db, max_cron_threads=0, name="urls") as plain:
        assert plain.public_url == plain.url  # no notebook server around: direct
    with devshell.start_server(db=new_db, max_cron_threads=0, name="urls", proxy=True) as forced:
        assert forced.public_url == f"/proxy/{forced.port}/"

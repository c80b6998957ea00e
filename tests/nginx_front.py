"""A real nginx in front of devshell servers, with the config `devshell server --print-proxy-config nginx` prints.

Used by test_server_nginx (one prefork server) and test_cluster (three nodes).
The loopback port helpers serve cluster_parts' PgBouncer too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

NGINX_WRAPPER = """\
{user}daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/devshell.conf;
}}
"""


def nginx_binary() -> str:
    """nginx from PATH, installed from the Debian package first when missing (we run as root in CI)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=environ, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], check=True, env=environ, capture_output=True)
        found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail("these tests need nginx: apt-get install nginx (or brew install nginx)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, process: subprocess.Popen[Any], log: Path, timeout: float = 20) -> None:
    """Until *host*:*port* accepts a connection; fails with *log* if *process* exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{log.name} never listened on {host}:{port}:\n"
                                     + (log.read_text() if log.exists() else "")) from None
            time.sleep(0.05)


class NginxFront:
    """nginx on a free loopback port with *config_text*, the config devshell prints (its ``listen 80;`` moved)."""

    def __init__(self, binary: str, config_text: str, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        assert "listen 80;" in config_text
        (root / "devshell.conf").write_text(config_text.replace("listen 80;", f"listen 127.0.0.1:{self.port};"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(NGINX_WRAPPER.format(root=root, user=user))
        self.process = subprocess.Popen([binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-e",
                                         str(root / "error.log")], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, self.process, root / "error.log")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

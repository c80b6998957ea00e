"""Real parts of the many-machines test: PgBouncer in front of the session's PostgreSQL, and the nodes.

PgBouncer (the Debian package, installed when missing) listens on loopback TCP in
transaction pooling mode and reaches PostgreSQL over the embedded cluster's unix
socket, where the cluster trusts its superuser (``--auth-local=trust``, see
devshell/db/embedded.py); clients authenticate to PgBouncer with ``auth_type =
trust`` and a userlist naming that role. PgBouncer refuses to run as root: as
root it is started with ``-u`` the account that runs the cluster. The nginx front is in
nginx_front.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from debian_tools import ensure_tool
from nginx_front import free_port, wait_for_port
from server_process import ServerProcess

PGBOUNCER_INI = """\
[databases]
* = host={socket_dir} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/userlist.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
server_idle_timeout = 30
"""


class PgBouncer:
    """A PgBouncer in transaction pooling mode in front of the PostgreSQL at *direct* (a unix socket)."""

    def __init__(self, direct: Any, parent: Path, os_user: str = "postgres") -> None:
        binary = shutil.which("pgbouncer", path="/usr/sbin:/sbin") or ensure_tool("pgbouncer", "pgbouncer")
        self.root = Path(tempfile.mkdtemp(prefix="pgbouncer-", dir=parent))
        os.chmod(self.root, 0o755)  # read by the account PgBouncer switches to
        self.port = free_port()
        self.user = direct.user
        (self.root / "pgbouncer.ini").write_text(PGBOUNCER_INI.format(
            socket_dir=direct.host, port=direct.port, listen_port=self.port, root=self.root))
        (self.root / "userlist.txt").write_text(f'"{direct.user}" ""\n')
        for name in ("pgbouncer.ini", "userlist.txt"):
            os.chmod(self.root / name, 0o644)
        self.log = self.root / "pgbouncer.log"
        command = [binary, *(["-u", os_user] if os.geteuid() == 0 else []), str(self.root / "pgbouncer.ini")]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port("127.0.0.1", self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_node(interface: str, addons: Path, db: str, env: dict[str, str]) -> ServerProcess:
    """`devshell server` bound to *interface* on a free port, two cron threads, serving *db*."""
    command = [sys.executable, "-m", "devshell", "server", "--addons-path", str(addons), "-d", db,
               "--http-interface", interface, "--http-port", "0", "--max-cron-threads", "2"]
    return ServerProcess(command=command, env=env)

"""The embedded cluster's own safety (issue 14): its /tmp fallback as root (item 5), a stale postmaster.pid (item 12).

These tests run a cluster of their own (not the session's), through the real
`devshell db` commands. As root, its data dir is in a folder the cluster's
account cannot enter, so the cluster lives in ``$TMPDIR/devshell-pg-<account>``;
``TMPDIR`` points at a folder of the test, so a planted link harms nothing real.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from conftest import assert_one_line_error, run_devshell

IS_ROOT = os.geteuid() == 0
ACCOUNT = "postgres"
root_only = pytest.mark.skipif(not IS_ROOT, reason="the /tmp fallback is for root, whose cluster runs as postgres")


def shared_folder(prefix: str) -> Path:
    """A folder every account may traverse (pytest's own temp folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(folder, 0o755)
    return folder


class Cluster:
    """A cluster of its own, driven through the CLI with its DEVSHELL_DATA_DIR and TMPDIR."""

    def __init__(self, data_dir: Path, tmp: Path) -> None:
        self.env = {"DEVSHELL_DATA_DIR": str(data_dir), "TMPDIR": str(tmp)}
        self.data_dir, self.tmp = data_dir, tmp

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_devshell(*args, env=self.env)

    def handle(self):  # type: ignore[no-untyped-def]
        from devshell.db.embedded import EmbeddedCluster

        old = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = str(self.tmp)
        tempfile.tempdir = None
        try:
            return EmbeddedCluster(self.data_dir)
        finally:
            if old is None:
                os.environ.pop("TMPDIR")
            else:
                os.environ["TMPDIR"] = old
            tempfile.tempdir = None


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """As root: a data dir under a 0700 folder (the fallback is used); otherwise a plain data dir."""
    base = shared_folder("devshell-h14-cluster-")
    private = base / "private"
    private.mkdir(mode=0o700)
    tmp = base / "tmp"
    tmp.mkdir(mode=0o755)
    cluster = Cluster(private / "data" if IS_ROOT else base / "data", tmp)
    try:
        yield cluster
    finally:
        cluster.run("db", "server", "stop")
        shutil.rmtree(base, ignore_errors=True)


@root_only
def test_as_root_the_fallback_in_tmp_is_owned_safely_and_announced(own_cluster: Cluster) -> None:
    started = own_cluster.run("db", "server", "start")
    assert started.returncode == 0, started.stderr
    parent = own_cluster.tmp / f"devshell-pg-{ACCOUNT}"
    root = own_cluster.handle().root
    assert root.parent == parent
    assert f"keeps its data in {root}" in started.stderr and "devshell: warning:" in started.stderr
    info = os.lstat(parent)
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o755
    info = os.lstat(root)
    assert info.st_uid == pwd.getpwnam(ACCOUNT).pw_uid and stat.S_IMODE(info.st_mode) == 0o700
    listed = own_cluster.run("db", "list")
    assert listed.returncode == 0, listed.stderr


@root_only
@pytest.mark.parametrize("plant", ["symlink", "foreign folder"])
def test_as_root_a_planted_tmp_folder_is_refused_and_left_alone(plant: str) -> None:
    base = shared_folder("devshell-h14-attack-")
    try:
        (base / "private").mkdir(mode=0o700)
        tmp = base / "tmp"
        tmp.mkdir(mode=0o1777)  # like /tmp: anyone can create names here
        victim = base / "victim"
        victim.mkdir(mode=0o750)
        planted = tmp / f"devshell-pg-{ACCOUNT}"
        if plant == "symlink":
            planted.symlink_to(victim)
        else:
            planted.mkdir(mode=0o777)
            account = pwd.getpwnam(ACCOUNT)
            os.chown(planted, account.pw_uid, account.pw_gid)
        cluster = Cluster(base / "private" / "data", tmp)
        result = cluster.run("db", "server", "start")
        if result.returncode == 0:  # not refused: stop what started before failing
            cluster.run("db", "server", "stop")
        line = assert_one_line_error(result, 1)
        assert str(planted) in line and ("symbolic link" in line or "another account" in line)
        info = os.lstat(victim)
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o750) and not list(victim.iterdir())
        assert not list(planted.iterdir())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_stale_postmaster_pid_naming_another_live_process_is_recovered(own_cluster: Cluster) -> None:
    started = own_cluster.run("db", "server", "start")
    assert started.returncode == 0 or "already running" in started.stderr, started.stderr
    cluster = own_cluster.handle()
    pid_file = cluster.pgdata / "postmaster.pid"
    recorded = pid_file.read_text().splitlines()
    port = recorded[3]
    assert own_cluster.run("db", "server", "stop").returncode == 0
    # another program now has the pid: a process of the cluster's own account, so PostgreSQL sees it alive too
    account = pwd.getpwnam(ACCOUNT) if IS_ROOT else pwd.getpwuid(os.geteuid())
    other = subprocess.Popen(["sleep", "600"], user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    try:
        pid_file.write_text("\n".join([str(other.pid), *recorded[1:]]) + "\n")
        lock = cluster.socket_dir / f".s.PGSQL.{port}.lock"
        lock.write_text(f"{other.pid}\n{cluster.pgdata}\n")
        for path in (pid_file, lock):
            os.chown(path, account.pw_uid, account.pw_gid)
        status = own_cluster.run("db", "server", "status")
        assert status.returncode == 1 and "stopped" in status.stdout, status.stdout + status.stderr
        started = own_cluster.run("db", "server", "start")
        assert started.returncode == 0 and "running" in started.stdout, started.stdout + started.stderr
        listed = own_cluster.run("db", "list")
        assert listed.returncode == 0, listed.stderr
        assert other.poll() is None  # the other program was left alone
    finally:
        other.kill()
        other.wait(10)

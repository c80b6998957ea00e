"""Many machines on one PostgreSQL, built from real parts and checked end to end through the front.

Three `devshell server` processes bound to 127.0.0.2, .3 and .4, each with its own
data dir as if on its own machine, reach the session's PostgreSQL through a real
PgBouncer in transaction pooling mode (their pooled address) and LISTEN on
PostgreSQL itself (their direct address); a real nginx, configured with what
`devshell server --print-proxy-config nginx --upstream …` prints, balances round
robin over them. The tests run in file order on one cluster: those that stop a
node come last.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter

from cluster_parts import PgBouncer, start_node
from conftest import DATA_DIR, query, run_devshell, unique_name
from nginx_front import NginxFront, nginx_binary
from realtime_client import BusSocket, long_poll
from server_process import ServerProcess

ADDONS = Path(__file__).resolve().parent / "fixtures" / "addons_cluster"
INTERFACES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
ADMIN_PASSWORD = "cluster-admin-pw"
DEPLOY_PASSWORD = "cluster-deploy-pw"
CLIENT_ADDRESS = "127.0.0.9"  #: the browser's address, as the nodes must see it behind nginx
LEASE_SECONDS = 3


@dataclass
class Farm:
    db: str
    front: str
    nodes: list[ServerProcess]
    bouncer: PgBouncer
    #: the settings of a process on yet another machine: through PgBouncer, LISTEN direct, its own data dir
    machine_env: dict[str, str]
    figures: dict[str, Any] = field(default_factory=dict)

    def live_nodes(self) -> list[ServerProcess]:
        return [node for node in self.nodes if node.proc.poll() is None]

    def node_of(self, pid: int) -> ServerProcess:
        return next(node for node in self.nodes if node.proc.pid == pid)


class FromAddress(HTTPAdapter):
    """Connections from a chosen local address (the front sees a client other than itself)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def browser() -> requests.Session:
    http = requests.Session()
    http.mount("http://", FromAddress(CLIENT_ADDRESS))
    return http


def login(http: requests.Session, url: str, db: str) -> requests.Session:
    response = http.post(url + "/web/login", json={"login": "admin", "password": ADMIN_PASSWORD, "db": db},
                         timeout=30)
    assert response.status_code == 200, response.text
    return http


def whoami(http: requests.Session, url: str, **kwargs: Any) -> dict[str, Any]:
    response = http.get(url + "/clusternode/whoami", timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["login"] == "admin", answer
    return dict(answer)


def job_id(db: str, name: str, address: Any) -> int:
    return int(query(address, db, "SELECT id FROM devshell_cron WHERE name = %s", (name,))[0][0])


def runner_pid(claimed_by: str) -> int:
    """The pid in a lease holder's name (``host:pid:thread:random``)."""
    return int(claimed_by.split(":")[1])


@pytest.fixture(scope="module")
def farm(address: Any, cluster_tmp: Path) -> Iterator[Farm]:
    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.modules import init_database
    from devshell.users import hash_password

    db = unique_name("cluster")
    init_database(load_config(overrides={"addons_path": [str(ADDONS)]}), db, ["clusternode"],
                  admin_password=ADMIN_PASSWORD)
    bouncer = PgBouncer(address, DATA_DIR.parent)
    servers = {"DEVSHELL_DB_HOST": "127.0.0.1", "DEVSHELL_DB_PORT": str(bouncer.port),
               "DEVSHELL_DB_USER": address.user, "DEVSHELL_DB_DIRECT_HOST": address.host,
               "DEVSHELL_DB_DIRECT_PORT": str(address.port), "DEVSHELL_ADDONS_PATH": str(ADDONS)}
    nodes: list[ServerProcess] = []
    front: NginxFront | None = None
    try:
        for number, interface in enumerate(INTERFACES):
            env = {**servers, "DEVSHELL_DATA_DIR": str(cluster_tmp / f"machine{number}"),
                   "DEVSHELL_PROXY_MODE": "1", "DEVSHELL_CRON_LEASE_SECONDS": str(LEASE_SECONDS),
                   "DEVSHELL_DEPLOY_PASSWORD": hash_password(DEPLOY_PASSWORD), "DEVSHELL_LOG_LEVEL": "debug"}
            nodes.append(start_node(interface, ADDONS, db, env))
        started = time.monotonic()
        for node in nodes:
            node.wait_ready(60)
        upstreams = ",".join(node.url.removeprefix("http://") for node in nodes)
        printed = run_devshell("server", "--print-proxy-config", "nginx", "--upstream", upstreams)
        assert printed.returncode == 0, printed.stderr
        (cluster_tmp / "nginx").mkdir()
        front = NginxFront(nginx_binary(), printed.stdout, cluster_tmp / "nginx")
        machine_env = {**servers, "DEVSHELL_DATA_DIR": str(cluster_tmp / "elsewhere")}
        built = Farm(db, front.url, nodes, bouncer, machine_env, {"nodes ready (s)": round(time.monotonic() - started, 2)})
        yield built
        print("\ncluster figures:", *(f"  {key}: {value}" for key, value in built.figures.items()), sep="\n")
    finally:
        if front is not None:
            front.stop()
        for node in nodes:
            node.stop()
        bouncer.stop()
        drop_database(address, db, missing_ok=True)


@pytest.fixture(scope="module")
def cluster_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cluster")


def test_nodes_use_the_pooler_and_listen_directly(farm: Farm, address: Any) -> None:
    """Every node reports its pooled and direct addresses, and no LISTEN or connection warning."""
    for node in farm.nodes:
        assert f"(pooled; direct for LISTEN and admin work: {address.host}:{address.port})" in node.output
        assert "does not hear NOTIFY" not in node.output and "may open" not in node.output
    shown = run_devshell("config", env=farm.machine_env)
    assert shown.returncode == 0, shown.stderr
    assert re.search(rf"db_port\s+{farm.bouncer.port}\b", shown.stdout), shown.stdout
    assert re.search(rf"db_direct_host\s+{re.escape(address.host)}\s", shown.stdout), shown.stdout


def test_listen_through_the_transaction_pooler_is_warned_about(farm: Farm, address: Any) -> None:
    from devshell.config import load_config
    from devshell.server.modes.connection_checks import connection_warnings
    from devshell.site import Site

    pooled = {"db_host": "127.0.0.1", "db_port": farm.bouncer.port, "db_user": address.user,
              "db_name": farm.db}
    warnings = connection_warnings(Site(load_config(overrides=pooled)), "threaded")
    assert any(f"LISTEN on 127.0.0.1:{farm.bouncer.port} does not hear NOTIFY" in line for line in warnings)
    direct = {**pooled, "db_direct_host": address.host, "db_direct_port": address.port}
    assert connection_warnings(Site(load_config(overrides=direct)), "threaded") == []
    oversized = connection_warnings(Site(load_config(overrides={"db_maxconn": 5000})), "prefork")
    assert any("this server may open" in line and "db_maxconn 5000" in line for line in oversized)


def test_a_login_through_the_front_reaches_every_node_and_stays_logged_in(farm: Farm) -> None:
    http = login(browser(), farm.front, farm.db)
    answers = [whoami(http, farm.front) for _ in range(30)]
    served = Counter(answer["pid"] for answer in answers)
    assert set(served) == {node.proc.pid for node in farm.nodes}, served
    assert {answer["node"] for answer in answers} == set(INTERFACES)
    assert {answer["remote_addr"] for answer in answers} == {CLIENT_ADDRESS}  # X-Forwarded-For, one proxy trusted
    farm.figures["requests per node (of 30)"] = sorted(served.values())


def test_a_node_behind_tls_termination_sets_secure_cookies_and_sees_the_client(farm: Farm,
                                                                               address: Any) -> None:
    node = farm.nodes[0]
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "app.example"}
    response = requests.post(node.url + "/web/login", headers=forwarded, timeout=30,
                             json={"login": "admin", "password": ADMIN_PASSWORD, "db": farm.db})
    assert response.status_code == 200, response.text
    assert "; Secure" in response.headers["Set-Cookie"]
    node.wait_for_line(r'203\.0\.113\.7 "POST /web/login HTTP/1\.1" 200')  # the access log names the client
    wrong = requests.post(node.url + "/web/login", headers={**forwarded, "X-Forwarded-For": "203.0.113.8"},
                          json={"login": "admin", "password": "wrong", "db": farm.db}, timeout=30)
    assert wrong.status_code == 401
    counted = query(address, farm.db, "SELECT address, failures FROM devshell_login_attempt WHERE login = 'admin'")
    assert ("203.0.113.8", 1) in counted  # the throttle counts the client, not the proxy


def test_a_poll_and_a_websocket_hear_a_message_sent_from_a_shell_on_another_machine(farm: Farm,
                                                                                    address: Any) -> None:
    channel = f"cluster-{uuid.uuid4().hex[:8]}"
    last = int(query(address, farm.db, "SELECT coalesce(max(id), 0) FROM devshell_bus")[0][0])
    got: dict[str, tuple[float, Any]] = {}
    socket = BusSocket(farm.front, farm.db)
    try:
        socket.subscribe([channel], last)

        def read_socket() -> None:
            message = socket.receive()
            got["socket"] = (time.time(), [message["message"]] if message.get("channel") == channel else message)

        def poll() -> None:
            messages = long_poll(farm.front, farm.db, [channel], last, 30)
            got["poll"] = (time.time(), [message["message"] for message in messages])

        readers = [threading.Thread(target=read_socket), threading.Thread(target=poll)]
        for reader in readers:
            reader.start()
        waiting = re.compile(rf"poll on \S+ of {re.escape(channel)}: waiting")
        deadline = time.monotonic() + 20
        while not any(waiting.search(node.output) for node in farm.nodes):
            assert time.monotonic() < deadline, "the long poll never waited on a node"
            time.sleep(0.05)
        code = (f"import time\nenv.bus.send({channel!r}, {{'from': 'elsewhere'}})\n"
                "committing = time.time()\nenv.commit()\nprint('committed at', committing)")
        shell = run_devshell("shell", "-d", farm.db, "-c", code, env=farm.machine_env)
        assert shell.returncode == 0, shell.stderr
        committed = float(shell.stdout.split("committed at")[-1].split()[0])
        for reader in readers:
            reader.join(30)
    finally:
        socket.close()
    assert got["socket"][1] == [{"from": "elsewhere"}] and got["poll"][1] == [{"from": "elsewhere"}], got
    latencies = {way: round(at - committed, 3) for way, (at, _messages) in got.items()}
    farm.figures["bus: shell commit -> delivered through the front (s)"] = latencies
    assert max(latencies.values()) < 1.0, latencies


def test_a_job_due_every_second_runs_once_per_due_time_never_concurrently(farm: Farm, address: Any) -> None:
    """Six cron threads (two per node) compete for `clusternode.tick`; the run log shows one run per due time."""
    tick = job_id(farm.db, "clusternode.tick", address)
    since = query(address, farm.db, "SELECT now()")[0][0]

    def done() -> int:
        return int(query(address, farm.db, """SELECT count(*) FROM devshell_cron_run
                                               WHERE cron_id = %s AND outcome = 'done' AND due_at >= %s""",
                         (tick, since))[0][0])

    deadline = time.monotonic() + 30
    while done() < 6:
        assert time.monotonic() < deadline, "the job due every second did not run six times in 30 s"
        time.sleep(0.2)
    runs = query(address, farm.db, """SELECT due_at, started_at, finished_at, claimed_by, outcome
                                        FROM devshell_cron_run WHERE cron_id = %s AND due_at >= %s
                                       ORDER BY started_at""", (tick, since))
    finished = [run for run in runs if run[4] == "done"]
    assert len({run[0] for run in finished}) == len(finished)  # never two runs for one due time
    for previous, following in zip(runs, runs[1:]):
        assert previous[2] is not None and previous[2] <= following[1], (previous, following)  # never overlapping
        assert previous[0] < following[0]
    assert {run[4] for run in runs} <= {"done", "running"}
    farm.figures["tick runs checked / nodes that ran them"] = (len(finished), len({runner_pid(run[3]) for run in runs}))


def test_a_rotated_secret_keeps_existing_sessions_valid(farm: Farm, address: Any) -> None:
    from devshell.server.web.sessions import COOKIE_NAME, CookieSigner

    http = login(browser(), farm.front, farm.db)
    old_cookie = str(http.cookies[COOKIE_NAME])
    rotated = run_devshell("db", "rotate-secret", "-d", farm.db, env=farm.machine_env)
    assert rotated.returncode == 0, rotated.stderr
    assert f"rotated the session secret of {farm.db}; the previous one is accepted until" in rotated.stdout
    (current,), = query(address, farm.db, "SELECT secret FROM devshell_secret WHERE retired_at IS NULL")
    _db, sid, _signature = old_cookie.split(".")
    new_cookie = CookieSigner(bytes.fromhex(current)).sign(farm.db, sid)
    assert new_cookie != old_cookie

    def served_with(cookie: str) -> list[requests.Response]:
        answers = []
        for _ in range(6):
            response = browser().get(farm.front + "/clusternode/whoami", cookies={COOKIE_NAME: cookie}, timeout=30)
            assert response.status_code == 200 and response.json()["login"] == "admin", response.text
            answers.append(response)
        assert {response.json()["pid"] for response in answers} == {node.proc.pid for node in farm.live_nodes()}
        return answers

    served_with(old_cookie)  # the old key is still accepted everywhere
    served_with(new_cookie)  # so is the new one: a node whose cached keys are older reads them again
    for response in served_with(old_cookie):  # each node now knows the new key: it signs the session again
        assert response.cookies.get(COOKIE_NAME) == new_cookie


def test_a_deploy_through_the_front_is_loaded_by_every_node(farm: Farm, tmp_path: Path) -> None:
    name = unique_name("deployed")
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__manifest__.py").write_text(f'{{"name": "{name}", "version": "1.0"}}\n')
    (folder / "__init__.py").write_text(
        "from devshell import addon\n\n\n"
        f"@addon.route('/{name}/ping', auth='public', type='json')\n"
        "def ping(request):\n    import os\n    return {'pong': os.getpid()}\n")
    deployed = run_devshell("deploy", str(folder), farm.front, "-d", farm.db, "--login", "admin",
                            env={"DEVSHELL_PASSWORD": ADMIN_PASSWORD, "DEVSHELL_DEPLOY_PASSWORD": DEPLOY_PASSWORD})
    done = time.monotonic()
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    loaded: dict[int, float] = {}
    nodes = farm.live_nodes()
    while len(loaded) < len(nodes):
        for node in nodes:
            if node.proc.pid not in loaded:
                response = requests.get(f"{node.url}/{name}/ping", timeout=10)
                if response.status_code == 200:
                    assert response.json() == {"pong": node.proc.pid}
                    loaded[node.proc.pid] = time.monotonic() - done
        assert time.monotonic() - done < 20, f"the deployed module never reached every node: {loaded}"
        time.sleep(0.02)
    farm.figures["deploy: loaded by every node after (s)"] = round(max(loaded.values()), 3)
    assert max(loaded.values()) < 2.0, loaded


def test_sigkill_of_the_node_running_a_long_job_hands_it_to_another_after_the_lease(farm: Farm,
                                                                                   address: Any) -> None:
    import devshell
    from devshell.config import load_config

    long_job = job_id(farm.db, "clusternode.long", address)
    env = devshell.connect(farm.db, config=load_config())
    try:
        env.cr.execute("INSERT INTO clusternode_work (seconds) VALUES (2) RETURNING id")
        (work,), = env.cr.fetchall()
        env.cron.trigger("clusternode.long")
        env.commit()
    finally:
        env.close()
    deadline = time.monotonic() + 20
    while True:
        running = query(address, farm.db, """SELECT claimed_by FROM devshell_cron_run
                                               WHERE cron_id = %s AND outcome = 'running'""", (long_job,))
        if running:
            break
        assert time.monotonic() < deadline, "nobody claimed the long job"
        time.sleep(0.05)
    victim = farm.node_of(runner_pid(running[0][0]))
    victim.wait_for_line(rf"clusternode long job: working on {work} ")
    victim.proc.kill()
    victim.wait()
    (killed_at,), = query(address, farm.db, "SELECT now()")
    deadline = time.monotonic() + 30
    while not query(address, farm.db, "SELECT 1 FROM clusternode_work WHERE id = %s AND done_at IS NOT NULL",
                    (work,)):
        assert time.monotonic() < deadline, "no other node finished the long job"
        time.sleep(0.1)
    (done_by,), = query(address, farm.db, "SELECT done_by FROM clusternode_work WHERE id = %s", (work,))
    runs = query(address, farm.db, """SELECT claimed_by, outcome, started_at FROM devshell_cron_run
                                        WHERE cron_id = %s AND started_at > %s - interval '1 minute'
                                        ORDER BY started_at""", (long_job, killed_at))
    lost = [run for run in runs if run[1] == "lost"]
    taken = [run for run in runs if run[1] == "done" and run[2] > killed_at]
    assert [runner_pid(run[0]) for run in lost] == [victim.proc.pid], runs
    assert len(taken) == 1 and runner_pid(taken[0][0]) == done_by != victim.proc.pid, runs
    assert done_by in {node.proc.pid for node in farm.live_nodes()}
    farm.figures["long job: SIGKILL -> taken over after (s)"] = round((taken[0][2] - killed_at).total_seconds(), 2)


def test_sigterm_of_a_node_under_load_loses_no_request(farm: Farm, address: Any) -> None:
    """1,200 requests from six clients, half of them POSTs that each write one row; SIGTERM of a node midway."""
    total, clients = 1200, 6
    sessions = [login(browser(), farm.front, farm.db) for _ in range(clients)]
    target = farm.live_nodes()[0]
    results: list[tuple[int, int]] = []  # (status, pid)
    errors: list[str] = []
    lock = threading.Lock()
    quarter = threading.Event()
    prefix = uuid.uuid4().hex[:8]

    def client(number: int, http: requests.Session) -> None:
        for sent in range(number, total, clients):
            try:
                if sent % 2:
                    response = http.post(farm.front + "/clusternode/note", json={"key": f"{prefix}-{sent}"},
                                         timeout=60)
                else:
                    response = http.get(farm.front + "/clusternode/whoami", timeout=60)
                outcome = (response.status_code, response.json().get("pid", 0) if response.ok else 0)
            except (requests.RequestException, ValueError) as exc:
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                results.append(outcome)
                if len(results) >= total // 4:
                    quarter.set()

    threads = [threading.Thread(target=client, args=(number, http)) for number, http in enumerate(sessions)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    assert quarter.wait(60)
    target.signal(signal.SIGTERM)
    signalled_at = len(results)
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - started
    assert target.wait(30) == 0
    target.wait_for_line("stopping: finishing in-flight requests")
    assert errors == [] and len(results) == total
    assert Counter(status for status, _pid in results) == Counter({200: total})
    written = query(address, farm.db, "SELECT count(*), count(DISTINCT key) FROM clusternode_note WHERE key LIKE %s",
                    (f"{prefix}-%",))
    assert written == [(total // 2, total // 2)]  # every POST written once: none lost, none run twice
    farm.figures["SIGTERM under load: requests / lost / req/s"] = (total, 0, round(total / elapsed))
    farm.figures["SIGTERM under load: answered before the signal / by the stopped node"] = (
        signalled_at, sum(1 for _status, pid in results if pid == target.proc.pid))

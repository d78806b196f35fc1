"""The deployment files: HAProxy's config is valid (its own checker), the Kubernetes manifests parse and carry
cookie affinity and health probes, and (slow) two Streamlit processes behind HAProxy keep a browser on one
process and move it to the other when that one dies."""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from deploy.stack import AFFINITY_COOKIE, HEALTH_PATH, Stack, haproxy_config  # noqa: E402

yaml = pytest.importorskip("yaml", reason="PyYAML is in requirements-dev.txt")

HAPROXY = shutil.which("haproxy")
needs_haproxy = pytest.mark.skipif(
    HAPROXY is None and not os.environ.get("CI"),
    reason="haproxy is not installed (Debian: apt-get install haproxy; .ci/run installs it)",
)
K8S = REPO / "deploy" / "k8s"



def run_apart(coroutine):
    """asyncio.run on a thread of its own: the browser tests' Playwright keeps an event loop running in the main
    thread for the whole session, and asyncio.run refuses to start inside a running loop."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()

def _check(config_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    config = tmp_path / "haproxy.cfg"
    config.write_text(config_text)
    return subprocess.run([HAPROXY or "haproxy", "-c", "-f", str(config)], capture_output=True, text=True)


@needs_haproxy
def test_the_shipped_haproxy_config_is_valid_without_warnings():
    done = subprocess.run([HAPROXY or "haproxy", "-c", "-f", str(REPO / "deploy" / "haproxy.cfg")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr


@needs_haproxy
def test_the_generated_config_is_valid_for_any_number_of_processes(tmp_path):
    for ports in ([8501], [8501, 8502, 8503, 8504]):
        done = _check(haproxy_config(ports, stats_bind="127.0.0.1:8404"), tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr


@needs_haproxy
def test_haproxy_checker_catches_a_broken_config(tmp_path):
    """The check above can fail: a misspelt keyword is refused."""
    broken = haproxy_config([8501]).replace("balance roundrobin", "balance roundrobbin")
    assert _check(broken, tmp_path).returncode != 0


def test_the_shipped_config_is_what_the_generator_writes():
    shipped = (REPO / "deploy" / "haproxy.cfg").read_text().splitlines()
    generated = haproxy_config([8501, 8502], bind="0.0.0.0:8500", stats_bind="127.0.0.1:8404").splitlines()
    assert shipped[1:] == generated[1:]
    assert f"cookie {AFFINITY_COOKIE} insert indirect nocache" in "\n".join(shipped)
    assert f"option httpchk GET {HEALTH_PATH}" in "\n".join(shipped)
    assert "balance source" not in "\n".join(shipped)  # never by client address (campus NAT)
    assert "    balance roundrobin" in shipped and not any("leastconn" in line and not line.strip().startswith("#")
                                                           for line in shipped)  # newcomers take turns


# -- Kubernetes ---------------------------------------------------------------------------------------


def _manifests() -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.setdefault(doc["kind"], []).append(doc)
    return found


def test_every_manifest_parses_and_kustomization_lists_them():
    kinds = _manifests()
    for kind in ("Deployment", "Service", "Ingress", "StatefulSet", "Secret", "ConfigMap", "Kustomization"):
        assert kind in kinds, f"no {kind} in deploy/k8s"
    listed = set(kinds["Kustomization"][0]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_ingress_has_cookie_affinity_and_websocket_timeouts():
    (ingress,) = _manifests()["Ingress"]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert notes["nginx.ingress.kubernetes.io/session-cookie-name"] == AFFINITY_COOKIE
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert not any("upstream-hash-by" in key for key in notes), "client-address hashing fails behind a NAT"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    services = {s["metadata"]["name"] for s in _manifests()["Service"]}
    assert backend["name"] in services


def test_the_app_pods_have_health_probes_resources_and_the_database_url():
    deployment = next(d for d in _manifests()["Deployment"] if d["metadata"]["name"] == "margin-lab")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == HEALTH_PATH, probe
    assert container["resources"]["requests"]["cpu"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MARGIN_LAB_DB"]["valueFrom"]["secretKeyRef"]["name"] == "margin-lab-db"
    assert env["STREAMLIT_SERVER_ADDRESS"]["value"] == "0.0.0.0"


def test_the_hosted_config_in_the_configmap_loads(tmp_path):
    from app import hosted

    (config_map,) = _manifests()["ConfigMap"]
    path = tmp_path / "margin_lab.toml"
    path.write_text(config_map["data"]["margin_lab.toml"])
    settings = hosted.load_settings(path, environ={})
    assert settings.hosted and settings.play_cap >= 1 and settings.folder_for("mnist") == "/data"


# -- two processes behind HAProxy (slow: starts two real servers) --------------------------------------


def _get(opener: urllib.request.OpenerDirector, url: str) -> str:
    with opener.open(url, timeout=30) as response:
        return response.headers.get("X-Margin-Lab-Server", "")


@pytest.mark.slow
@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (Debian: apt-get install haproxy)")
def test_a_browser_stays_on_its_process_and_moves_when_it_dies():
    from benchmarks.classroom_load import Student

    with Stack(processes=2) as stack:
        browsers = [urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
                    for _ in range(4)]  # fmt: skip
        homes = [_get(b, stack.url + "/") for b in browsers]
        assert set(homes) == {"app1", "app2"}, "leastconn/round robin spreads new browsers"
        for browser, home in zip(browsers, homes, strict=True):
            assert {_get(browser, stack.url + HEALTH_PATH) for _ in range(5)} == {home}, "the cookie pins it"

        # A websocket session through the proxy lands on the process its cookie names.
        student = Student(stack.url, "ws-student", play=False)
        result = run_apart(student.run(warmup_s=0, window_s=0.5, start_at=time.monotonic()))
        assert not result.error and result.server_cookie in {"app1", "app2"}

        victim = homes[0]
        stack.kill_app(int(victim[-1]) - 1)
        moved = _get(browsers[0], stack.url + "/")  # option redispatch: no error page
        assert moved and moved != victim
        assert {_get(browsers[0], stack.url + HEALTH_PATH) for _ in range(3)} == {moved}, "re-pinned"


@pytest.mark.slow
@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (Debian: apt-get install haproxy)")
def test_students_who_arrive_together_are_spread_over_the_processes():
    """Students arrive as a class does: one is already working (its websocket open on one process), then four
    open the page at the same moment (each a short GET, then its websocket). Before: `balance leastconn` chose on
    open connections, and each newcomer's short first request came before any newcomer's websocket, so all four
    saw the other process as the less loaded one and landed there together ({1, 4}). Round robin for new
    browsers, the cookie for returning ones: no two processes more than one student apart."""
    from benchmarks.classroom_load import evenly_spread

    with Stack(processes=2) as stack:
        resident, newcomers = run_apart(_a_class_arrives(stack.url, 4))
    counts = {"app1": 0, "app2": 0}
    for student in (resident, *newcomers):
        assert not student.error, student.error
        counts[student.server_cookie] += 1
    assert evenly_spread(counts), counts


async def _a_class_arrives(url: str, arriving: int):
    """(the resident student's result, the newcomers' results)."""
    import asyncio

    from benchmarks.classroom_load import Student

    resident = Student(url, "resident", play=False, slider=False)
    staying = asyncio.ensure_future(resident.run(warmup_s=0, window_s=60, start_at=time.monotonic()))
    while not resident.finished_count and not staying.done():  # its page has loaded: its websocket is open
        await asyncio.sleep(0.1)
    newcomers = [Student(url, f"newcomer-{i}", play=False, slider=False) for i in range(arriving)]
    results = await asyncio.gather(*(s.run(warmup_s=0, window_s=0.5, start_at=time.monotonic()) for s in newcomers))
    staying.cancel()
    resident.result.server_cookie = resident.result.server_cookie or resident.cookies.get(AFFINITY_COOKIE, "")
    return resident.result, results


def test_even_means_every_student_placed_and_at_most_one_apart():
    from benchmarks.classroom_load import evenly_spread

    assert evenly_spread({"app1": 1, "app2": 1}) and evenly_spread({"app1": 2, "app2": 1})  # the equality case: 1
    assert not evenly_spread({"app1": 2, "app2": 0})
    assert not evenly_spread({"app1": 1, "app2": 0, "(no cookie)": 1})
    assert evenly_spread({"app1": 0, "app2": 0})


@pytest.mark.slow
@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (Debian: apt-get install haproxy)")
def test_the_stack_starts_one_postgresql_that_every_process_is_given(tmp_path):
    from deploy import stack as stack_module

    try:
        stack_module._pg_binary("pg_ctl")
    except RuntimeError as err:  # (the courses work makes .ci/run install PostgreSQL)
        pytest.skip(str(err))
    import tempfile

    import sqlalchemy

    base = Path(tempfile.mkdtemp(prefix="margin-lab-stack-pg-"))
    base.chmod(0o755)  # the postgres user (when run as root) must reach its data folder
    try:
        with Stack(processes=2, postgres_dir=base / "pg") as stack:
            assert stack.db_url.startswith("postgresql+psycopg://")
            with sqlalchemy.create_engine(stack.db_url).connect() as connection:
                assert connection.execute(sqlalchemy.text("select 1")).scalar() == 1
            for pid in stack.app_pids:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                assert f"MARGIN_LAB_DB={stack.db_url}".encode() in environ
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("unspread", [["2 processes, N=2: {'app1': 2, 'app2': 0}"], []])
def test_the_load_benchmark_fails_when_the_class_is_not_spread(monkeypatch, capsys, unspread):
    """benchmarks/classroom_load.py exits 1, saying why, when the proxy put a class unevenly (its numbers would
    measure the proxy, not the servers); 0 otherwise."""
    from benchmarks import classroom_load

    def fake_table(*args, unspread: list[str], **kwargs):
        unspread += fake_unspread
        return {}

    fake_unspread = unspread
    monkeypatch.setattr(classroom_load, "load_table", fake_table)
    code = classroom_load.main(["--ns", "2", "--topologies", "2"])
    err = capsys.readouterr().err
    assert code == (1 if unspread else 0)
    assert ("FAILED: the proxy did not spread the students evenly" in err) == bool(unspread)

"""The warm pool (runner/pool.py), exercised with CPU workers: real processes in the real sandbox.
A CUDA pool is the same code with `cuda` workers; on this host its first worker says why CUDA
cannot start, and that is tested too."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import CGROUP_LIMITS, RUN_CGROUP_LIMITS
from gradtrace.runner import cgroups
from gradtrace.runner.isolation import detect, gpu_binds
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.pool import PoolUnavailable, WarmPool, discard
from gradtrace.runner.process import follow, request
from gradtrace.trace.protocol import rebuild
from gradtrace.web.sessions import PooledDevice, Sessions

WXB = ("import torch\nw = torch.tensor(3.0, requires_grad=True)\nx = torch.tensor(2.0)\n"
       "loss = (w * x + 1) ** 2\nloss.backward()\n")
WHO = ("import json, os\nprint(json.dumps([os.getuid(), os.getpid(), "
       "len([p for p in os.listdir('/proc') if p.isdigit()])]))\n")


@pytest.fixture(scope="module")
def isolation():
    return detect()


@pytest.fixture
def pool(isolation):
    found = []
    pool = WarmPool("cpu", 2, isolation, found.append)
    pool.found_reports = found
    yield pool
    pool.close()


def run_in(pool: WarmPool, code: str, limits: RunLimits | None = None) -> tuple[dict, object]:
    limits = limits or RunLimits()
    worker = pool.take()
    worker.give(request(code, "cpu", limits))
    events: list[dict] = []
    ending = follow(worker, limits, lambda batch, size: events.extend(batch))
    return rebuild(events), ending


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_warm_worker_runs_one_snippet_and_another_takes_its_place(pool):
    doc, ending = run_in(pool, WXB)
    assert ending.status == "done" and doc["error"] is None
    w = next(v for v in doc["variables"] if v["name"] == "w")
    assert w["grad"]["values"] == [28.0]  # 2 (w x + 1) x = 2 * 7 * 2
    assert pool.found_reports == [{"devices": [{"id": "cpu"}]}]  # the first one said, once
    wait_for(lambda: pool.status()["ready"] == 2)
    assert pool.status()["started"] == 3


def test_each_run_has_a_worker_and_a_sandbox_of_its_own(pool, isolation):
    if not isolation.sandboxed:
        pytest.skip("no namespaces here: runs are plain processes")
    seen = [json.loads(run_in(pool, WHO)[0]["stdout"]) for _ in range(3)]
    uids = [uid for uid, _, _ in seen]
    assert 0 not in uids
    if isolation.sandbox == "root":
        assert len(set(uids)) == 3, "each run a uid of its own"
    assert all(processes < 20 for _, _, processes in seen), "a PID namespace of its own"


def test_a_worker_killed_while_it_waits_is_passed_over(pool):
    wait_for(lambda: pool.status()["ready"] == 2)
    for worker in list(pool._ready):  # what an OOM killer, or an admin, might do to idle ones
        worker.signal(9)
    wait_for(lambda: all(w.proc.poll() is not None for w in list(pool._ready)), 10)
    doc, ending = run_in(pool, WXB)
    assert ending.status == "done" and doc["error"] is None


def test_a_timed_out_pool_run_ends_and_says_where(pool):
    limits = RunLimits(timeout=2)
    started = time.monotonic()
    doc, ending = run_in(pool, "import torch\nx = torch.ones(2, requires_grad=True)\ny = x * 2\n"
                               "while True:\n    pass\n", limits)
    assert time.monotonic() - started < limits.timeout + 4  # 1 s budget, 2x, plus the pool
    assert doc["error"]["code"] == "timeout" and doc["error"]["line"] in (4, 5)
    assert doc["graph"]["nodes"], "what was recorded comes back"


def test_closing_the_pool_leaves_no_worker_behind(isolation):
    pool = WarmPool("cpu", 2, isolation)
    wait_for(lambda: pool.status()["ready"] == 2)
    idle = list(pool._ready)
    pool.close()
    assert all(w.proc.poll() is not None for w in idle)
    with pytest.raises(PoolUnavailable, match="shut down"):
        pool.take(1)


def test_a_cuda_pool_on_a_host_without_cuda_says_why(isolation):
    """The first CUDA worker is how the server learns its GPUs; here it learns why there are
    none, and takes no second try."""
    found = []
    pool = WarmPool("cuda", 2, isolation, found.append)
    try:
        wait_for(lambda: found)
        if "devices" in found[0]:
            pytest.skip("this host has CUDA")
        with pytest.raises(PoolUnavailable) as refused:
            pool.take(1)
        assert found == [{"problem": str(refused.value)}]
        assert "CUDA" in str(refused.value)  # built without it, or no device: as it is here
        time.sleep(0.5)
        assert pool.status()["started"] == 1 and pool.status()["ready"] == 0
    finally:
        pool.close()


def test_sessions_take_pooled_devices_from_their_pool_under_their_own_limits(isolation):
    """Sessions with a CPU pool: runs on it get warm workers, at most ``slots`` at once (the
    rest are told their place), each under the device's own limits."""
    got: dict[str, list] = {}
    lock = threading.Lock()

    def send(client, batch):
        with lock:
            got.setdefault(client, []).extend(batch)

    pooled = PooledDevice(WarmPool("cpu", 1, isolation), 1, RunLimits(timeout=1.5))
    sessions = Sessions(send, RunLimits(timeout=30), 4, isolation, pooled={"cpu": pooled})
    try:
        wait_for(lambda: pooled.pool.status()["ready"] == 1)
        assert sessions.start("a", "import time\nwhile True:\n    time.sleep(0.01)\n", "cpu") \
            is None
        time.sleep(0.3)
        assert sessions.start("b", WXB, "cpu") is None
        wait_for(lambda: all(any(e["type"] == "done" for e in got.get(c, ()))
                             for c in "ab"), 60)
        a, b = rebuild(got["a"]), rebuild(got["b"])
        assert a["error"]["code"] == "timeout" and "1.5 s" in a["error"]["message"]
        assert b["error"] is None
        assert any(e["type"] == "queued" for e in got["b"]), "b waited for the one slot"
        assert pooled.pool.status()["started"] >= 2
    finally:
        sessions.close()


def test_a_run_stopped_while_it_waits_for_a_warm_worker_stops_at_once(isolation):
    pool = WarmPool("cpu", 1, isolation)
    try:
        wait_for(lambda: pool.status()["ready"] == 1)
        discard(pool.take())  # the only one: the next take waits for the refill
        stop_at = time.monotonic() + 0.2
        assert pool.take(60, stopped=lambda: time.monotonic() > stop_at) is None
        assert time.monotonic() - stop_at < 0.5
    finally:
        pool.close()


def test_cuda_workers_get_the_gpu_nodes_and_cpu_workers_none(isolation):
    if not isolation.prefix:
        pytest.skip("no bubblewrap here")
    assert gpu_binds(["/dev/nvidia0", "/dev/nvidiactl"]) == [
        "--dev-bind", "/dev/nvidia0", "/dev/nvidia0", "--dev-bind", "/dev/nvidiactl",
        "/dev/nvidiactl"]
    assert not any("nvidia" in arg for arg in isolation.prefix_for("cpu"))
    assert isolation.prefix_for("cuda")[:len(isolation.prefix)] == isolation.prefix


def test_a_warm_workers_limits_count_from_where_it_stands():
    """A warm worker spent CPU time, and a CUDA one address space, before its run came: its
    limits are on top of that, not eaten by it."""
    code = ("import resource, sys\nfrom gradtrace.runner.limits import RunLimits, _mapped_now\n"
            "sum(range(3 * 10**7))\n"
            "RunLimits(timeout=1, memory_mb=64).apply(on_top_of_now=True)\n"
            "print(resource.getrlimit(resource.RLIMIT_CPU)[0], "
            "resource.getrlimit(resource.RLIMIT_AS)[0] - _mapped_now())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ}).stdout.split()
    cpu, headroom = int(out[0]), int(out[1])
    assert cpu >= 3  # the time already spent, plus the run's own second, plus the margin
    assert 60 * 2**20 < headroom <= 64 * 2**20


def test_a_warm_worker_is_born_in_the_cgroup_of_the_run_it_will_serve(isolation):
    run_cgroups = cgroups.for_runs(isolation.sandbox)
    if not run_cgroups.parents:
        pytest.skip(run_cgroups.problem)
    limits = RunLimits()
    pool = WarmPool("cpu", 1, isolation,
                    cgroup_for=lambda uid: cgroups.for_spawned_run(run_cgroups, uid, limits))
    try:
        worker = pool.take()
        worker.give(request(CGROUP_LIMITS, "cpu", limits))
        events = []
        follow(worker, limits, lambda batch, size: events.extend(batch))
        found = json.loads(rebuild(events)["stdout"])
        assert {k: v[1] for k, v in found.items()} == RUN_CGROUP_LIMITS
        assert len({v[0] for v in found.values()}) == 1 and found["pids"][0].startswith("run-")
    finally:
        pool.close()
        cgroups.release(run_cgroups, wait=30)  # the refilled worker, killed, must exit first
        assert not any(os.path.exists(d) for d in run_cgroups.directories())

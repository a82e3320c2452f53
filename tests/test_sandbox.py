"""Hostile snippets against the real sandbox: each finding of the red-team pass, contained.

Every test runs twice: under bubblewrap, and in the fallback without it (a root server making
each run's namespaces itself). Runs go through the real app, zygote and workers; only the
HTTP layer is Flask-SocketIO's test client.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import CGROUP_LIMITS, EXAMPLES, ROOT, RUN_CGROUP_LIMITS, forging
from gradtrace.runner.isolation import detect
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.sandbox import RUN_UID_BASE
from gradtrace.trace.protocol import rebuild
from gradtrace.web.app import create_app

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/proc/self/ns/pid").exists(),
                                reason="these attacks are run against a root server on Linux")


@pytest.fixture(scope="module", params=["bubblewrap", "fallback"])
def app(request):
    bwrap = request.param == "bubblewrap"
    if bwrap and not shutil.which("bwrap"):
        if os.environ.get("CI"):
            pytest.fail("bubblewrap is missing: .ci/run installs it")
        pytest.skip("bubblewrap is not installed")
    app = create_app({"USE_BWRAP": bwrap, "TOKEN": "t", "TIMEOUT": 20, "MAX_RUNS": 2})
    sessions = app.extensions["gradtrace"]
    assert sessions.isolation.sandbox == "root" and bool(sessions.isolation.prefix) == bwrap
    yield app
    sessions.close()


def run(app, code: str, timeout: float = 40) -> dict:
    client = app.extensions["socketio"].test_client(app, auth={"token": "t"})
    client.emit("run", {"code": code})
    events = []
    deadline = time.monotonic() + timeout
    while not any(e.get("type") == "done" for e in events):
        assert time.monotonic() < deadline, f"no done event; got {events[-3:]}"
        for message in client.get_received():
            if message["name"] == "trace":
                events.extend(message["args"][0])
        time.sleep(0.02)
    client.disconnect()
    doc = rebuild(events)
    doc["status"] = events[-1]["status"]
    return doc


def host_processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/status") as f:
                uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        except (OSError, StopIteration):
            continue
        if str(uid) in uids:
            found.append(int(entry))
    return found


DAEMON = """import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)  # a daemon, double-forked out of its session
    os._exit(0)
time.sleep(0.2)
print(os.getuid())
"""


def test_a_daemon_dies_with_its_run(app):
    doc = run(app, DAEMON)
    uid = int(doc["stdout"])
    assert uid >= RUN_UID_BASE
    deadline = time.monotonic() + 5
    while host_processes_of(uid):
        assert time.monotonic() < deadline, "the daemon outlived its run"
        time.sleep(0.05)


def test_a_run_sees_no_other_process_and_no_earlier_users_code(app):
    secret = f"SECRET-OF-THE-EARLIER-USER-{uuid.uuid4().hex}"  # in no file on disk
    run(app, f"x = {secret!r}\n" + DAEMON)
    spy = f"""import json, os
visible = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
found = []
for pid in visible:
    for part in ("mem", "cmdline", "environ"):
        try:
            with open(f"/proc/{{pid}}/{{part}}", "rb") as f:
                if {secret.encode()!r} in f.read(1 << 24):
                    found.append((pid, part))
        except OSError:
            pass
for folder, _, files in os.walk("/tmp"):
    for name in files:
        try:
            with open(os.path.join(folder, name), "rb") as f:
                if {secret.encode()!r} in f.read():
                    found.append(name)
        except OSError:
            pass
print(json.dumps([visible, found]))
"""
    visible, found = json.loads(run(app, spy)["stdout"].splitlines()[-1])
    assert found == []
    assert visible == [1, 2]  # its own init and itself: nothing of the zygote or other runs


def test_the_zygote_cannot_be_traced_or_read(app):
    code = """import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print(os.getppid(), libc.ptrace(16, 1, 0, 0), ctypes.get_errno())  # PTRACE_ATTACH to init
try:
    open("/proc/1/mem", "rb").read(1)
    print("read")
except OSError as exc:
    print(type(exc).__name__)
"""
    lines = run(app, code)["stdout"].splitlines()
    parent, result, errno = lines[0].split()
    assert parent == "1"  # its parent is its own init: the zygote cannot even be named
    assert result == "-1" and errno == "1"  # EPERM
    assert lines[1] in ("PermissionError", "OSError")


def test_kill_minus_one_harms_only_its_own_run(app):
    import threading

    sessions = app.extensions["gradtrace"]
    restarts = sessions.zygote.restarts
    survivor = {}
    thread = threading.Thread(target=lambda: survivor.update(
        run(app, "import time\ntime.sleep(2.5)\nprint('survived')\n")))
    thread.start()
    time.sleep(0.8)
    doc = run(app, "import os\nos.kill(os.getppid(), 9)\nos.kill(-1, 9)\nprint('alive')\n")
    assert doc["stdout"] == "" or doc["error"] is not None
    thread.join(30)
    assert survivor["stdout"] == "survived\n" and survivor["status"] == "ok"
    assert sessions.zygote.alive() and sessions.zygote.restarts == restarts


def test_secrets_of_the_host_cannot_be_read(app):
    with tempfile.NamedTemporaryFile("w", dir=ROOT, prefix=".root-only-", delete=False) as f:
        f.write("root's secret")
    os.chmod(f.name, 0o600)
    try:
        code = f"""import os
for path in ("/etc/shadow", {f.name!r}):
    try:
        open(path).read()
        print("READ", path)
    except OSError as exc:
        print(type(exc).__name__)
try:
    print(sorted(os.listdir("/root")))
except OSError as exc:  # Landlock: not even the names
    print(type(exc).__name__)
"""
        lines = run(app, code)["stdout"].splitlines()
    finally:
        os.unlink(f.name)
    assert lines[0] == "PermissionError"
    assert lines[1] in ("PermissionError", "FileNotFoundError")  # a checkout under /tmp: unbound
    assert all(name not in lines[2] for name in (".bashrc", ".gitconfig", ".ssh"))


def test_world_readable_files_beyond_what_a_run_needs_stay_closed(app):
    from gradtrace.runner import linux

    if linux.landlock_abi() == 0:
        pytest.skip("this kernel has no Landlock")
    folder = tempfile.mkdtemp(dir="/var/tmp", prefix="someone-elses-")
    os.chmod(folder, 0o755)
    notes = Path(folder, "notes.txt")
    notes.write_text("private notes, readable by all")
    notes.chmod(0o644)
    try:
        code = f"""for path in ({str(notes)!r}, {str(ROOT / "README.md")!r}, "/etc/hostname"):
    try:
        with open(path) as f:
            f.read()
        print("read")
    except OSError as exc:
        print(type(exc).__name__)
"""
        lines = run(app, code)["stdout"].splitlines()
    finally:
        shutil.rmtree(folder)
    assert lines[0] == "PermissionError"  # world-readable, but not the run's to read
    assert lines[1] in ("PermissionError", "FileNotFoundError")  # the checkout, bar its code
    assert lines[2] == "read"  # the system's own files are open to it


def test_a_fork_bomb_stops_at_the_process_limit(app):
    code = """import os, time
made = 0
try:
    for _ in range(1000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
except OSError as exc:
    print(made, type(exc).__name__)
"""
    made, error = run(app, code)["stdout"].split()
    assert int(made) < RunLimits().processes and error == "BlockingIOError"
    assert run(app, "print('next run fine')\n")["stdout"] == "next run fine\n"


def test_no_network_not_even_the_servers_own_port(app):
    code = """import socket
for port in (5000, 80, 9):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1)
        print("connected", port)
    except OSError as exc:
        print(exc.errno)
"""
    import errno

    assert set(run(app, code)["stdout"].split()) == {str(errno.ENETUNREACH)}


def test_tmp_is_private_capped_and_gone_after_the_run(app):
    code = """import os
written = 0
try:
    for i in range(10):
        with open(f"/tmp/fill-{i}", "wb") as f:
            for _ in range(60):
                f.write(b"x" * 2**20)
                written += 1
except OSError as exc:
    print(written, exc.errno)
"""
    written, errno_ = run(app, code)["stdout"].split()
    assert 100 <= int(written) <= 130 and errno_ == "28"  # ENOSPC at the 128 MiB cap
    left = run(app, "import os\nprint(sorted(os.listdir('/tmp')))\n")["stdout"]
    assert "fill-" not in left
    assert not [p for p in Path("/tmp").glob("gradtrace-run-*")]


def test_a_forged_event_is_refused(app):
    code = forging("""(b'[{"type": "variables", "variables": [{"name": "x", "shape": [], '
        b'"dtype": "float32", "device": "cpu", "requires_grad": false, "is_leaf": true, '
        b'"value": null, "grad": null, "node": null, "retains_grad": false, '
        b'"line": "<img src=x onerror=alert(1)>"}]}]\\n')""") + 'print("sent")\n'
    doc = run(app, code)
    assert doc["status"] == "error" and doc["error"]["type"] == "ProtocolViolation"
    assert "line" in doc["error"]["message"]
    assert all(v.get("line") != "<img src=x onerror=alert(1)>" for v in doc["variables"])


def test_an_optimizer_and_the_standard_library_work_in_the_sandbox(app):
    doc = run(app, (EXAMPLES / "training/clip_grad_norm.py").read_text())
    assert doc["status"] == "ok" and doc["error"] is None
    self_test = app.extensions["self_test"]
    deadline = time.monotonic() + 120
    while self_test.status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert self_test.report() == {"status": "ok", "problems": []}


MASKED_PROBE = """
import dataclasses, os, sys
from gradtrace.runner import sandbox
read, write = os.pipe()
if os.fork() == 0:
    sandbox.close_all_but((write,))
    plan = dataclasses.replace(sandbox.plan_for_here(), masked=("/dev/full",))
    sandbox.enter(plan, sandbox.random_run_uid())
    with open("/dev/full", "rb") as f:
        os.write(write, b"read:" + f.read(1))
    os._exit(0)
os.close(write)
print(os.read(read, 100))
"""


def test_a_masked_device_node_is_dev_null_to_the_run():
    """How a CPU run is kept from the GPU where bubblewrap is missing: each NVIDIA node is
    masked by /dev/null (sandbox.Plan.masked). /dev/full stands in for a GPU node here: read,
    it gives zeros; masked, nothing."""
    if detect(use_bwrap=False).sandbox == "none":
        pytest.skip("no namespaces here")
    out = subprocess.run([sys.executable, "-c", MASKED_PROBE], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "b'read:'", out.stderr
    with open("/dev/full", "rb") as f:
        assert f.read(1) == b"\0"  # the host's is untouched


# -- resources a run could take from the host for good (issue 27) ------------------------------

SYSCALLS = """import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
NR = {"keyctl": 250, "add_key": 248, "request_key": 249, "io_setup": 206, "io_uring_setup": 425,
      "userfaultfd": 323, "perf_event_open": 298, "bpf": 321}
found = {}
for name, number in NR.items():
    ctypes.set_errno(0)
    args = {"add_key": (b"user", b"mailbox", b"secret", 6, -2),  # into the session keyring
            "io_setup": (65536, ctypes.byref(ctypes.c_ulong(0))),
            "io_uring_setup": (8, ctypes.byref((ctypes.c_char * 120)()))}.get(name, (0, 0, 0, 0, 0))
    result = libc.syscall(number, *args)
    found[name] = errno.errorcode.get(ctypes.get_errno(), "ok") if result == -1 else "ok"
print(json.dumps(found))
"""


def test_keyrings_aio_io_uring_and_kernel_hooks_are_refused_with_eperm(app):
    # a named keyring outlived its run and was read by the next: a mailbox between users; AIO
    # contexts are a host-wide quota; perf, bpf and userfaultfd are kernel attack surface
    found = json.loads(run(app, SYSCALLS)["stdout"])
    assert found == dict.fromkeys(found, "EPERM"), found


PTYS = """import os
opened = 0
try:
    for _ in range(50):
        os.openpty()
        opened += 1
except OSError as exc:
    print(opened, type(exc).__name__)
else:
    print(opened)
"""


def test_a_run_opens_no_pseudo_terminal_of_the_hosts(app):
    # without bubblewrap, a run held 4,095 of the host's 4,096 ptys
    assert run(app, PTYS)["stdout"].split() == ["0", "OSError"]


NOEXEC = """import os, shutil, subprocess
for where in ("/tmp", "/dev/shm"):
    path = os.path.join(where, "tool")
    shutil.copy("/bin/true", path)
    os.chmod(path, 0o755)
    try:
        subprocess.run([path], check=True)
        print(where, "ran")
    except PermissionError:
        print(where, "refused")
"""


def test_nothing_written_to_tmp_or_shm_can_be_executed(app):
    assert run(app, NOEXEC)["stdout"].split() == ["/tmp", "refused", "/dev/shm", "refused"]


def test_torch_still_runs_an_example_under_the_filter(app):
    doc = run(app, (EXAMPLES / "basics/wx_plus_b_loss.py").read_text())
    assert doc["status"] == "ok" and doc["error"] is None


# -- a run is bounded as a whole: its cgroup (issue 27) ---------------------------------------

def test_a_run_has_a_cgroup_of_its_own_with_its_limits(app):
    assert app.extensions["gradtrace"].cgroups.parents, app.extensions["gradtrace"].cgroups
    first = json.loads(run(app, CGROUP_LIMITS)["stdout"])
    second = json.loads(run(app, CGROUP_LIMITS)["stdout"])
    assert {k: v[1] for k, v in first.items()} == RUN_CGROUP_LIMITS
    assert all(v[0].startswith("run-") for v in first.values())
    assert first["memory"][0] != second["memory"][0]  # each run its own


HOG = """import os, time
size = 600 * 2**20
kids = []
for _ in range(2):  # two children, each holding 600 MiB in a memfd: no address space, no rss
    pid = os.fork()
    if pid == 0:
        chunk = b"x" * 2**25
        held = [os.memfd_create("hog") for _ in range(size // len(chunk))]
        for fd in held:  # one 32 MiB chunk each: under the 64 MiB a file may take
            os.write(fd, chunk)
        time.sleep(3)
        os._exit(0)
    kids.append(pid)
statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in kids]
print("held", sum(600 for s in statuses if s == 0), statuses)
"""


@pytest.mark.parametrize("bwrap", [True, False], ids=["bubblewrap", "fallback"])
def test_memory_is_bounded_for_the_whole_run_memfd_included(bwrap):
    # one process held 7 GiB in memfds under a 6 GiB address-space limit; two children held
    # 8 GiB between them: rlimits bound each process, not the run
    if bwrap and not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed")
    app = create_app({"USE_BWRAP": bwrap, "TOKEN": "t", "TIMEOUT": 30, "RUN_MEMORY_MB": 768})
    try:
        doc = run(app, HOG, timeout=60)
        assert "held 1200" not in doc["stdout"], doc["stdout"]
        killed = doc["error"] and "signal 9" in doc["error"]["message"]
        assert killed or "-9" in doc["stdout"], (doc["stdout"], doc["error"])
        assert run(app, "print('next run fine')\n")["stdout"] == "next run fine\n"
    finally:
        app.extensions["gradtrace"].close()


SPINNERS = """import os, time
for _ in range(60):  # each in a session of its own: each its own scheduler autogroup
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
time.sleep(60)
"""


def test_sixty_busy_children_in_sessions_of_their_own_leave_the_server_responsive(app):
    # they pushed /healthz to 8-9 s and a benign run to 6.3 s; the run's cgroup has one core
    client = app.extensions["socketio"].test_client(app, auth={"token": "t"})
    client.emit("run", {"code": SPINNERS})
    time.sleep(3)  # spinning by now
    try:
        cpu = Path(app.extensions["gradtrace"].cgroups.parents["cpu"])
        throttled = [int(line.split()[1]) for stat in cpu.glob("run-*/cpu.stat")
                     for line in stat.read_text().splitlines() if line.startswith("nr_throttled")]
        assert max(throttled) > 0, throttled  # held to its quota, however many sessions
        http = app.test_client()
        latencies = []
        for _ in range(5):
            started = time.monotonic()
            assert http.get("/healthz").status_code == 200
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0, latencies
        started = time.monotonic()
        assert run(app, "print('benign')\n")["stdout"] == "benign\n"
        assert time.monotonic() - started < 5.0
    finally:
        client.emit("stop")
        client.disconnect()

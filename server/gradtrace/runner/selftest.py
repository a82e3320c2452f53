"""The start-up proof that a real run works in the sandbox, and is kept in by it.

A sandbox that cannot read the interpreter's files fails in odd places (`No module named
'cProfile'` from torch.optim) while everything else looks fine. So at start-up the server runs one
real snippet through the real path, as a user would: an optimizer step, an import of every
standard-library module that the server's own user can import, and checks from the inside that
the run is not root, cannot read /etc/shadow, has no network, cannot make kernel keys (the
syscall filter), is in a cgroup of its own where the server made them and, under bubblewrap,
sees no device but the harmless ones (and on CUDA, the NVIDIA ones). One runs for each device,
on that device's own path (the zygote; the CUDA pool). /healthz reports the outcomes.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading

from gradtrace.runner.isolation import Isolation
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.process import ending_error, follow, request
from gradtrace.trace.protocol import rebuild

# Modules with side effects on import (a web browser, printed text), or that are not libraries.
SKIP = {"antigravity", "this", "idlelib", "turtledemo", "__main__", "__phello__"}

# Both run at the lowest priority: a user's first run must not wait for the proof.
_SWEEP = f"""
import importlib, json, os, sys, warnings
os.nice(19)
warnings.simplefilter("ignore")
names = [n for n in sorted(sys.stdlib_module_names)
         if not n.startswith("_") and n not in {sorted(SKIP)!r}]
ok = []
for name in names:
    try:
        importlib.import_module(name)
        ok.append(name)
    except Exception:
        pass
print(json.dumps(ok))
"""

_CHECKS = """
import importlib, json, os, socket, stat, warnings
os.nice(19)
import torch
warnings.simplefilter("ignore")
problems = []
net = torch.nn.Linear(3, 1)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
net(torch.ones(2, 3)).pow(2).mean().backward()
opt.step()
if str(net.weight.grad.device) != DEVICE:
    problems.append(f"the run's tensors were on {net.weight.grad.device}, not {DEVICE}")
if NODES is not None:
    found = set()
    for top, dirs, files in os.walk("/dev"):
        for name in files + dirs:
            mode = os.lstat(os.path.join(top, name)).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                found.add(os.path.join(top, name))
    extra = sorted(p for p in found if p not in NODES and not (DEVICE == "cuda:0"
                                                              and p.startswith("/dev/nvidia")))
    if extra:
        problems.append(f"the run can see device nodes it should not: {', '.join(extra[:5])}")
for name in EXPECTED:
    try:
        importlib.import_module(name)
    except Exception as exc:
        problems.append(f"import {name}: {type(exc).__name__}: {exc}")
if os.getuid() == 0:
    problems.append("the run is root")
if CGROUPS:
    with open("/proc/self/cgroup") as f:
        if "/run-" not in f.read():
            problems.append("the run is not in a cgroup of its own: its memory, processes and "
                            "CPU are bounded per process only")
from gradtrace.runner import seccomp
if seccomp.available():  # a key in the session keyring: what outlived runs, between users
    import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    made = libc.syscall(seccomp.number("add_key"), b"user", b"probe", b"x", 1, -3)
    if made != -1 or ctypes.get_errno() != errno.EPERM:
        problems.append("the run can make kernel keys: the syscall filter is not in place")
if os.path.exists("/etc/shadow"):
    try:
        open("/etc/shadow").close()
        problems.append("the run can read /etc/shadow")
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1).close()
    problems.append("the run reached 127.0.0.1")
except ConnectionRefusedError:
    problems.append("the run has a network (127.0.0.1 answered: connection refused)")
except OSError:
    pass
print(json.dumps(problems))
"""


# What bubblewrap's own /dev holds: nothing in it reaches hardware.
MIN_TIMEOUT = 30.0  # seconds the self-test's run may take, whatever the server's runs may
HARMLESS_NODES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                  "/dev/tty", "/dev/ptmx", "/dev/pts/ptmx")


class SelfTest:
    """Runs once, in the background, through ``spawn`` (request -> worker) on ``device``;
    ``status`` is "running", "ok" or "failed"."""

    def __init__(self, spawn, limits: RunLimits, device: str, isolation: Isolation,
                 cgroups: bool = False):
        self.spawn = spawn
        self.cgroups = cgroups  # whether its run should be in a cgroup of its own
        # it checks the sandbox, not speed: a server with a short run timeout, started on a busy
        # machine, must not report its sandbox broken because its checks took 3 s
        self.limits = dataclasses.replace(limits, timeout=max(limits.timeout, MIN_TIMEOUT))
        self.device = device
        self.nodes = HARMLESS_NODES if isolation.prefix else None  # without bubblewrap: the
        # host's /dev, closed to the run by its uid and Landlock instead
        self.status = "running"
        self.problems: list[str] = []
        threading.Thread(target=self._run, name="self-test", daemon=True).start()

    def report(self) -> dict:
        return {"status": self.status, "problems": self.problems}

    def _run(self) -> None:
        try:
            self.problems = self._problems()
        except Exception as exc:  # the self-test itself broke: that is a failure too
            self.problems = [f"the self-test could not run: {type(exc).__name__}: {exc}"]
        self.status = "failed" if self.problems else "ok"

    def _problems(self) -> list[str]:
        expected = importable_here()
        torch_device = "cuda:0" if self.device == "cuda" else self.device
        code = (f"EXPECTED = {expected!r}\nNODES = {self.nodes!r}\n"
                f"DEVICE = {torch_device!r}\nCGROUPS = {self.cgroups!r}\n{_CHECKS}")
        events: list[dict] = []
        ending = follow(self.spawn(request(code, self.device, self.limits)), self.limits,
                        lambda batch, size: events.extend(batch))
        doc = rebuild(events)
        problem = ending_error(ending, self.limits) or doc["error"]
        if problem:
            return [f"the self-test run failed: {problem['type']}: {problem['message']}"]
        return json.loads(doc["stdout"].strip().splitlines()[-1])


def importable_here() -> list[str]:
    """The standard-library modules the server's own user can import (in a throwaway process:
    the server itself stays small and never imports torch)."""
    result = subprocess.run([sys.executable, "-c", _SWEEP], capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    return json.loads(result.stdout)

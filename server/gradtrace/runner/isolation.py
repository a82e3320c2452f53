"""How runs are kept apart from the server: bubblewrap where it works, else another user.

With bubblewrap the zygote (and so every worker it forks) runs with no network, a read-only root,
a private /tmp, its own PID namespace (it cannot see or signal the server) and as `nobody`. Where
bubblewrap is missing or fails its self-test, a server running as root still drops each worker to
`nobody` before the snippet runs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED = "nobody"
_BWRAP_ARGS = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--unshare-net", "--unshare-pid", "--unshare-user", "--uid", "65534",
               "--gid", "65534", "--die-with-parent", "--new-session"]


@dataclass(frozen=True)
class Isolation:
    prefix: tuple[str, ...] = ()  # the bubblewrap command line, when used
    user: str | None = None  # the user workers drop to, when bubblewrap is not used

    @property
    def sandboxed(self) -> bool:
        return bool(self.prefix)

    def describe(self) -> str:
        if self.sandboxed:
            return "bubblewrap (no network, read-only root, own PID namespace, user nobody)"
        if self.user:
            return f"workers run as {self.user}"
        return "none (workers run as the server's user)"


def detect(use_bwrap: bool = True) -> Isolation:
    """Pick the strongest isolation that works here, by trying it."""
    bwrap = shutil.which("bwrap") if use_bwrap else None
    if bwrap:
        prefix = [bwrap, *_BWRAP_ARGS, *_rebind_under_tmp()]
        if _self_test(prefix):
            return Isolation(prefix=tuple(prefix))
    if os.geteuid() == 0:
        return Isolation(user=UNPRIVILEGED)
    return Isolation()


def _rebind_under_tmp() -> list[str]:
    """The sandbox gets a private /tmp; an interpreter, virtual environment or checkout that
    lives under /tmp is bound back in, read-only."""
    import gradtrace

    wanted = {sys.prefix, sys.base_prefix, str(Path(gradtrace.__file__).resolve().parents[2]),
              *(p for p in sys.path if p)}
    under_tmp = sorted(p for p in (os.path.realpath(w) for w in wanted)
                       if p.startswith("/tmp/") and os.path.exists(p))
    roots = [p for i, p in enumerate(under_tmp)
             if not any(p.startswith(q + "/") for q in under_tmp[:i])]
    return [arg for root in roots for arg in ("--ro-bind", root, root)]


def _self_test(prefix: list[str]) -> bool:
    """The sandbox works when this interpreter can import gradtrace inside it."""
    try:
        result = subprocess.run([*prefix, sys.executable, "-c", "import gradtrace.runner"],
                                capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def drop_privileges(user: str | None) -> None:
    """Become ``user`` for good (in a forked worker, before the snippet runs)."""
    if not user or os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ["HOME"] = "/tmp"

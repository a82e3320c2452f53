"""The worker's syscall filter, built with libseccomp (through ctypes, as linux.py calls the
kernel) and installed last, once the sandbox is made.

Refused with EPERM, so that a snippet gets a clear PermissionError rather than a dead process:
- keyrings (keyctl, add_key, request_key): the kernel keeps a uid's keyring until reboot, so a
  run's keys outlived it, took slab for good, and a named keyring carried data to a later run;
- asynchronous I/O contexts (io_setup, io_uring_setup): a host-wide quota (aio-max-nr);
- userfaultfd, perf_event_open and bpf: kernel attack surface no snippet needs.
Syscalls of another ABI (i386 on x86-64) kill the process: libseccomp's default for a foreign
architecture, so the filter cannot be stepped around with `int 0x80`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno

DENIED = ("keyctl", "add_key", "request_key", "io_setup", "io_uring_setup", "userfaultfd",
          "perf_event_open", "bpf")

_ALLOW = 0x7FFF0000  # SCMP_ACT_ALLOW
_ERRNO = 0x00050000  # SCMP_ACT_ERRNO(e): _ERRNO | e


def _library():
    name = ctypes.util.find_library("seccomp")
    if name is None:
        return None
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                     ctypes.c_uint]  # no argument conditions: the varargs empty
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


_LIB = _library()


def available() -> bool:
    """Whether libseccomp is installed (libseccomp2 on Debian and Ubuntu)."""
    return _LIB is not None


def number(name: str) -> int:
    """The syscall's number on this machine, or -1 (libseccomp missing, or the name unknown)."""
    return _LIB.seccomp_syscall_resolve_name(name.encode()) if _LIB is not None else -1


def install() -> None:
    """Filter the calling process and its future children, for good. The caller has set
    no_new_privs. Raises OSError if the filter could not be made or loaded."""
    if _LIB is None:
        raise OSError(errno.ENOSYS, "libseccomp is not installed")
    ctx = _LIB.seccomp_init(_ALLOW)
    if not ctx:
        raise OSError(errno.ENOMEM, "seccomp_init failed")
    try:
        for name in DENIED:
            if number(name) >= 0:  # (an old libseccomp may not know io_uring_setup)
                _check(_LIB.seccomp_rule_add(ctx, _ERRNO | errno.EPERM, number(name), 0), name)
        _check(_LIB.seccomp_load(ctx), "seccomp_load")
    finally:
        _LIB.seccomp_release(ctx)


def _check(result: int, what: str) -> None:
    if result < 0:  # libseccomp returns -errno
        raise OSError(-result, f"seccomp: {what}: {errno.errorcode.get(-result, -result)}")

"""The few Linux system calls the sandbox needs that Python's os module lacks (on 3.10 and 3.11).

Each raises OSError with the errno, like the os module does.
"""

from __future__ import annotations

import ctypes
import os
import platform

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
AT_RECURSIVE = 0x8000
_SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}.get(platform.machine())

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str = "") -> int:
    if result == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), what or None)
    return result


def available() -> bool:
    return platform.system() == "Linux" and _SYS_MOUNT_SETATTR is not None


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           target)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def make_read_only(path: str) -> None:
    """Every mount at or below ``path`` becomes read-only and nosuid (mount_setattr, 5.12+)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    _check(_libc.syscall(_SYS_MOUNT_SETATTR, -100, path.encode(), AT_RECURSIVE,
                         ctypes.byref(attr), ctypes.sizeof(attr)), path)


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Empty this thread's effective, permitted and inheritable capability sets, for good."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


# Landlock (5.13+): which file hierarchies this process may still touch, and how.
_SYS_LANDLOCK = {"create": 444, "add_rule": 445, "restrict_self": 446}
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1  # execute ... make_sym: every right the first ABI knows
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 where it has none."""
    version = _libc.syscall(_SYS_LANDLOCK["create"], None, 0, 1)  # ..._CREATE_RULESET_VERSION
    return max(version, 0)


def restrict_files(rules: dict[str, str]) -> bool:
    """Confine this process, for good, to ``rules``: path -> "read", "write" (everything) or
    "device" (read and write files, no creating). Paths that do not exist are skipped. False
    where the kernel has no Landlock. Needs no_new_privs first."""
    abi = landlock_abi()
    if abi == 0:
        return False
    everything = _FS_ABI1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    granted = {"read": READ, "write": everything,
               "device": READ | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0)}
    attr = _RulesetAttr(everything)
    ruleset = _check(_libc.syscall(_SYS_LANDLOCK["create"], ctypes.byref(attr),
                                   ctypes.sizeof(attr), 0), "landlock_create_ruleset")
    try:
        for path, kind in rules.items():
            try:
                handle = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = _PathBeneath(granted[kind], handle)
                _check(_libc.syscall(_SYS_LANDLOCK["add_rule"], ruleset, 1, ctypes.byref(rule), 0),
                       path)
            finally:
                os.close(handle)
        _check(_libc.syscall(_SYS_LANDLOCK["restrict_self"], ruleset, 0), "landlock")
    finally:
        os.close(ruleset)
    return True

import builtins
import contextlib
import io
import warnings
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from gradtrace.capture import capture
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import document

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def example_paths():
    return sorted(EXAMPLES.rglob("*.py"))


def example_id(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def trace_doc(code: str, **kwargs) -> dict:
    """Capture ``code`` in this process and return the trace document, as JSON carries it (a
    summary's listed values are numpy arrays until then)."""
    return jsonio.loads(jsonio.dumps(document(capture(code, **kwargs))))


class NoneGradReads(TorchFunctionMode):
    """Counts the reads of a ``.grad`` that found None, in plain PyTorch (the oracle of the
    doctor's warnings: a snippet that read none ran as its author meant)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if result is None and getattr(func, "__name__", "") == "__get__" and getattr(
                getattr(func, "__self__", None), "__name__", "") == "grad":
            self.count += 1
        return result


def run_plain(code: str, seed: int = 0, device: str = "cpu", reads: NoneGradReads | None = None):
    """Run ``code`` with plain PyTorch, as the oracle: (namespace, exception or None). On
    another device, tensors are made there, as gradtrace's runs on that device make them.
    ``reads``, when given, counts the reads of a None ``.grad``."""
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    torch.manual_seed(seed)
    error = None
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                warnings.catch_warnings(), reads or contextlib.nullcontext(), \
                (torch.device(device) if device != "cpu" else contextlib.nullcontext()):
            warnings.simplefilter("ignore")  # the oracle's warnings are not under test
            exec(compile(code, "<snippet>", "exec"), namespace)
    except Exception as exc:
        error = exc
    return namespace, error


def variable(doc: dict, name: str) -> dict:
    for v in doc["variables"]:
        if v["name"] == name:
            return v
    names = [v["name"] for v in doc["variables"]]
    raise KeyError(f"no variable {name!r} in the trace; have {names}")


def saved_values(doc: dict, node: dict) -> dict:
    """A node's saved tensors as {name: values}, following ``same_as`` to the step output."""
    steps = {s["index"]: s for s in doc["steps"]}
    out = {}
    for entry in node["saved"]:
        ref = entry.get("same_as")
        value = steps[ref["step"]]["values"][ref["output"]] if ref else entry["value"]
        out[entry["name"]] = value["values"] if isinstance(value, dict) else value
    return out


def forging(line: str, times: int = 1) -> str:
    """A snippet that writes ``line`` (Python that makes the bytes of one batch, newline ended)
    ``times`` over into its run's event pipe, as a hostile snippet would: found among its
    descriptors, each write whole (the worker's own timed writes wait meanwhile)."""
    return f"""import json, os, signal, stat
line = {line}
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGALRM}})
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            for _ in range({times}):
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
    except OSError:
        pass
"""


# A snippet that prints its run's cgroup in each v1 controller, and the limit there: {controller:
# [cgroup name, limit]}. A run's own (cgroups.py) has RUN_CGROUP_LIMITS, the default RunLimits'.
CGROUP_LIMITS = """import json
found = {}
with open("/proc/self/cgroup") as f:
    lines = f.read().splitlines()
for line in lines:
    _, names, path = line.split(":", 2)
    for name in names.split(","):
        file = {"memory": "memory.limit_in_bytes", "pids": "pids.max",
                "cpu": "cpu.cfs_quota_us"}.get(name)
        if file:
            with open(f"/sys/fs/cgroup/{name}{path}/{file}") as f:
                found[name] = [path.rsplit("/", 1)[-1], f.read().strip()]
print(json.dumps(found))
"""
RUN_CGROUP_LIMITS = {"memory": str(6144 * 2**20), "pids": "64", "cpu": "100000"}  # one core

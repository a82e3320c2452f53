"""The CUDA path on a real GPU: a warm pool, the sandbox with the NVIDIA nodes, the memory cap,
the timeout kill, and every example's gradients on cuda.

Every test here needs an NVIDIA GPU and a CUDA build of torch, and skips, saying so, without
them (CI has none). What a CPU host can check of the same code runs elsewhere: the pool with CPU
workers (test_pool.py), the device menu and the refusal of CUDA runs (test_live.py,
test_page.py), the out-of-memory message (test_doctor.py).
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from conftest import EXAMPLES, example_id, example_paths, run_plain, trace_doc
from gradtrace.capture.names import named_tensors
from gradtrace.runner.sandbox import gpu_nodes
from seed_expectations import SEEDS
from test_live import Client, serve

if not gpu_nodes() or not torch.cuda.is_available():
    pytest.skip("no CUDA GPU here: " + ("no /dev/nvidia* device nodes" if not gpu_nodes() else
                                        f"torch {torch.__version__} cannot use it"),
                allow_module_level=True)

# Gradients on cuda against cuda: the same kernels, but reductions may add in another order.
SAME_DEVICE = {"rel": 1e-5, "abs": 1e-6}
# Against the cpu: other kernels, and cuDNN convolutions use TF32 by default (torch's default,
# kept: a user's run on cuda is as their own would be).
OTHER_DEVICE = {"rel": 2e-3, "abs": 1e-5}
GPU_CAP_MB = 1024


@pytest.fixture(scope="module")
def server():
    with serve(3, "--gpu-memory", str(GPU_CAP_MB)) as url:
        deadline = time.monotonic() + 120
        while health(url)["self_tests"].get("cuda", {}).get("status") in (None, "running"):
            assert time.monotonic() < deadline, "the CUDA self-test did not finish"
            time.sleep(0.2)
        yield url


@pytest.fixture(scope="module")
def client(server):
    """One connection for the module's runs, each run after the last."""
    with contextlib.closing(Client(server)) as c:
        yield c


def health(url) -> dict:
    return json.load(urllib.request.urlopen(url + "/healthz"))


def test_the_server_finds_the_gpu_from_a_sandboxed_worker(server):
    h = health(server)
    cuda = h["capabilities"]["devices"][1]
    assert cuda["available"] and cuda["gpus"][0]["id"] == "cuda:0"
    assert cuda["gpus"][0]["name"] == torch.cuda.get_device_name(0)
    assert h["self_tests"]["cuda"] == {"status": "ok", "problems": []}
    assert h["devices"] == ["cpu", "cuda"] and h["torch_imported"] is False
    if h["bubblewrap"]:
        assert "/dev/nvidia0" in h["device_isolation"]["cuda"]


def test_a_cuda_run_is_on_the_gpu_and_every_node_says_so(client):
    events = client.run((EXAMPLES / "gpu/cuda_matmul.py").read_text(), device="cuda")
    doc = client.filled_in(events)
    assert doc["error"] is None, doc["error"]
    assert doc["stdout"].strip() == "cuda:0"
    for node in doc["graph"]["nodes"]:
        devices = {v["device"] for v in node["values"] if v}
        assert devices == {"cuda:0"}, node
    x = next(v for v in doc["variables"] if v["name"] == "x")
    assert x["grad"]["device"] == "cuda:0"


def test_the_zygote_never_touches_cuda_and_cpu_runs_see_no_gpu(server, client):
    client.run("import torch\nx = torch.ones(2, device='cuda')\n", device="cuda")
    zygotes = [pid for pid in os.listdir("/proc") if pid.isdigit() and
               b"gradtrace.runner.zygote" in _read(f"/proc/{pid}/cmdline")]
    assert zygotes
    for pid in zygotes:
        maps = _read(f"/proc/{pid}/maps")
        if not maps:
            pytest.skip("the zygote is not dumpable: only root may read its maps")
        assert b"libcuda" not in maps
        fds = os.listdir(f"/proc/{pid}/fd")
        assert not [f for f in fds if "nvidia" in os.readlink(f"/proc/{pid}/fd/{f}")]
    events = client.run("import os, torch\nprint(torch.cuda.is_available(), "
                        "[n for n in os.listdir('/dev') if n.startswith('nvidia')])\n")
    stdout = "".join(e["text"] for e in events if e["type"] == "stdout")
    if health(server)["bubblewrap"]:
        assert stdout.strip() == "False []"


def test_a_run_past_its_gpu_memory_cap_ends_as_memory_limit(client):
    events = client.run("import torch\nx = torch.empty(2 * 1024**3, dtype=torch.uint8, "
                        "device='cuda')\n", device="cuda")
    error = next(e["error"] for e in events if e["type"] == "error")
    assert (error["code"], error["line"]) == ("memory_limit", 2)
    assert f"this run's cap of {GPU_CAP_MB} MiB" in error["message"]
    # under the cap, the same run goes through
    events = client.run("import torch\nx = torch.empty(512 * 1024**2, dtype=torch.uint8, "
                        "device='cuda')\n", device="cuda")
    assert events[-1]["status"] == "ok"


def test_a_timed_out_cuda_run_is_killed_and_its_gpu_memory_comes_back():
    with serve(3, "--gpu-memory", "8192") as url:
        client = Client(url)
        try:
            time.sleep(1)
            before = gpu_memory_used_mb()
            holding: list[int] = []
            client.sio.emit("run", {"device": "cuda", "code": (
                "import torch\nx = torch.empty(6 * 1024**3, dtype=torch.uint8, device='cuda')\n"
                "x.fill_(1)\ntorch.cuda.synchronize()\nwhile True:\n    pass\n")})
            deadline = time.monotonic() + 10
            while not client.done.is_set() and time.monotonic() < deadline:
                holding.append(gpu_memory_used_mb())
                time.sleep(0.2)
            assert client.done.wait(10)
            assert max(holding) > before + 5000, (before, holding)
            errors = [e["error"]["code"] for e in client.events if e["type"] == "error"]
            assert errors == ["timeout"]
            freed_by = time.monotonic() + 5
            while gpu_memory_used_mb() > before + 1024:  # a refilled warm worker's context
                assert time.monotonic() < freed_by, "the GPU memory did not come back"
                time.sleep(0.1)
        finally:
            client.close()


@pytest.mark.parametrize("path", example_paths(), ids=example_id)
def test_every_example_moved_to_cuda_has_the_gradients_it_has_on_the_cpu(path):
    """Each example run with cuda as its device, against plain torch on cuda (the oracle), and
    against the same capture on the cpu where both started from the same numbers (random draws
    differ between devices: CUDA has a generator of its own)."""
    code = path.read_text()
    on_cuda = trace_doc(code, device="cuda")
    namespace, plain_error = run_plain(code, device="cuda")
    expected = SEEDS[example_id(path)]["error"]
    if SEEDS[example_id(path)].get("needs_cuda"):
        expected = None
    assert (on_cuda["error"] is None) == (expected is None), on_cuda["error"]
    oracle = {n: t for n, t, _ in named_tensors(namespace)}
    for var in on_cuda["variables"]:
        t = oracle[var["name"]]
        grad = t.grad if (t.is_leaf or t.retains_grad) else None
        assert (var["grad"] is None) == (grad is None), var["name"]
        if grad is not None:
            assert var["grad"]["device"] == str(grad.device)
            _matches(var["grad"], grad, SAME_DEVICE, f"{var['name']}.grad on cuda")
    on_cpu = trace_doc(code)
    if on_cpu["error"] and on_cpu["error"]["code"] == "cuda_unavailable":
        return
    cpu_vars = {v["name"]: v for v in on_cpu["variables"]}
    for var in on_cuda["variables"]:
        twin = cpu_vars.get(var["name"])
        if twin is None or not var["is_leaf"] or var["value"].get("values") is None:
            continue
        if var["value"]["values"] != pytest.approx(twin["value"].get("values"), **OTHER_DEVICE):
            continue  # drawn at random: cuda drew other numbers
        if var["grad"] is not None and "values" in var["grad"] and twin["grad"]:
            assert var["grad"]["values"] == pytest.approx(twin["grad"]["values"],
                                                          **OTHER_DEVICE), var["name"]


def _matches(summary, tensor, tolerance, what):
    t = tensor.detach().double().cpu()
    if "values" in summary:
        assert summary["values"] == pytest.approx(t.flatten().tolist(), **tolerance), what
    else:
        assert summary["mean"] == pytest.approx(t.mean().item(), **tolerance), what
        assert summary["norm"] == pytest.approx(t.norm().item(), **tolerance), what


def gpu_memory_used_mb() -> float:
    """The GPU's used memory, as another process sees it."""
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,"
                              "nounits", "-i", "0"], capture_output=True, text=True, timeout=30)
        return float(out.stdout.split()[0])
    out = subprocess.run([sys.executable, "-c", "import torch; f, t = torch.cuda.mem_get_info();"
                          " print((t - f) / 2**20)"], capture_output=True, text=True, timeout=60)
    return float(out.stdout)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def test_record_in_process_on_the_gpu_matches_plain_torch():
    import gradtrace

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 1)).cuda()
    x = torch.randn(5, 4, device="cuda")
    with gradtrace.record() as run:
        loss = model(x).pow(2).mean()
        loss.backward()
    recorded = {v["name"]: v["grad"]["values"] for v in run.document["variables"] if v["grad"]}
    assert run.document["device"] == "cuda"
    for name, p in model.named_parameters():
        assert recorded[f"model.{name}"] == pytest.approx(p.grad.flatten().tolist(),
                                                           **SAME_DEVICE)

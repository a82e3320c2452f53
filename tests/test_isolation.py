"""Captures are repeatable and leave nothing behind: no hooks, no modes, no patches."""

import json

import torch
from torch.nn.modules import module as nn_module
from torch.overrides import _get_current_function_mode_stack

from conftest import EXAMPLES, trace_doc


def _global_state():
    return {
        "backward": torch.autograd.backward,
        "grad": torch.autograd.grad,
        "apply": torch.autograd.Function.__dict__["apply"],
        "register_hook": torch.Tensor.register_hook,
        "forward_hook": torch.nn.Module.register_forward_hook,
        "full_backward_hook": torch.nn.Module.register_full_backward_hook,
        "modes": len(_get_current_function_mode_stack()),
        "global_pre_hooks": len(nn_module._global_forward_pre_hooks),
        "global_hooks": len(nn_module._global_forward_hooks),
        "grad_enabled": torch.is_grad_enabled(),
        "default_device": str(torch.get_default_device()),
    }


def test_two_traces_are_identical_and_leave_nothing_behind():
    before = _global_state()
    for path in ["modules/gradient_accumulator.py", "hooks/module_hooks.py",
                 "training/gradient_checkpointing.py", "pitfalls/second_backward_graph_freed.py"]:
        code = (EXAMPLES / path).read_text()
        first = json.dumps(trace_doc(code), sort_keys=True)
        second = json.dumps(trace_doc(code), sort_keys=True)
        assert first == second, path
        assert _global_state() == before, path


def test_process_wide_settings_a_snippet_changes_are_restored():
    before = _global_state()
    doc = trace_doc("import torch\ntorch.set_grad_enabled(False)\n"
                    "torch.set_default_dtype(torch.float64)\n"
                    "torch.autograd.set_detect_anomaly(True)\nx = torch.ones(2)\n")
    assert doc["variables"][0]["dtype"] == "float64"
    assert _global_state() == before
    assert not torch.is_anomaly_enabled() and torch.get_default_dtype() == torch.float32


def test_snippet_that_raises_inside_no_grad_restores_grad_mode():
    doc = trace_doc("import torch\nwith torch.no_grad():\n    raise ValueError('boom')\n")
    assert doc["error"]["type"] == "ValueError" and doc["error"]["line"] == 3
    assert torch.is_grad_enabled()


def test_syntax_error_has_its_line():
    doc = trace_doc("import torch\nx = (1 +\ny = 2\n")
    assert doc["error"]["code"] == "syntax_error"
    assert doc["error"]["line"] in (2, 3)


def test_user_exception_line_is_the_innermost_snippet_line():
    doc = trace_doc("import torch\ndef f(x):\n    return x.foo()\nf(torch.ones(2))\n")
    assert doc["error"]["code"] == "user_exception" and doc["error"]["line"] == 3


def test_output_limit():
    doc = trace_doc("for i in range(10000):\n    print('x' * 100)\n", output_limit=5000)
    assert doc["error"]["code"] == "output_limit" and doc["error"]["line"] == 2
    assert len(doc["stdout"]) <= 5000


def test_sys_exit_zero_is_a_normal_end_and_nonzero_an_error():
    assert trace_doc("import sys\nsys.exit(0)\n")["error"] is None
    doc = trace_doc("import sys\nprint('bye')\nsys.exit(3)\n")
    assert doc["error"]["code"] == "user_exception" and doc["error"]["line"] == 3
    assert doc["stdout"] == "bye\n"


def test_warnings_are_printed_into_the_snippet_output():
    doc = trace_doc("import warnings\nwarnings.warn('careful')\n")
    assert doc["error"] is None and "UserWarning: careful" in doc["stdout"]


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        return
    doc = trace_doc("import torch\nx = torch.ones(2)\n", device="cuda")
    assert "CUDA is not available" in doc["error"]["message"]
    doc = trace_doc((EXAMPLES / "gpu/cuda_matmul.py").read_text())
    assert doc["error"]["code"] == "cuda_unavailable" and doc["error"]["line"] == 5
    assert "run on the cpu device" in doc["error"]["message"]


def test_diagnostics_cover_every_variable_whose_grad_is_none():
    doc = trace_doc("import torch\n"
                    "a = torch.tensor(1.0, requires_grad=True)\n"
                    "b = torch.tensor(2.0, requires_grad=True)\n"
                    "c = torch.tensor(3.0)\n"
                    "y = a * c\n"
                    "y.backward()\n"
                    "a.grad = None\n")
    codes = {d["variable"]: (d["code"], d["line"]) for d in doc["diagnostics"]}
    assert codes == {"a": ("grad_cleared", 7), "b": ("not_connected", 3),
                     "c": ("requires_grad_false", 4), "y": ("non_leaf", 5)}
    none_grads = {v["name"] for v in doc["variables"] if v["grad"] is None}
    assert set(codes) == none_grads


def test_no_backward_diagnosis():
    doc = trace_doc("import torch\nw = torch.ones(2, requires_grad=True)\n")
    assert [(d["variable"], d["code"]) for d in doc["diagnostics"]] == [("w", "no_backward")]



def test_graph_size_cap_stops_the_run_with_memory_limit():
    from gradtrace.capture import CaptureConfig, capture
    from gradtrace.trace.protocol import document

    code = "import torch\nx = torch.ones(1, requires_grad=True)\nfor _ in range(100):\n" \
           "    x = x * 2\n"
    doc = document(capture(code, config=CaptureConfig(max_nodes=50)))
    assert doc["error"]["code"] == "memory_limit" and doc["error"]["line"] == 4
    assert "grew past 50 nodes" in doc["error"]["message"]

"""Every example against the oracle (plain PyTorch running the same file) and the seed table."""

import pytest
import torch

from conftest import (
    EXAMPLES,
    NoneGradReads,
    example_id,
    example_paths,
    run_plain,
    saved_values,
    trace_doc,
    variable,
)
from gradtrace.capture.names import named_tensors
from gradtrace.trace.protocol import DIAGNOSIS_CODES
from seed_expectations import SEEDS

PATHS = example_paths()


@pytest.fixture(scope="module", params=PATHS, ids=example_id)
def example(request):
    code = request.param.read_text()
    reads = NoneGradReads()
    plain = run_plain(code, reads=reads)
    return example_id(request.param), trace_doc(code), (*plain, reads.count)


def test_every_example_is_in_the_seed_table():
    assert sorted(SEEDS) == sorted(example_id(p) for p in PATHS)
    covered = {n for entry in SEEDS.values() for n in entry["seed"]}
    assert covered == set(range(1, 35))


def test_gradients_equal_plain_pytorch(example):
    name, doc, (namespace, _, _) = example
    oracle = {n: t for n, t, _ in named_tensors(namespace)}
    assert [v["name"] for v in doc["variables"]] == list(oracle)
    for var in doc["variables"]:
        t = oracle[var["name"]]
        expected = t.grad if (t.is_leaf or t.retains_grad) else None
        assert (var["grad"] is None) == (expected is None), var["name"]
        assert var["is_leaf"] == t.is_leaf and var["requires_grad"] == t.requires_grad
        assert var["shape"] == list(t.shape)
        if expected is not None:
            _assert_summary_matches(var["grad"], expected, f"{name}: {var['name']}.grad")
        _assert_summary_matches(var["value"], t, f"{name}: {var['name']}")


def _assert_summary_matches(summary, tensor, what):
    t = tensor.detach().double()
    if "values" in summary:
        assert summary["values"] == pytest.approx(t.flatten().tolist(), rel=1e-6, abs=1e-7), what
    else:
        assert summary["mean"] == pytest.approx(t.mean().item(), rel=1e-4, abs=1e-6), what
        assert summary["norm"] == pytest.approx(t.norm().item(), rel=1e-4, abs=1e-6), what


def test_errors_match_plain_pytorch_and_the_seed_table(example):
    name, doc, (_, plain_error, _) = example
    expected = SEEDS[name]["error"]
    if SEEDS[name].get("needs_cuda") and torch.cuda.is_available():
        expected = None  # the error is the absence of CUDA
    if expected is None:
        assert doc["error"] is None and plain_error is None
        return
    assert plain_error is not None, "the oracle must raise too"
    assert doc["error"]["type"] == type(plain_error).__name__
    assert (doc["error"]["code"], doc["error"]["line"]) == (expected["code"], expected["line"])


def test_codes_are_the_contract_codes(example):
    _, doc, _ = example
    codes = {d["code"] for d in doc["diagnostics"]} | ({doc["error"]["code"]} if doc["error"]
                                                       else set())
    assert codes <= set(DIAGNOSIS_CODES)
    for d in doc["diagnostics"]:
        assert d["line"] is not None and d["message"] and d["fix"]


def test_seed_table_gradients(example):
    name, doc, _ = example
    for var_name, values in SEEDS[name]["grads"].items():
        assert variable(doc, var_name)["grad"]["values"] == pytest.approx(values), var_name


def test_seed_table_history_is_the_grad_after_each_pass(example):
    name, doc, _ = example
    for var_name, history in SEEDS[name].get("history", {}).items():
        node = variable(doc, var_name)["node"]
        after = [s["grad_after"]["values"] for p in doc["passes"] for s in p["steps"]
                 if s["node"] == node]
        assert after == [pytest.approx(h) for h in history]


def test_passes_record_the_engine_order_torch_reports():
    """The order of a pass equals the order the engine itself reports to node pre-hooks."""
    code = (EXAMPLES / "basics/chain_rule_wxb.py").read_text()
    doc = trace_doc(code)
    names = {n["id"]: n["name"] for n in doc["graph"]["nodes"]}
    recorded = [names[s["node"]] for s in doc["passes"][0]["steps"]]
    w, x, b = (torch.tensor(v, requires_grad=True) for v in (3.0, 2.0, 1.0))
    z = (w * x + b) ** 2
    seen, stack, order = set(), [z.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        fn.register_prehook(lambda g, fn=fn: order.append(fn.name().split("::")[-1]))
        stack.extend(f for f, _ in fn.next_functions)
    z.backward()
    assert recorded == order


def test_seed_17_grad_fn_chain():
    doc = trace_doc((EXAMPLES / "basics/inspect_grad_fn.py").read_text())
    nodes = {n["id"]: n for n in doc["graph"]["nodes"]}
    z = nodes[variable(doc, "z")["node"]]
    chain = [z["name"]]
    current = z["id"]
    for _ in range(2):
        ops = [e["src"] for e in doc["graph"]["edges"]
               if e["dst"] == current and nodes[e["src"]]["kind"] != "leaf"]
        current = ops[0]
        chain.append(nodes[current]["name"])
    assert chain == ["PowBackward0", "AddBackward0", "MulBackward0"]


def test_seed_24_long_loop_keeps_first_and_last_passes_and_every_loss():
    doc = trace_doc((EXAMPLES / "training/manual_linear_xor.py").read_text())
    log = doc["pass_log"]
    sample = [15, 31, 63, 127, 255, 511]
    assert log["total"] == 1000 and log["skipped"] == 1000 - 26
    assert log["kept"] == list(range(10)) + sample + list(range(990, 1000))
    assert log["why"] == ["first"] * 10 + ["sample"] * 6 + ["last"] * 10
    assert [p["index"] for p in doc["passes"]] == log["kept"]
    assert len(log["losses"]) == 1000 and all(isinstance(v, float) for v in log["losses"])
    assert log["losses"][-1] < log["losses"][0]
    assert doc["skipped_steps"] > 0
    kept_steps = {s["index"] for s in doc["steps"]}
    for p in doc["passes"]:
        assert p["after_step"] in kept_steps


def test_seed_3_custom_nodes_are_named_after_their_class():
    doc = trace_doc((EXAMPLES / "custom_functions/custom_linear_model.py").read_text())
    custom = {n["name"] for n in doc["graph"]["nodes"] if n["kind"] == "function"}
    assert custom == {"CustomLinear", "CustomReLU"}


def test_seed_31_tensor_hook_fires_in_the_timeline():
    doc = trace_doc((EXAMPLES / "hooks/tensor_hook.py").read_text())
    hooks = [s for s in doc["passes"][0]["steps"] if s["kind"] == "hook"]
    assert len(hooks) == 1
    assert hooks[0]["hook"] == "tensor" and hooks[0]["target"] == "y"
    assert hooks[0]["registered_line"] == 7
    assert hooks[0]["grad_in"][0]["values"] == [1.0]
    assert doc["passes"][0]["steps"][0]["kind"] == "hook"  # before y's node runs


def test_seed_32_module_hooks_fire_in_order():
    doc = trace_doc((EXAMPLES / "hooks/module_hooks.py").read_text())
    forward = [s for s in doc["steps"] if s["kind"] == "hook"]
    assert [(s["op"], s["module"]) for s in forward] == [("forward", "layer")]
    backward = [s for s in doc["passes"][0]["steps"] if s["kind"] == "hook"]
    assert [(s["hook"], s["module"]) for s in backward] == [("backward", "layer")]
    assert doc["stdout"].index("forward: Linear") < doc["stdout"].index("backward: Linear")


def test_tensor_hook_that_changes_the_gradient_is_recorded_with_its_effect():
    doc = trace_doc("import torch\nx = torch.tensor([1.0, 2.0], requires_grad=True)\n"
                    "y = x * 3\ny.register_hook(lambda g: g * 10)\ny.sum().backward()\n")
    hook = next(s for s in doc["passes"][0]["steps"] if s["kind"] == "hook")
    assert hook["grad_in"][0]["values"] == [1.0, 1.0]
    assert hook["grad_out"][0]["values"] == [10.0, 10.0]
    assert variable(doc, "x")["grad"]["values"] == [30.0, 30.0]


def test_seed_8_create_graph_builds_higher_order_nodes():
    doc = trace_doc((EXAMPLES / "higher_order/backward_create_graph.py").read_text())
    first = doc["passes"][0]
    assert first["create_graph"] and first["created_nodes"]
    created = {n["id"]: n for n in doc["graph"]["nodes"] if n["pass"] == 0}
    assert set(created) == set(first["created_nodes"])
    second = doc["passes"][1]
    assert any(s["node"] in created for s in second["steps"])  # double backward runs them


def test_autograd_grad_is_a_pass():
    doc = trace_doc("import torch\nx = torch.tensor(3.0, requires_grad=True)\ny = x ** 3\n"
                    "(g,) = torch.autograd.grad(y, x, create_graph=True)\n"
                    "(h,) = torch.autograd.grad(g, x)\n")
    assert [p["kind"] for p in doc["passes"]] == ["grad", "grad"]
    assert [p["line"] for p in doc["passes"]] == [4, 5]
    assert variable(doc, "g")["value"]["values"] == [27.0]
    assert variable(doc, "h")["value"]["values"] == [18.0]
    codes = {d["variable"]: d["code"] for d in doc["diagnostics"]}
    assert codes["x"] == "autograd_grad_only"


def test_accumulate_grad_before_and_after():
    doc = trace_doc((EXAMPLES / "basics/accumulate_two_outputs.py").read_text())
    node = variable(doc, "x")["node"]
    leaf_steps = [s for p in doc["passes"] for s in p["steps"] if s["node"] == node]
    assert [s["grad_before"] and s["grad_before"]["values"] for s in leaf_steps] == [None, [2.0]]
    assert [s["grad_after"]["values"] for s in leaf_steps] == [[2.0], [5.0]]


def test_torch_autograd_backward_is_a_pass():
    doc = trace_doc("import torch\nx = torch.tensor([1.0, 2.0], requires_grad=True)\n"
                    "y = (x * x).sum()\ntorch.autograd.backward([y])\n")
    assert [(p["kind"], p["line"], p["loss"]) for p in doc["passes"]] == [("backward", 4, 5.0)]
    assert variable(doc, "x")["grad"]["values"] == [2.0, 4.0]


def test_saved_tensors_are_snapshotted_before_backward_frees_them():
    doc = trace_doc("import torch\nx = torch.tensor(3.0, requires_grad=True)\ny = x * x\n"
                    "y.backward()\n")
    mul = next(n for n in doc["graph"]["nodes"] if n["name"] == "MulBackward0")
    assert saved_values(doc, mul) == {"self": [3.0], "other": [3.0]}


def test_saved_tensor_clobbered_in_place_says_so():
    doc = trace_doc("import torch\nx = torch.tensor(3.0, requires_grad=True)\n"
                    "h = x * 1\ny = h * h\nh.detach().add_(100)\ny.backward()\n")
    assert doc["error"]["code"] == "inplace_modified" and doc["error"]["line"] == 6
    mul = next(n for n in doc["graph"]["nodes"] if n["line"] == 4)
    entry = next(e for e in mul["saved"] if e["name"] == "self")
    assert entry["value"] is None and "modified by an inplace operation" in entry["error"]


def test_no_warning_where_plain_torch_ran_as_meant(example):
    """A warning is a likely bug: where plain torch ran the example to its end and every .grad
    the code read was filled, the doctor warns of nothing (issue 29's property)."""
    name, doc, (_, plain_error, none_reads) = example
    if plain_error is None and none_reads == 0:
        assert [d for d in doc["diagnostics"] if d["severity"] == "warning"] == [], name

"""What each file in examples/ must do when run, taken from the seed table.

The seed table is /work/shared/seeds/README.md (34 snippets from five tutorial
articles); its "real PyTorch result" column, checked against torch 2.13, is
the truth these entries record.

SEEDS maps an example path, relative to examples/, to a dict with:

  "seed":    the seed table rows the file covers.
  "grads":   final .grad of top-level names, as flat lists of floats. Only the
             values the seed table states are listed; a name missing here is
             simply not asserted. Module parameters are spelled
             "<top-level variable>.<named_parameters() name>", e.g. "model.0.bias".
             For a file that raises, the grads as they stand when the error is
             raised.
  "error":   None when the file runs to the end, otherwise
             {"code": <error code>, "line": <1-based line of the raising
             statement in the file>}. When the raise happens inside a function
             defined in the file, "line" is the line inside that function (the
             innermost frame in the file), not the line of the top-level call.
  "history": optional; for a name whose .grad changes during the run, its
             value right after each backward() call, in order (a zero_() step
             is not a backward call, so it gets no entry of its own).
  "needs_cuda": optional; True for a file that needs a CUDA GPU. Its "error"
             is what happens on a machine without one.
"""

# Seed row -> example file(s)
#  1 basics/square.py
#  2 modules/compute_gradients.py, modules/gradient_accumulator.py
#  3 custom_functions/custom_linear_model.py
#  4 pitfalls/check_gradients_inplace_view.py
#  5 training/clip_grad_norm.py
#  6 basics/wx_plus_b_loss.py
#  7 basics/dynamic_control_flow.py
#  8 higher_order/backward_create_graph.py, higher_order/grad_penalty.py
#  9 gpu/cuda_matmul.py
# 10 basics/vector_sum_backward.py
# 11 pitfalls/second_backward_graph_freed.py
# 12 basics/python_if_on_item.py
# 13 basics/two_variables.py
# 14 pitfalls/detach_then_backward.py
# 15 training/sgd_step_linear.py
# 16 basics/chain_rule_wxb.py
# 17 basics/inspect_grad_fn.py
# 18 basics/grad_accumulation_zero.py
# 19 basics/vector_jacobian_product.py
# 20 custom_functions/custom_relu.py
# 21 custom_functions/quadratic_function.py
# 22 training/no_grad_inference.py, training/gradient_checkpointing.py
# 23 pitfalls/missing_requires_grad.py, pitfalls/inplace_add_on_leaf.py,
#    pitfalls/gradcheck_float32.py, pitfalls/gradcheck_float64.py
# 24 training/manual_linear_xor.py
# 25 basics/product_plus_square.py
# 26 basics/is_leaf.py
# 27 basics/square_of_square.py
# 28 basics/nonscalar_backward.py
# 29 basics/accumulate_two_outputs.py
# 30 basics/retain_graph_twice.py
# 31 hooks/tensor_hook.py
# 32 hooks/module_hooks.py
# 33 custom_functions/step_function.py
# 34 pitfalls/missing_requires_grad.py (grad None: requires_grad forgotten),
#    pitfalls/nonleaf_grad_is_none.py, pitfalls/retain_grad.py,
#    pitfalls/detach_new_leaf.py, pitfalls/inplace_modified_saved_tensor.py,
#    pitfalls/inplace_fixes.py, pitfalls/exploding_grads_clipping.py

SEEDS = {
    # --- basics -------------------------------------------------------------
    "basics/square.py": {
        "seed": [1],
        "grads": {"x": [4.0]},
        "error": None,
    },
    "basics/wx_plus_b_loss.py": {
        "seed": [6],
        "grads": {"x": [5.0], "w": [10.0], "b": [5.0]},
        "error": None,
    },
    "basics/dynamic_control_flow.py": {
        "seed": [7],
        "grads": {},
        "error": None,
    },
    "basics/vector_sum_backward.py": {
        "seed": [10],
        "grads": {"x": [2.0, 2.0, 2.0, 2.0]},
        "error": None,
    },
    "basics/python_if_on_item.py": {
        "seed": [12],
        "grads": {"x": [4.0]},
        "error": None,
    },
    "basics/two_variables.py": {
        "seed": [13],
        "grads": {"x1": [2.0], "x2": [12.0]},
        "error": None,
    },
    "basics/chain_rule_wxb.py": {
        "seed": [16],
        "grads": {"x": [42.0], "w": [28.0], "b": [14.0]},
        "error": None,
    },
    "basics/inspect_grad_fn.py": {
        "seed": [17],
        "grads": {},
        "error": None,
    },
    "basics/grad_accumulation_zero.py": {
        "seed": [18],
        "grads": {"x": [1.0, 1.0]},
        "history": {"x": [[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]]},
        "error": None,
    },
    "basics/vector_jacobian_product.py": {
        "seed": [19],
        "grads": {"x": [2.0, 6.0]},
        "error": None,
    },
    "basics/product_plus_square.py": {
        "seed": [25],
        "grads": {"x": [4.0], "y": [1.0]},
        "error": None,
    },
    "basics/is_leaf.py": {
        "seed": [26],
        "grads": {},
        "error": None,
    },
    "basics/square_of_square.py": {
        "seed": [27],
        "grads": {"x": [32.0]},
        "error": None,
    },
    "basics/nonscalar_backward.py": {
        "seed": [28],
        "grads": {"x": [2.0, 2.0, 2.0]},
        "error": None,
    },
    "basics/accumulate_two_outputs.py": {
        "seed": [29],
        "grads": {"x": [5.0]},
        "history": {"x": [[2.0], [5.0]]},
        "error": None,
    },
    "basics/retain_graph_twice.py": {
        "seed": [30],
        "grads": {"x": [8.0]},
        "history": {"x": [[4.0], [8.0]]},
        "error": None,
    },
    # --- modules ------------------------------------------------------------
    "modules/compute_gradients.py": {
        "seed": [2],
        "grads": {},
        "error": None,
    },
    "modules/gradient_accumulator.py": {
        "seed": [2],
        "grads": {},
        "error": None,
    },
    # --- custom autograd Functions ------------------------------------------
    "custom_functions/custom_linear_model.py": {
        "seed": [3],
        "grads": {},
        "error": None,
    },
    "custom_functions/custom_relu.py": {
        "seed": [20],
        "grads": {"x": [0.0, 1.0, 1.0]},
        "error": None,
    },
    "custom_functions/quadratic_function.py": {
        "seed": [21],
        "grads": {"x": [13.0], "a": [9.0], "b": [3.0], "c": [1.0]},
        "error": None,
    },
    "custom_functions/step_function.py": {
        "seed": [33],
        "grads": {"x": [0.0, 0.0, 0.0]},
        "error": None,
    },
    # --- higher-order gradients ---------------------------------------------
    "higher_order/backward_create_graph.py": {
        "seed": [8],
        "grads": {},
        "error": None,
    },
    "higher_order/grad_penalty.py": {
        "seed": [8],
        "grads": {},
        "error": None,
    },
    # --- hooks --------------------------------------------------------------
    "hooks/tensor_hook.py": {
        "seed": [31],
        "grads": {},
        "error": None,
    },
    "hooks/module_hooks.py": {
        "seed": [32],
        "grads": {},
        "error": None,
    },
    # --- training -----------------------------------------------------------
    "training/clip_grad_norm.py": {
        "seed": [5],
        "grads": {},
        "error": None,
    },
    "training/sgd_step_linear.py": {
        "seed": [15],
        "grads": {},
        "error": None,
    },
    "training/no_grad_inference.py": {
        "seed": [22],
        "grads": {},
        "error": None,
    },
    "training/gradient_checkpointing.py": {
        "seed": [22],
        "grads": {},
        "error": None,
    },
    "training/manual_linear_xor.py": {
        "seed": [24],
        "grads": {},
        "error": None,
    },
    # --- pitfalls: files that raise -----------------------------------------
    "pitfalls/check_gradients_inplace_view.py": {
        "seed": [4],
        "grads": {},
        # raised inside check_gradients(); the top-level call is on line 35
        "error": {"code": "inplace_leaf", "line": 20},
    },
    "pitfalls/second_backward_graph_freed.py": {
        "seed": [11],
        "grads": {"x": [2.0, 2.0, 2.0, 2.0]},
        "error": {"code": "graph_freed", "line": 11},
    },
    "pitfalls/detach_then_backward.py": {
        "seed": [14],
        "grads": {},
        "error": {"code": "no_grad_fn", "line": 8},
    },
    "pitfalls/missing_requires_grad.py": {
        "seed": [23, 34],
        "grads": {},
        "error": {"code": "no_grad_fn", "line": 8},
    },
    "pitfalls/inplace_add_on_leaf.py": {
        "seed": [23],
        "grads": {},
        "error": {"code": "inplace_leaf", "line": 6},
    },
    "pitfalls/gradcheck_float32.py": {
        "seed": [23],
        "grads": {},
        # four UserWarnings (inputs not float64), then GradcheckError:
        # "Jacobian mismatch for output 0 with respect to input 0"
        "error": {"code": "gradcheck_precision", "line": 22},
    },
    "pitfalls/inplace_modified_saved_tensor.py": {
        "seed": [34],
        "grads": {},
        "error": {"code": "inplace_modified", "line": 9},
    },
    # --- pitfalls: files that run -------------------------------------------
    "pitfalls/gradcheck_float64.py": {
        "seed": [23],
        "grads": {},
        "error": None,
    },
    "pitfalls/nonleaf_grad_is_none.py": {
        "seed": [34],
        "grads": {},
        "error": None,
    },
    "pitfalls/retain_grad.py": {
        "seed": [34],
        "grads": {},
        "error": None,
    },
    "pitfalls/detach_new_leaf.py": {
        "seed": [34],
        "grads": {},
        "error": None,
    },
    "pitfalls/inplace_fixes.py": {
        "seed": [34],
        "grads": {},
        "error": None,
    },
    "pitfalls/exploding_grads_clipping.py": {
        "seed": [34],
        "grads": {},
        "error": None,
    },
    # --- gpu ----------------------------------------------------------------
    "gpu/cuda_matmul.py": {
        "seed": [9],
        "grads": {},
        # without CUDA: "AssertionError: Torch not compiled with CUDA enabled"
        # (CPU-only build) or a CUDA runtime error (no device)
        "error": {"code": "cuda_unavailable", "line": 5},
        "needs_cuda": True,
    },
    "gpu/device_round_trip.py": {
        "seed": [9],
        "grads": {},  # on a GPU: x.grad is [2, 4, 6], on the cpu (tests/test_gpu.py)
        "error": {"code": "cuda_unavailable", "line": 7},
        "needs_cuda": True,
    },
    "gpu/mlp_step_on_cuda.py": {
        "seed": [9],
        "grads": {},
        "error": {"code": "cuda_unavailable", "line": 8},
        "needs_cuda": True,
    },
}

import math

import numpy as np
import pytest
import torch

from gradtrace.capture.batch import SummaryBatch
from gradtrace.capture.values import FULL_VALUES_LIMIT, HIST_BINS, HIST_SAMPLE, fmt, summarize


def test_scalar_float():
    s = summarize(torch.tensor(2.5))
    assert s["shape"] == [] and s["dtype"] == "float32" and s["device"] == "cpu"
    assert s["values"] == [2.5]
    stats = (s["min"], s["max"], s["mean"], s["norm"], s["nan"], s["inf"])
    assert stats == (2.5, 2.5, 2.5, 2.5, 0, 0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_float_dtypes_match_torch(dtype):
    t = torch.linspace(-3, 5, 50).to(dtype)
    s = summarize(t)
    ref = t.double()
    assert s["dtype"] == str(dtype).removeprefix("torch.")
    assert s["min"] == pytest.approx(ref.min().item(), rel=1e-6)
    assert s["max"] == pytest.approx(ref.max().item(), rel=1e-6)
    assert s["mean"] == pytest.approx(ref.mean().item(), rel=1e-5, abs=1e-6)
    assert s["norm"] == pytest.approx(ref.norm().item(), rel=1e-5)
    assert s["values"] == pytest.approx(ref.tolist(), rel=1e-6)


def test_values_are_short_and_exact_to_seven_digits():
    s = summarize(torch.full((20,), 0.1))
    assert s["values"] == [0.1] * 20  # not 0.10000000149011612


@pytest.mark.parametrize("dtype", [torch.int8, torch.int32, torch.int64, torch.uint8])
def test_int_dtypes(dtype):
    t = torch.tensor([3, 1, 4, 1, 5], dtype=dtype)
    s = summarize(t)
    assert s["values"] == [3, 1, 4, 1, 5] and all(isinstance(v, int) for v in s["values"])
    assert (s["min"], s["max"]) == (1, 5)
    assert s["mean"] == pytest.approx(2.8)
    assert s["norm"] == pytest.approx(math.sqrt(52), rel=1e-6)


def test_bool():
    s = summarize(torch.tensor([True, False, True]))
    assert s["dtype"] == "bool" and s["values"] == [1, 0, 1]
    assert s["mean"] == pytest.approx(2 / 3, rel=1e-6)


def test_complex_values_are_pairs_and_stats_use_magnitude():
    s = summarize(torch.tensor([3 + 4j, 1 - 1j], dtype=torch.complex64))
    assert s["values"] == [[3.0, 4.0], [1.0, -1.0]]
    assert s["max"] == pytest.approx(5.0) and s["min"] == pytest.approx(math.sqrt(2), rel=1e-6)


def test_nan_and_inf_are_counted_and_json_safe():
    s = summarize(torch.tensor([1.0, float("nan"), float("inf"), -2.0]))
    assert s["nan"] == 1 and s["inf"] == 1
    assert s["values"] == [1.0, "nan", "inf", -2.0]
    assert s["min"] == -2.0 and s["max"] == "inf"


def test_large_tensor_nan_inf_counts():
    t = torch.ones(5000)
    t[10] = float("nan")
    t[11] = float("-inf")
    s = summarize(t)
    assert "values" not in s and s["numel"] == 5000
    assert s["nan"] == 1 and s["inf"] == 1 and s["min"] == "-inf"


def test_empty_and_zero_dim():
    s = summarize(torch.empty(0, 3))
    assert s["numel"] == 0 and s["min"] is None and s["shape"] == [0, 3]
    assert summarize(torch.tensor(7))["values"] == [7]


def test_meta_has_shape_but_no_data():
    s = summarize(torch.empty(2, 3, device="meta"))
    assert s["shape"] == [2, 3] and s["device"] == "meta" and "min" not in s and "error" not in s


def test_sparse_summarises_stored_values():
    dense = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    s = summarize(dense.to_sparse())
    assert s["layout"] == "sparse_coo" and s["nnz"] == 2
    assert (s["min"], s["max"]) == (2.0, 3.0)
    with pytest.warns(UserWarning, match="beta"):
        as_csr = dense.to_sparse_csr()
    csr = summarize(as_csr)
    assert csr["layout"] == "sparse_csr" and csr["nnz"] == 2


def test_requires_grad_tensor_summary_leaves_no_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    s = summarize(x * 2)
    assert s["values"] == [2.0, 4.0]


def test_full_values_limit():
    assert "values" in summarize(torch.zeros(FULL_VALUES_LIMIT))
    assert "values" not in summarize(torch.zeros(FULL_VALUES_LIMIT + 1))


def test_large_tensor_matches_torch():
    t = torch.randn(100_000, generator=torch.Generator().manual_seed(1))
    s = summarize(t)
    assert s["mean"] == pytest.approx(t.double().mean().item(), rel=1e-4, abs=1e-6)
    assert s["norm"] == pytest.approx(t.double().norm().item(), rel=1e-5)
    assert s["min"] == pytest.approx(t.min().item(), rel=1e-6)


def test_fmt():
    assert fmt(True) == 1 and fmt(3) == 3 and fmt(float("nan")) == "nan"
    assert fmt(float("-inf")) == "-inf" and fmt(1 / 3) == 0.3333333


def numpy_histogram(t: torch.Tensor) -> list[int]:
    counts, _ = np.histogram(t.double().numpy(), bins=HIST_BINS,
                             range=(t.min().item(), t.max().item()))
    return counts.tolist()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.int64])
def test_a_tensor_too_big_to_list_gets_a_histogram(dtype):
    t = (torch.randn(10_000, generator=torch.Generator().manual_seed(2)) * 50).to(dtype)
    assert "hist" not in summarize(t)  # only when asked: it costs a pass over the values
    s = summarize(t, histogram=True)
    assert "values" not in s and sum(s["hist"]) == t.numel()
    assert np.abs(np.array(s["hist"]) - numpy_histogram(t)).max() <= 2  # float32 bin edges


def test_a_huge_tensor_is_binned_from_an_even_sample():
    t = torch.randn(1_000_000, generator=torch.Generator().manual_seed(4))
    hist = np.array(summarize(t, histogram=True)["hist"])
    assert HIST_SAMPLE * 0.9 < hist.sum() <= HIST_SAMPLE
    full = np.array(numpy_histogram(t))
    assert np.abs(hist / hist.sum() - full / full.sum()).max() < 0.01  # the same picture


def test_batched_summaries_get_the_same_histograms():
    gen = torch.Generator().manual_seed(3)
    tensors = [torch.randn(500, generator=gen, dtype=torch.float64), torch.full((7, 30), 2.5),
               torch.tensor([1.0, float("nan")] * 100, dtype=torch.float64), torch.ones(8)]
    batch = SummaryBatch()
    summaries = [batch.of(t, histogram=True) for t in tensors]
    unasked = batch.of(tensors[0])
    batch.flush()
    assert "hist" not in unasked
    assert summaries[0]["hist"] == numpy_histogram(tensors[0])
    assert summaries[1]["hist"] == [210] + [0] * (HIST_BINS - 1)  # a constant: one full bin
    assert sum(summaries[2]["hist"]) == 100  # NaNs are counted apart, not binned
    assert "hist" not in summaries[3] and summaries[3]["values"].tolist() == [1.0] * 8  # listed


def test_no_histogram_when_a_big_tensor_holds_an_infinity():
    t = torch.randn(10_000)
    t[5] = math.inf
    assert "hist" not in summarize(t, histogram=True)

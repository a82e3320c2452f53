"""Deferred, batched summaries (SummaryBatch) against the eager ones (values.summarize), property
tested: random dtypes, shapes and values, NaN and infinities sprinkled in, histograms asked for.
Then every example: the variables a capture reports against summarize() of plain PyTorch's.

The batch's summaries are compared as the wire carries them (through jsonio): its listed
values stay numpy arrays until then. Statistics are rounded to 7 significant digits on both
sides, by different routes (numpy's vectorised rounding, or Python's "{:.7g}"); the batch lists a
float32 tensor's values exactly, the eager side to 7 digits; and the eager side sums float32
tensors in float32: so a number may differ in its last digit, and a mean or norm by float32's
rounding. Both bin a histogram over the exact min and max (the eager side in float32 for all but
float64): a value near a bin edge may move to the next bin. Everything else must be equal.
"""

import itertools
import math
import random

import pytest
import torch

from conftest import example_id, example_paths, run_plain, trace_doc
from gradtrace.capture.batch import BATCH_LIMIT, SummaryBatch
from gradtrace.capture.names import named_tensors
from gradtrace.capture.values import FULL_VALUES_LIMIT, HIST_BINS, summarize
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import PREVIEW_LIMIT

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
INT_RANGES = {torch.int8: (-128, 128), torch.uint8: (0, 256), torch.int16: (-2**15, 2**15),
              torch.int32: (-2**31, 2**31), torch.int64: (-2**63, 2**63 - 1)}
DTYPES = [*FLOATS, *INT_RANGES, torch.bool]
LIMITS = [0, 1, 8, PREVIEW_LIMIT, FULL_VALUES_LIMIT]  # values listed up to this many elements
SPECIAL = [math.nan, math.inf, -math.inf]


# -- random tensors -------------------------------------------------------------------------------

def random_shape(rng: random.Random) -> tuple:
    kind = rng.choice(["0-d", "short", "vector", "matrix", "3-d", "empty", "over the limit"])
    if kind == "0-d":
        return ()
    if kind == "short":
        return (rng.randint(1, 8),)
    if kind == "vector":  # sizes spread evenly on a log scale, up to BATCH_LIMIT
        return (max(1, int(BATCH_LIMIT ** rng.random())),)
    if kind == "matrix":
        return (rng.randint(1, 64), rng.randint(1, 64))
    if kind == "3-d":
        return (rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 60))
    if kind == "empty":
        return rng.choice([(0,), (0, 3), (4, 0, 2)])
    return (rng.randint(BATCH_LIMIT + 1, 2 * BATCH_LIMIT),)  # summarised eagerly by the batch


def random_floats(rng: random.Random, shape: tuple, gen: torch.Generator) -> torch.Tensor:
    """float64 values at some scale and offset, sometimes constant, with NaN and infinities
    sprinkled in (sometimes nothing but them); sometimes close together, relative to their
    size (1e-4 around -1000 is near float32's last digit)."""
    scale = rng.choice([1e-4, 1.0, 1.0, 300.0, 3e4])
    offset = rng.choice([0.0, 0.0, 5.0, -1000.0]) * rng.choice([1.0, scale])
    if rng.random() < 0.1:
        t = torch.full(shape, offset or 2.5, dtype=torch.float64)
    else:
        t = torch.randn(shape, generator=gen, dtype=torch.float64) * scale + offset
    flat = t.view(-1)
    n = flat.numel()
    if n and rng.random() < 0.05:
        flat.fill_(rng.choice(SPECIAL))
    elif n and rng.random() < 0.4:
        for _ in range(rng.randint(1, 3)):
            flat[rng.randrange(n)] = rng.choice(SPECIAL)
    return t


def random_tensor(rng: random.Random) -> torch.Tensor:
    dtype, shape = rng.choice(DTYPES), random_shape(rng)
    gen = torch.Generator().manual_seed(rng.getrandbits(31))
    if dtype == torch.bool:
        t = torch.randint(0, 2, shape, generator=gen).bool()
    elif dtype in INT_RANGES:
        low, high = INT_RANGES[dtype]
        if rng.random() < 0.3:  # a narrow range too: many repeats, and values on bin edges
            low, high = max(low, -16), min(high, 17)
        t = torch.randint(low, high, shape, generator=gen, dtype=torch.int64).to(dtype)
    else:
        t = random_floats(rng, shape, gen).to(dtype)
    return _maybe_a_view(rng, t)


def _maybe_a_view(rng: random.Random, t: torch.Tensor) -> torch.Tensor:
    """Sometimes a non-contiguous view: the transpose of a matrix, every other element."""
    if t.ndim >= 2 and rng.random() < 0.3:
        return t.transpose(0, -1)
    if t.ndim == 1 and t.numel() >= 2 and rng.random() < 0.3:
        return t[::2]
    return t


# -- comparing summaries ---------------------------------------------------------------------------

def assert_same_number(got, want, what: str, rel: float = 1.5e-6, abs_: float = 0.0) -> None:
    """Equal, but for the last of 7 significant digits (or ``rel``)."""
    if isinstance(want, str) or want is None or isinstance(got, str) or got is None:
        assert got == want, what
    elif isinstance(want, int) and not isinstance(want, bool):
        assert type(got) is int and got == want, f"{what}: {got!r} != {want!r}"
    else:
        assert isinstance(got, float), f"{what}: {got!r} is not a float like {want!r}"
        assert got == pytest.approx(want, rel=rel, abs=abs_), what


def assert_same_summary(got: dict, want: dict, what: str, hist_slack: int = 0) -> None:
    """Field by field; a histogram may differ by ``hist_slack`` values moved one bin each (see
    edge_values). ``got`` is compared as the wire carries it."""
    got = jsonio.loads(jsonio.dumps(got))
    assert set(got) == set(want), f"{what}: fields {sorted(got)} != {sorted(want)}"
    for key in ("shape", "dtype", "device", "numel", "nan", "inf"):
        assert got[key] == want[key], f"{what}: {key}"
    assert_same_number(got["min"], want["min"], f"{what}: min")
    assert_same_number(got["max"], want["max"], f"{what}: max")
    rel = sum_error(want)
    rms = want["norm"] / math.sqrt(want["numel"]) if isinstance(want["norm"], float) else 0.0
    assert_same_number(got["mean"], want["mean"], f"{what}: mean", rel=rel, abs_=rel * rms)
    assert_same_number(got["norm"], want["norm"], f"{what}: norm", rel=rel)
    if "values" in want:
        assert len(got["values"]) == len(want["values"]), f"{what}: values"
        for i, (g, w) in enumerate(zip(got["values"], want["values"], strict=True)):
            assert_same_number(g, w, f"{what}: values[{i}]")
    if "hist" in want:
        assert sum(got["hist"]) == sum(want["hist"]), f"{what}: hist"
        # values times bins moved (the earth mover's distance), at most one per edge near a value
        moved = sum(abs(g - w) for g, w in zip(itertools.accumulate(got["hist"]),
                                               itertools.accumulate(want["hist"]), strict=True))
        assert moved <= hist_slack, f"{what}: hist {got['hist']} != {want['hist']}"


def sum_error(want: dict) -> float:
    """The relative error a mean or norm may have: rounding to 7 digits, or where the eager side
    sums in float32 (a tensor too big to list, of a dtype other than float64 or int64), the bound
    on a float32 sum of n values, n x 2**-24 (reached by a strided view's sequential sum)."""
    if "values" in want or want["dtype"] in ("float64", "int64"):
        return 2e-6
    return max(2e-6, want["numel"] * 2.0**-24)


def edge_values(t: torch.Tensor) -> int:
    """How many (value, inner bin edge) pairs lie so close that rounding may put the value on
    the other side: the eager side bins a tensor that is not float64 in float32, the batch in
    float64, both over the exact [min, max]."""
    if t.dtype == torch.float64:
        return 0
    x = t.detach().reshape(-1).double()
    x = x[~torch.isnan(x)]
    if x.numel() == 0 or torch.isinf(x).any():
        return 0
    lo, hi = x.min().item(), x.max().item()
    near = 4 * 2.0**-24 * max(abs(lo), abs(hi))
    edges = lo + (hi - lo) * torch.arange(1, HIST_BINS, dtype=torch.float64) / HIST_BINS
    return int(((x[:, None] - edges).abs() <= near).sum())


def _describe(t: torch.Tensor) -> str:
    return f"{t.dtype} {list(t.shape)}{'' if t.is_contiguous() else ' (a view)'}"


# -- the properties --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_a_batch_of_deferred_summaries_equals_the_eager_ones(seed):
    """Random tensors through one batch, some held by reference and some snapshotted, and the
    snapshotted ones changed in place before the flush (a snapshot must not see that)."""
    rng = random.Random(seed)
    batch, cases = SummaryBatch(), []
    for _ in range(rng.randint(1, 30)):
        t = random_tensor(rng)
        limit, histogram, hold = rng.choice(LIMITS), rng.random() < 0.5, rng.random() < 0.5
        want = summarize(t, limit, histogram)
        got = batch.of(t, limit, histogram=histogram, hold=hold)
        what = f"{_describe(t)} limit={limit} hist={histogram} hold={hold}"
        cases.append((got, want, what, edge_values(t) if "hist" in want else 0))
        if not hold and t.numel():
            t.zero_()  # after the summary was asked for: it must still say what t held
    batch.flush()
    for got, want, what, slack in cases:
        assert_same_summary(got, want, what, slack)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_at_every_size_class(dtype):
    """Each dtype on its own: 0-d, a few elements (listed from Python lists), up to BATCH_LIMIT
    (snapshots), over it (eager), empty, and a view; with a histogram wherever one is due."""
    rng = random.Random(str(dtype))
    batch, cases = SummaryBatch(), []
    for shape in [(), (3,), (64,), (65,), (40, 30), (BATCH_LIMIT,), (BATCH_LIMIT + 1,), (0, 5)]:
        for hold in (False, True):
            gen = torch.Generator().manual_seed(rng.getrandbits(31))
            if dtype in FLOATS:
                t = random_floats(rng, shape, gen).to(dtype)
            else:
                t = random_tensor_of(dtype, shape, gen)
            want = summarize(t, PREVIEW_LIMIT, histogram=True)
            cases.append((batch.of(t, histogram=True, hold=hold), want, f"{shape} hold={hold}",
                          edge_values(t)))
    batch.flush()
    for got, want, what, slack in cases:
        assert_same_summary(got, want, what, slack)


def random_tensor_of(dtype: torch.dtype, shape: tuple, gen: torch.Generator) -> torch.Tensor:
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    low, high = INT_RANGES[dtype]
    return torch.randint(low, high, shape, generator=gen, dtype=torch.int64).to(dtype)


def test_special_values_alone():
    """All NaN, all infinite, NaN beside infinities, a single NaN: no statistic from NaN."""
    batch, cases = SummaryBatch(), []
    for values in ([math.nan] * 3, [math.inf, -math.inf], [math.nan, math.inf, 1.0],
                   [math.nan], [math.nan] * 100, [math.inf] * 100, [-math.inf, 2.0] * 50):
        for dtype in FLOATS:
            t = torch.tensor(values, dtype=dtype)
            for histogram in (False, True):
                want = summarize(t, 8, histogram)
                cases.append((batch.of(t, 8, histogram=histogram), want, f"{values[:3]} {dtype}"))
    batch.flush()
    for got, want, what in cases:
        assert_same_summary(got, want, what)


@pytest.mark.parametrize("values, dtype", [
    ([123_456_789, -2**31, 7], torch.int32),
    ([2**53 + 1, 3], torch.int64),
], ids=["int32 of 9 digits", "int64 beyond 2**53"])
def test_integers_of_more_than_7_digits(values, dtype):
    t = torch.tensor(values, dtype=dtype)
    batch = SummaryBatch()
    got = batch.of(t)
    batch.flush()
    assert_same_summary(got, summarize(t, PREVIEW_LIMIT), f"{values} {dtype}")


CLOSE_TOGETHER = {
    "1 + k * 1e-9": 1.0 + torch.arange(100, dtype=torch.float64) * 1e-9,
    "-1000 + 1e-4 * randn": -1000 + 1e-4 * torch.randn(
        500, dtype=torch.float64, generator=torch.Generator().manual_seed(0)),
    "float32 0.1, constant": torch.full((100,), 0.1),
}


@pytest.mark.parametrize("name", list(CLOSE_TOGETHER))
def test_a_histogram_of_values_close_together(name):
    t = CLOSE_TOGETHER[name]
    batch = SummaryBatch()
    got = batch.of(t, PREVIEW_LIMIT, histogram=True)
    batch.flush()
    want = summarize(t, PREVIEW_LIMIT, histogram=True)
    assert got["hist"] == want["hist"]


# -- every example -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", example_paths(), ids=example_id)
def test_an_examples_variables_are_summarised_as_plain_pytorch_leaves_them(path):
    """The trace's variables (batched, with histograms) against summarize() of the tensors a plain
    run leaves: values, statistics and histograms, field by field."""
    code = path.read_text()
    namespace, _ = run_plain(code)
    doc = trace_doc(code)
    oracle = {name: t for name, t, _ in named_tensors(namespace)}
    for var in doc["variables"]:
        t = oracle[var["name"]]
        _same_summary_of(var["value"], t, f"{var['name']}")
        grad = t.grad if t.is_leaf or t.retains_grad else None
        if grad is not None and var["grad"] is not None:
            _same_summary_of(var["grad"], grad, f"{var['name']}.grad")


def _same_summary_of(got: dict, t: torch.Tensor, what: str) -> None:
    want = summarize(t, FULL_VALUES_LIMIT, histogram=True)
    assert_same_summary(got, want, what, edge_values(t) if "hist" in want else 0)

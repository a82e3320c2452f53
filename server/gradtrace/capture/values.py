"""Tensor summaries: shape, dtype, min, max, mean, norm, NaN/Inf counts, and small tensors in full.

Summaries are plain dicts of JSON-ready values, computed at capture time so that later in-place
changes cannot alter what the trace says a tensor held. Numbers are rounded to 7 significant digits
here (float32 precision) so the JSON stays short; NaN and infinities become the strings "nan",
"inf" and "-inf" because JSON has no spelling for them. (The batch, capture/batch.py, which
summarises most tensors, lists float32 values exactly instead, as numpy arrays.)

Small tensors (at most ``FULL_VALUES_LIMIT`` elements) are read once with ``tolist`` and summarised
in Python, which is far cheaper than several torch reductions; their rounding is vectorised in
numpy. Large tensors use torch reductions and
never copy more than one temporary, so 10^8 elements stay cheap.
"""

from __future__ import annotations

import math

import numpy as np
import torch

FULL_VALUES_LIMIT = 1024  # variables' summaries list every value up to this size (the contract)
HIST_BINS = 16  # a variable too big to list gets a histogram of its finite values over [min, max]
HIST_SAMPLE = 16_384  # of at most this many of them, evenly strided: a picture, not a census
_PY_FORMAT_LIMIT = 8  # up to this many values, Python formatting beats the numpy rounding
_SIG_DIGITS = 7


def fmt(v):
    """One number, JSON-ready: ints stay ints, floats keep 7 significant digits, NaN/Inf become
    strings."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if v != v:
        return "nan"
    if v in (math.inf, -math.inf):
        return "inf" if v > 0 else "-inf"
    return float(f"{v:.7g}")


def _round_sig(a: np.ndarray) -> np.ndarray:
    """Round float64 values to 7 significant digits so that repr() of each is short. Multiplying by
    an exact power of ten, rounding and dividing back gives the double nearest the short decimal."""
    with np.errstate(all="ignore"):
        scale = 10.0 ** (_SIG_DIGITS - 1 - np.floor(np.log10(np.abs(a) + 1e-300)))
        rounded = np.round(a * scale) / scale
    return np.where(np.isfinite(rounded), rounded, a)


def _flat_values(t: torch.Tensor) -> tuple[list, list]:
    """The elements as (JSON-ready list, numbers for statistics). Complex elements become [re, im]
    pairs in the first list and magnitudes in the second."""
    flat = t.reshape(-1)
    if t.is_complex():
        pairs = torch.view_as_real(flat.to(torch.complex128)).tolist()
        return [[fmt(a), fmt(b)] for a, b in pairs], [math.hypot(a, b) for a, b in pairs]
    if not t.is_floating_point():
        ints = [int(v) for v in flat.tolist()]
        return ints, ints
    if flat.numel() <= _PY_FORMAT_LIMIT:
        raw = flat.tolist()
        return [fmt(v) for v in raw], raw
    rounded = _round_sig(flat.to(torch.float64).cpu().numpy()).tolist()
    if all(map(math.isfinite, rounded)):
        return rounded, rounded
    return [fmt(v) for v in rounded], rounded


def _stats_small(nums: list) -> dict:
    """min/max/mean/norm and NaN/Inf counts of a short Python list (NaNs are excluded)."""
    total = sum(nums)
    if isinstance(total, int) or math.isfinite(total):
        clean, nan, inf = nums, 0, 0
    else:
        clean = [v for v in nums if v == v]
        nan = len(nums) - len(clean)
        inf = sum(1 for v in clean if v in (math.inf, -math.inf))
        total = sum(clean)
    if not clean:
        return {"min": None, "max": None, "mean": None, "norm": None, "nan": nan, "inf": inf}
    return {
        "min": fmt(min(clean)),
        "max": fmt(max(clean)),
        "mean": fmt(total / len(clean)),
        "norm": fmt(math.hypot(*clean)),
        "nan": nan,
        "inf": inf,
    }


def in_memory_order(t: torch.Tensor) -> torch.Tensor:
    """``t``'s elements as one flat view in the order they lie in memory, when they fill a block
    of it without gaps or overlaps (a transposed gradient, say); else ``t`` itself. Whole-tensor
    reductions do not care about order, and over a transposed view they ran 7x slower."""
    if t.is_contiguous():
        return t.view(-1)
    dims = sorted((stride, size) for size, stride in zip(t.shape, t.stride(), strict=True)
                  if size != 1)
    expected = 1
    for stride, size in dims:
        if stride != expected:
            return t
        expected *= size
    return t.as_strided((t.numel(),), (1,), t.storage_offset())


def _stats_large(t: torch.Tensor, histogram: bool) -> dict:
    """The same statistics with torch reductions, for tensors too big to list."""
    t = in_memory_order(t)
    if t.is_complex():
        x = t.abs()
    elif t.dtype == torch.bool:
        x = t.to(torch.uint8)
    else:
        x = t
    acc = torch.float64 if x.dtype in (torch.float64, torch.int64) else torch.float32
    total = float(x.sum(dtype=acc))
    nan = inf = 0
    if not math.isfinite(total):
        if x.is_floating_point():
            nan_mask = torch.isnan(x)
            nan = int(nan_mask.sum())
            inf = int(torch.isinf(x).sum())
            if nan:
                x = x[~nan_mask]
                total = float(x.sum(dtype=acc))
        if x.numel() == 0:
            return {"min": None, "max": None, "mean": None, "norm": None, "nan": nan, "inf": inf}
    lo, hi = torch.aminmax(x)
    xf = x if x.is_floating_point() else x.to(acc)
    norm = float(torch.linalg.vector_norm(xf, dtype=acc) if xf.dtype != acc else
                 torch.linalg.vector_norm(xf))
    out = {
        "min": fmt(lo.item()),
        "max": fmt(hi.item()),
        "mean": fmt(total / x.numel()),
        "norm": fmt(norm),
        "nan": nan,
        "inf": inf,
    }
    if histogram and not inf:
        out["hist"] = _histogram(xf, lo.item(), hi.item())
    return out


def _histogram(x: torch.Tensor, lo: float, hi: float) -> list[int]:
    """HIST_BINS counts over [lo, hi], the last bin closed (numpy's convention), of at most
    HIST_SAMPLE evenly strided values: binning every value of every weight of a deep model cost
    more than the rest of its capture."""
    x = x.reshape(-1)
    if x.numel() > HIST_SAMPLE:
        x = x[::-(-x.numel() // HIST_SAMPLE)]
    if lo == hi:  # histc would invent a range around a constant tensor
        return [x.numel()] + [0] * (HIST_BINS - 1)
    x = x.to(torch.float64)  # (hi - lo of a float32 tensor may overflow float32)
    bins = ((x - lo) * (HIST_BINS / (hi - lo))).floor_().clamp_(0, HIST_BINS - 1)
    return torch.bincount(bins.to(torch.int64), minlength=HIST_BINS).tolist()  # 2x histc


_DTYPE_NAMES: dict = {}


def dtype_name(dtype: torch.dtype) -> str:
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype).removeprefix("torch.")
    return name


def describe(t: torch.Tensor, skipped: str) -> dict:
    """Shape, dtype and device only, saying why the values were skipped: "uninitialized" (the
    output of torch.empty holds whatever was in memory) or "large" (a big saved tensor)."""
    return {"shape": list(t.shape), "dtype": dtype_name(t.dtype), "device": str(t.device),
            "numel": t.numel(), "skipped": skipped}


def summarize(t: torch.Tensor, values_limit: int = FULL_VALUES_LIMIT,
              histogram: bool = False) -> dict:
    """A JSON-ready summary of ``t``'s current value, listing its values when it has at most
    ``values_limit`` elements, else (with ``histogram``) binning them. Never raises on odd
    tensors: a summary that cannot be computed carries an ``error`` field instead of
    statistics."""
    out = {
        "shape": list(t.shape),
        "dtype": dtype_name(t.dtype),
        "device": str(t.device),
    }
    try:
        _fill_stats(out, t.detach(), values_limit, histogram)
    except Exception as exc:  # a summary must never break a run: say why instead
        out["error"] = f"{type(exc).__name__}: {exc}"[:200]
    return out


def _fill_stats(out: dict, t: torch.Tensor, values_limit: int, histogram: bool) -> None:
    if t.layout != torch.strided:
        out["layout"] = str(t.layout).removeprefix("torch.")
        if t.is_sparse:
            t = t.coalesce()
        out["nnz"] = int(t._nnz()) if t.is_sparse else int(t.values().numel())
        t = t.values()  # statistics of the stored elements
    if t.is_quantized:
        t = t.dequantize()
    if t.is_meta:
        out["numel"] = t.numel()
        return
    n = t.numel()
    out["numel"] = n
    if n == 0:
        out.update({"min": None, "max": None, "mean": None, "norm": None, "nan": 0, "inf": 0})
        return
    if n <= values_limit:
        values, nums = _flat_values(t)
        out.update(_stats_small(nums))
        out["values"] = values
    else:
        out.update(_stats_large(t, histogram))

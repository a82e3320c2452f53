"""Summaries in bulk: ask now, compute later, all at once, columnar.

A run asks for tens of thousands of summaries of small tensors (every op output, every gradient
on every edge). Computing each on the spot costs several torch calls per tensor. Instead ``of()``
keeps the tensor (a copy of it, unless the caller promises it stays unchanged until the flush)
and hands back an empty dict; ``flush()`` then fills every pending summary with one
concatenation per (device, dtype) and a handful of segment reductions (numpy's reduceat) over
all of them together. The copy is what makes this honest: later in-place changes cannot reach
it, so a summary still says what the tensor held when it was asked for.

Listed values stay numpy arrays until the wire (jsonio writes them): a float16 or float32
tensor's values are listed as that dtype, whose shortest spelling is already short, and a
float64 tensor's are rounded to 7 significant digits. Integers stay exact.
"""

from __future__ import annotations

import numpy as np
import torch
from torch._utils import _flatten_dense_tensors  # one C++ call for a whole group

from gradtrace.capture.values import HIST_BINS, _round_sig, dtype_name, fmt, summarize
from gradtrace.trace.protocol import PREVIEW_LIMIT

BATCH_LIMIT = 4096  # larger tensors are summarised at once with torch reductions
_FLUSH_AT = 4_000_000  # pending elements that trigger a flush, to bound what is held

_FLOATS = {torch.float16, torch.bfloat16, torch.float32, torch.float64}
_BATCHED = _FLOATS | {torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool}
_CPU = torch.device("cpu")
_STRIDED = torch.strided


class SummaryBatch:
    def __init__(self):
        # (device, dtype) -> its pending (summary, tensor, values_limit, histogram, numel)
        self._groups: dict[tuple, list[tuple[dict, torch.Tensor, int, bool, int]]] = {}
        self._pending_elements = 0
        self.busy = False  # a flush is running (a timer's signal handler may want one too)

    def of(self, t: torch.Tensor, values_limit: int = PREVIEW_LIMIT,
           histogram: bool = False, hold: bool = False) -> dict:
        """The summary of ``t`` as it is now; filled in by the next ``flush()``. With
        ``histogram``, a tensor too big to list gets one (it costs a pass over the values, so
        only the variables' summaries ask for it). With ``hold``, the caller promises that ``t``
        stays unchanged until that flush, so it is kept by reference instead of copied."""
        n = t.numel()
        dtype = t.dtype
        if 0 < n <= BATCH_LIMIT and dtype in _BATCHED and t.layout is _STRIDED and not t.is_meta:
            out: dict = {}
            key = (t.device, dtype)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = []
            # A copy stays on its device: the flush copies a group to the CPU at once, instead of
            # waiting for the GPU once a tensor.
            group.append((out, t if hold else t.detach().clone(), values_limit, histogram, n))
            self._pending_elements += n
            if self._pending_elements > _FLUSH_AT:
                self.flush()
            return out
        return summarize(t, values_limit, histogram)

    def flush(self) -> None:
        """Fill every pending summary."""
        self.busy = True
        try:
            groups, self._groups, self._pending_elements = self._groups, {}, 0
            with torch.no_grad():
                for (device, dtype), group in groups.items():
                    _fill_group(group, str(device), dtype)
        finally:
            self.busy = False


def _fill_group(group: list, device: str, dtype: torch.dtype) -> None:
    """One (device, dtype): laid end to end, copied to the CPU once, then segment reductions
    over all of them (numpy's reduceat: one pass each)."""
    tensors = [entry[1] for entry in group]
    flat = _flatten_dense_tensors(tensors)
    if dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds each value exactly
        flat = flat.float()
    elif dtype == torch.bool:  # counted, and listed, as 0 and 1
        flat = flat.to(torch.uint8)
    native = flat.to(_CPU).numpy()
    is_float = dtype in _FLOATS
    values64 = native if native.dtype == np.float64 else native.astype(np.float64)
    lengths = np.array([entry[4] for entry in group], dtype=np.int64)
    starts = np.zeros(len(group), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    nan_count = inf_count = np.zeros(len(group), dtype=np.int64)
    if is_float and not np.isfinite(values64).all():  # rare: count, then keep NaNs out
        nan = np.isnan(values64)
        nan_count = np.add.reduceat(nan, starts)
        inf_count = np.add.reduceat(np.isinf(values64), starts)
        low_src, high_src, clean = (np.where(nan, np.inf, values64),
                                    np.where(nan, -np.inf, values64), np.where(nan, 0.0, values64))
    else:
        low_src = high_src = native if not is_float else values64  # integers: exact min, max
        clean = values64
    valid = lengths - nan_count
    lows, highs = np.minimum.reduceat(low_src, starts), np.maximum.reduceat(high_src, starts)
    with np.errstate(all="ignore"):
        means = np.add.reduceat(clean, starts) / valid
        norms = np.sqrt(np.add.reduceat(clean * clean, starts))
    bounds = np.stack([lows.astype(np.float64), highs.astype(np.float64)], axis=1)
    if is_float:
        lows, highs = _json_numbers(_round_sig(lows)), _json_numbers(_round_sig(highs))
    else:
        lows, highs = lows.tolist(), highs.tolist()  # Python ints, exact
    means, norms = _json_numbers(_round_sig(means)), _json_numbers(_round_sig(norms))
    listed = lengths <= np.array([e[2] for e in group], dtype=np.int64)
    shown = _listed_values(native, values64, lengths, listed, dtype)
    wanted = np.array([e[3] for e in group], dtype=bool)
    binned = wanted & ~listed & (inf_count == 0) & (valid > 0)
    hists = iter(_histograms(values64, lengths, binned, bounds) if binned.any() else ())
    dtype_text = dtype_name(dtype)
    rows = zip(group, lows, highs, means, norms, valid.tolist(), nan_count.tolist(),
               inf_count.tolist(), listed.tolist(), binned.tolist(), strict=True)
    offset = 0
    for ((out, t, _, _, n), low, high, mean, norm, n_valid, n_nan, n_inf, show, hist) in rows:
        if n_valid == 0:  # nothing but NaN: no statistics
            low = high = mean = norm = None
        out["shape"] = list(t.shape)  # (item by item: a third faster than update())
        out["dtype"] = dtype_text
        out["device"] = device
        out["numel"] = n
        out["min"] = low
        out["max"] = high
        out["mean"] = mean
        out["norm"] = norm
        out["nan"] = n_nan
        out["inf"] = n_inf
        if show:
            chunk = shown[offset:offset + n]
            offset += n
            out["values"] = [fmt(v) for v in chunk.tolist()] if n_nan or n_inf else chunk
        if hist:
            out["hist"] = next(hists)


def _listed_values(native: np.ndarray, values64: np.ndarray, lengths: np.ndarray,
                   listed: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """The elements of the summaries that list them, end to end, as the wire will carry them:
    float16 and float32 (bfloat16 as float32) as they are, float64 rounded to 7 significant
    digits, integers exact (booleans as 0 and 1)."""
    if not listed.any():
        return native[:0]
    chosen = np.repeat(listed, lengths)
    if dtype == torch.float64:
        return _round_sig(values64[chosen])
    return native[chosen]


def _histograms(values: np.ndarray, lengths: np.ndarray, chosen: np.ndarray,
                bounds: np.ndarray) -> list:
    """HIST_BINS counts per chosen segment over its exact [min, max] (rows of ``bounds``), with
    one bincount for them all."""
    values = values[np.repeat(chosen, lengths)]
    segment = np.repeat(np.arange(int(chosen.sum())), lengths[chosen])
    bounds = bounds[chosen]
    lo, hi = bounds[segment, 0], bounds[segment, 1]
    with np.errstate(all="ignore"):
        bins = np.floor((values - lo) / (hi - lo) * HIST_BINS)
    bins = np.clip(np.nan_to_num(bins, nan=0.0), 0, HIST_BINS - 1).astype(np.int64)
    keep = ~np.isnan(values)
    counts = np.bincount(segment[keep] * HIST_BINS + bins[keep], minlength=len(bounds) * HIST_BINS)
    return counts.reshape(-1, HIST_BINS).tolist()


def _json_numbers(a: np.ndarray) -> list:
    """Numbers as a Python list, NaN and infinities spelled as JSON-safe strings."""
    if np.isfinite(a).all():
        return a.tolist()
    return [fmt(v) for v in a.tolist()]

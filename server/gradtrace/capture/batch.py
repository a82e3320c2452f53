"""Summaries in bulk: snapshot now, compute later, all at once.

A run asks for thousands of summaries of small tensors (every op output, every gradient on every
edge). Computing each on the spot costs several torch calls per tensor. Instead ``of()`` copies
the tensor's current values into a float64 snapshot (one call) and hands back the summary dict
to be filled; ``flush()`` then computes every pending summary with a handful of segment
reductions (numpy's reduceat) over all snapshots together. The copy is what makes this honest:
later in-place changes cannot reach a snapshot, so a summary still says what the tensor held when
it was captured.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch._utils import _flatten_dense_tensors  # one C++ call for a whole group

from gradtrace.capture.values import (
    HIST_BINS,
    _round_sig,
    dtype_name,
    fmt,
    summarize,
)
from gradtrace.protocol import PREVIEW_LIMIT

BATCH_LIMIT = 4096  # larger tensors are summarised at once with torch reductions
_FLUSH_AT = 4_000_000  # pending elements that trigger a flush, to bound snapshot memory


_FLOATS = {torch.float16, torch.bfloat16, torch.float32, torch.float64}
_BATCHED = _FLOATS | {torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool}
_CPU = torch.device("cpu")
_STRIDED = torch.strided


_LIST_LIMIT = 64  # 0-d and 1-d tensors up to this size are snapshotted with tolist()


class SummaryBatch:
    def __init__(self):
        # (summary, values, values_limit, is_float, histogram) for each pending summary
        self._tensors: list[tuple[dict, torch.Tensor, int, bool, bool]] = []
        self._lists: list[tuple[dict, list, int, bool, bool]] = []
        self._held: list[tuple[dict, torch.Tensor, int, bool, bool]] = []
        self._pending_elements = 0
        self._kinds: dict = {}
        self.busy = False  # a flush is running (a timer's signal handler may want one too)

    def of(self, t: torch.Tensor, values_limit: int = PREVIEW_LIMIT,
           histogram: bool = False, hold: bool = False) -> dict:
        """The summary of ``t`` as it is now; filled in by the next ``flush()``. With
        ``histogram``, a tensor too big to list gets one (it costs a pass over the values, so
        only the variables' summaries ask for it). With ``hold``, the caller promises that ``t``
        stays unchanged until that flush, so it is kept by reference instead of copied."""
        n = t.numel()
        dtype = t.dtype
        if 0 < n <= BATCH_LIMIT and dtype in _BATCHED and t.layout is _STRIDED:
            device = t.device
            kind = self._kinds.get((device, dtype))  # (its device's name, its dtype's)
            if kind is None:
                kind = self._kinds[device, dtype] = (str(device), dtype_name(dtype))
            if device.type != "meta":
                out = {"shape": list(t.shape), "dtype": kind[1], "device": kind[0], "numel": n}
                if hold:
                    self._held.append((out, t, values_limit, dtype in _FLOATS, histogram))
                elif n <= _LIST_LIMIT and t.ndim <= 1 and device.type == "cpu":
                    # Small vectors: tolist() is a copy too, and five times cheaper.
                    values = t.tolist()
                    self._lists.append((out, values if t.ndim else [values], values_limit,
                                        dtype in _FLOATS, histogram))
                else:  # on a GPU, a snapshot stays there: the flush copies them all at once,
                    # instead of waiting for the GPU once a tensor
                    snapshot = t.detach().to(_CPU if device.type == "cpu" else device,
                                             torch.float64, copy=True,
                                             memory_format=torch.contiguous_format)
                    self._tensors.append((out, snapshot, values_limit, dtype in _FLOATS,
                                          histogram))
                self._pending_elements += n
                if self._pending_elements > _FLUSH_AT:
                    self.flush()
                return out
        return summarize(t, values_limit, histogram)

    def flush(self) -> None:
        """Fill every pending summary."""
        self.busy = True
        try:
            self._flush()
        finally:
            self.busy = False

    def _flush(self) -> None:
        tensors, lists, held = self._tensors, self._lists, self._held
        self._tensors, self._lists, self._held, self._pending_elements = [], [], [], 0
        if held or tensors:
            _fill_tensors(held + tensors)
        if lists:
            flat = np.fromiter(itertools.chain.from_iterable(p[1] for p in lists),
                               dtype=np.float64)
            _fill(lists, flat, [len(p[1]) for p in lists])


def _fill_tensors(pending: list) -> None:
    """Summaries of tensors, held by reference or snapshotted: one concatenation and one copy to
    float64 on the CPU per (device, dtype), instead of a copy per tensor (a CPU snapshot's copy
    is free: it is float64 on the CPU already)."""
    groups: dict = {}
    for entry in pending:
        t = entry[1]
        groups.setdefault((t.device, t.dtype), []).append(entry)
    with torch.no_grad():
        for group in groups.values():
            flat = _flatten_dense_tensors([entry[1] for entry in group])
            _fill(group, flat.to(_CPU, torch.float64).numpy(), [e[1].numel() for e in group])


def _fill(pending, flat: np.ndarray, sizes: list[int]) -> None:
    """Segment reductions over all snapshots laid end to end (numpy's reduceat: one pass each)."""
    lengths = np.array(sizes, dtype=np.int64)
    starts = np.zeros(len(pending), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    nan_count = inf_count = np.zeros(len(pending), dtype=np.int64)
    if not np.isfinite(flat).all():  # rare: count, then keep NaNs out of the statistics
        nan = np.isnan(flat)
        nan_count = np.add.reduceat(nan, starts)
        inf_count = np.add.reduceat(np.isinf(flat), starts)
        flat_lo, flat_hi, clean = (np.where(nan, np.inf, flat), np.where(nan, -np.inf, flat),
                                   np.where(nan, 0.0, flat))
    else:
        flat_lo = flat_hi = clean = flat
    valid = lengths - nan_count
    with np.errstate(all="ignore"):
        means = np.add.reduceat(clean, starts) / valid
        norms = np.sqrt(np.add.reduceat(clean * clean, starts))
    exact = np.stack([np.minimum.reduceat(flat_lo, starts), np.maximum.reduceat(flat_hi, starts),
                      means, norms], axis=1)
    stats = _json_numbers(_round_sig(exact))
    listed = lengths <= np.array([p[2] for p in pending], dtype=np.int64)
    rounded: list = []
    whole: list = []  # integers are listed as they are
    if listed.any():  # round only the elements that will be listed
        chosen = flat[np.repeat(listed, lengths)]
        rounded = _round_sig(chosen).tolist()
        if not all(p[3] for p in pending):
            whole = chosen.tolist()
    listed_lengths = lengths * listed
    offsets = np.cumsum(listed_lengths) - listed_lengths  # where each listed run starts
    wanted = np.array([p[4] for p in pending], dtype=bool)
    binned = wanted & ~listed & (inf_count == 0) & (valid > 0)
    hists = iter(_histograms(flat, lengths, binned, exact) if binned.any() else [])
    rows = zip(pending, stats, exact.tolist(), valid.tolist(), nan_count.tolist(),
               inf_count.tolist(), offsets.tolist(), listed.tolist(), binned.tolist(), strict=True)
    for ((out, _, _, is_float, _), (low, high, mean, norm), (lowest, highest, _, _), n_valid,
         n_nan, n_inf, start, show, hist) in rows:
        if n_valid == 0:
            out.update(min=None, max=None, mean=None, norm=None, nan=n_nan, inf=n_inf)
        elif is_float:
            out.update(min=low, max=high, mean=mean, norm=norm, nan=n_nan, inf=n_inf)
        else:
            out.update(min=int(lowest), max=int(highest), mean=mean, norm=norm, nan=n_nan,
                       inf=n_inf)
        if show:
            if not is_float:
                chunk = [int(v) for v in whole[start:start + out["numel"]]]
            else:
                chunk = rounded[start:start + out["numel"]]
                if n_nan or n_inf:
                    chunk = [fmt(v) for v in chunk]
            out["values"] = chunk
        if hist:
            out["hist"] = next(hists)


def _histograms(flat: np.ndarray, lengths: np.ndarray, chosen: np.ndarray,
                exact: np.ndarray) -> list:
    """HIST_BINS counts per chosen segment over its exact [min, max] (rows of ``exact``), with
    one bincount for them all."""
    values = flat[np.repeat(chosen, lengths)]
    segment = np.repeat(np.arange(int(chosen.sum())), lengths[chosen])
    bounds = exact[chosen, :2]
    lo, hi = bounds[segment, 0], bounds[segment, 1]
    with np.errstate(all="ignore"):
        bins = np.floor((values - lo) / (hi - lo) * HIST_BINS)
    bins = np.clip(np.nan_to_num(bins, nan=0.0), 0, HIST_BINS - 1).astype(np.int64)
    keep = ~np.isnan(values)
    counts = np.bincount(segment[keep] * HIST_BINS + bins[keep], minlength=len(bounds) * HIST_BINS)
    return counts.reshape(-1, HIST_BINS).tolist()


def _json_numbers(a: np.ndarray) -> list:
    """Rows of numbers as Python lists, NaN and infinities spelled as JSON-safe strings."""
    if np.isfinite(a).all():
        return a.tolist()
    return [[fmt(v) for v in row] for row in a.tolist()]

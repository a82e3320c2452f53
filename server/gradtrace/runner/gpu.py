"""The worker's side of CUDA: start it, say which devices it found, and cap a run's GPU memory.

Imported only by workers spawned for CUDA, never by the server or the zygote: a process that has
started CUDA cannot fork a working child, and asking a GPU its name starts CUDA.
"""

from __future__ import annotations

MiB = 1 << 20


def start_cuda() -> dict:
    """Start CUDA in this process, context included, so that a run does not wait for it.
    ``{"devices": [{id, name, memory_mb, capability}]}``, or ``{"problem": why not}``."""
    import torch

    if not torch.backends.cuda.is_built():
        return {"problem": f"this torch ({torch.__version__}) was built without CUDA"}
    try:
        if torch.cuda.device_count() == 0:
            return {"problem": "torch found no CUDA device (the driver sees no GPU)"}
        _warm_up(torch)
        devices = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append({"id": f"cuda:{index}", "name": props.name,
                            "memory_mb": props.total_memory // MiB,
                            "capability": f"{props.major}.{props.minor}"})
    except Exception as exc:  # a broken driver, a missing device node, a GPU in use
        return {"problem": f"CUDA did not start: {type(exc).__name__}: {exc}"[:400]}
    return {"devices": devices}


def _warm_up(torch) -> None:
    """What a run's first CUDA op would otherwise wait for: the context, cuBLAS's handle and
    autograd's thread for the device. Then the cache is emptied: the run starts with the GPU as
    it found it."""
    a = torch.ones(2, 2, device="cuda", requires_grad=True)
    (a @ a).sum().backward()
    torch.cuda.synchronize()
    del a
    torch.cuda.empty_cache()


def cap_memory(limit_mb: int, share: float) -> int:
    """Hold this process's tensors on cuda:0 to ``limit_mb`` (0: ``share`` of the GPU), and
    return the cap in MiB. Past it, an allocation raises torch.OutOfMemoryError (the doctor's
    `memory_limit`), however much the GPU has free. The snippet cannot lift the cap through
    torch's API; ctypes into the CUDA runtime can get round it, so it bounds mistakes, not
    attacks (the GPU has no per-process limit the kernel enforces)."""
    import torch

    total = torch.cuda.get_device_properties(0).total_memory
    fraction = memory_fraction(limit_mb, share, total)
    torch.cuda.set_per_process_memory_fraction(fraction, 0)
    cap_mb = int(fraction * total) // MiB

    def refused(*args, **kwargs):
        raise RuntimeError(f"gradtrace holds this run to {cap_mb} MiB of GPU memory: the cap "
                           "cannot be changed from a snippet")

    torch.cuda.set_per_process_memory_fraction = refused
    torch.cuda.memory.set_per_process_memory_fraction = refused
    torch._C._cuda_setMemoryFraction = refused
    return cap_mb


def memory_fraction(limit_mb: int, share: float, total_bytes: int) -> float:
    """The fraction of a GPU of ``total_bytes`` a run may use: ``limit_mb`` of it, or when that
    is 0, ``share`` of it."""
    if limit_mb <= 0:
        return min(1.0, max(share, 0.0))
    return min(1.0, limit_mb * MiB / total_bytes)

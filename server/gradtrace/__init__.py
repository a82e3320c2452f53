"""gradtrace: an interactive autograd visualiser for PyTorch.

``gradtrace.record`` records code in your own process (inprocess.py). It is imported when first
used: the server imports this package and must not import torch.
"""

__version__ = "0.1.0"
__all__ = ["record"]


def __getattr__(name: str):
    if name == "record":
        from gradtrace.inprocess import record

        return record
    raise AttributeError(f"module 'gradtrace' has no attribute {name!r}")

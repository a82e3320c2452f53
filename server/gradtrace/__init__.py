"""gradtrace: an interactive autograd visualiser for PyTorch.

``gradtrace.record`` records code in your own process (api/recording.py), and ``%load_ext
gradtrace`` gives a notebook the ``%%gradtrace`` cell magic (api/notebook.py). Both are imported
when first used: the server imports this package and must not import torch.
"""

__version__ = "0.1.0"
__all__ = ["load_ipython_extension", "record"]


def __getattr__(name: str):
    if name == "record":
        from gradtrace.api.recording import record

        return record
    raise AttributeError(f"module 'gradtrace' has no attribute {name!r}")


def load_ipython_extension(ipython) -> None:
    """``%load_ext gradtrace``: the ``%%gradtrace`` cell magic."""
    from gradtrace.api.notebook import load_ipython_extension

    load_ipython_extension(ipython)

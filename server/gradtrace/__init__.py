"""gradtrace: an interactive autograd visualiser for PyTorch."""

__version__ = "0.1.0"

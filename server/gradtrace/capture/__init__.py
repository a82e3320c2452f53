"""Capture: run a snippet and record exactly what PyTorch did. Imports torch, never Flask."""

from gradtrace.capture.run import capture
from gradtrace.capture.session import CaptureConfig

__all__ = ["CaptureConfig", "capture"]

"""Runs snippets in child processes with limits, so a snippet can never hang or crash its caller."""

from gradtrace.runner.process import RunLimits, run_snippet

__all__ = ["RunLimits", "run_snippet"]

"""gradtrace in the user's own process: gradtrace.record (recording) and the %%gradtrace
notebook magic (notebook)."""

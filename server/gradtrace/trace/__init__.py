"""The trace document: its schema and events (protocol), their wire form (wire), the checks
on what a worker or Redis sends (untrusted), JSON (jsonio), the CLI's report, and pass specs."""

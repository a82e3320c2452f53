"""The worker: a child process that runs one snippet under capture and writes its trace document.

Protocol: a JSON request on stdin ``{code, device, limits}``; on the file descriptor passed as
argv[1], the line "started" when the snippet starts, then the trace document as one JSON line.
File descriptors 1 and 2 go to a temp file, so output that bypasses Python (C++ warnings,
os.write) cannot corrupt the document and is still reported.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile


def main(argv: list[str]) -> int:
    gc.disable()  # a worker lives for one run: collections would only slow the document down
    result_fd = int(argv[1])
    request = json.loads(sys.stdin.read())
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0: the snippet sees no stdin
    workdir = tempfile.mkdtemp(prefix="gradtrace-run-")
    os.chdir(workdir)
    raw_output = open(os.path.join(workdir, ".fd-output"), "w+b")  # noqa: SIM115
    os.dup2(raw_output.fileno(), 1)
    os.dup2(raw_output.fileno(), 2)

    from gradtrace.capture import capture
    from gradtrace.protocol import document
    from gradtrace.runner.limits import RunLimits

    limits = RunLimits(**request.get("limits", {}))
    limits.apply()
    result = os.fdopen(result_fd, "w")
    result.write("started\n")  # the parent starts the snippet's clock here
    result.flush()
    trace = capture(request["code"], device=request.get("device", "cpu"),
                    output_limit=limits.output_chars)
    raw_output.seek(0)
    extra = raw_output.read(limits.output_chars).decode("utf-8", "replace")
    if extra:
        trace.stdout += extra
    with result:
        json.dump(document(trace), result, separators=(",", ":"))
        result.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

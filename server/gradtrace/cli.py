"""The command line: `gradtrace` / `gradtrace serve` and `gradtrace trace FILE`.

Exit codes of `trace`: 0 when the snippet ran to the end; 1 when it raised, timed out or hit a
limit (the document is still printed, with ``error`` set); 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys

from gradtrace.trace.passplan import DEFAULT as DEFAULT_PASSES
from gradtrace.trace.passplan import PassSpecError, parse_passes

DEVICES = ("cpu", "cuda")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradtrace", description=(
        "An interactive autograd visualiser for PyTorch."))
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="start the web app (the default)")
    serve.add_argument("--host", default=None,
                       help="the address to listen on (127.0.0.1; 0.0.0.0 with --classroom)")
    serve.add_argument("--classroom", action="store_true",
                       help="a room: the presenter's link leads, viewers' links watch")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--timeout", type=float, default=30.0, help="seconds a run may take")
    serve.add_argument("--redis", metavar="URL", default=None,
                       help="serve one classroom from several processes, sharing it through "
                            "Redis (redis://127.0.0.1:6379/0); needs `pip install redis`")
    serve.add_argument("--cuda-workers", type=int, default=2, metavar="N",
                       help="CUDA workers kept warm, CUDA started, for CUDA runs (2; 0 turns "
                            "CUDA off)")
    serve.add_argument("--gpu-memory", type=int, default=None, metavar="MiB",
                       help="GPU memory one CUDA run may use (80%% of the GPU)")
    serve.add_argument("--cpus", type=_cores, default=None, metavar="N",
                       help="cores one run may use, and the torch threads it runs (1 in a "
                            "classroom; else half this machine's)")
    serve.add_argument("--max-per-address", type=int, default=None,
                       help="connections one address may hold (32; raise it for a classroom "
                            "behind one NAT address)")
    trace = sub.add_parser("trace", help="run a snippet and report its autograd trace")
    trace.add_argument("file", help="a Python file, or - for standard input")
    trace.add_argument("--json", action="store_true", help="print the trace document as JSON")
    trace.add_argument("--html", metavar="OUT", default=None,
                       help="also write the run as one HTML file that replays it in a browser, "
                            "with no server")
    trace.add_argument("--timeout", type=float, default=30.0, help="seconds the snippet may take")
    trace.add_argument("--device", choices=DEVICES, default="cpu")
    trace.add_argument("--passes", default=None, metavar="SPEC",
                       help="which backward passes of a loop to record in full: items such as "
                            "first10, last10, sample (passes 15, 31, 63, ...), every50, 7, "
                            f"100-110 or all, comma-separated (default: {DEFAULT_PASSES})")
    trace.add_argument("--cpus", type=_cores, default=None, metavar="N",
                       help="cores the run may use, and the torch threads it runs (default: "
                            "all of this machine's, as a plain run has)")
    trace.add_argument("--no-seed", action="store_true",
                       help="leave torch, random and numpy unseeded (a run is seeded with 0 "
                            "unless this is given)")
    opened = sub.add_parser("open", help="show a saved run (a trace JSON or a standalone HTML "
                                         "file) in the browser, read-only")
    opened.add_argument("file", help="a trace JSON, or a standalone HTML file gradtrace saved")
    opened.add_argument("--port", type=int, default=0, help="the port (default: any free one)")
    opened.add_argument("--no-browser", action="store_true",
                        help="print the address, and open no browser")
    return parser


def _cores(text: str) -> float:
    try:
        cores = float(text)
    except ValueError:
        cores = 0
    if not 1 <= cores <= 256:
        raise argparse.ArgumentTypeError(f"--cpus takes a number of cores from 1, not {text!r}")
    return cores


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["serve", *argv]  # `gradtrace` alone, or with serve's flags, is `gradtrace serve`
    args = parser.parse_args(argv)
    if args.command == "trace":
        return trace_command(args, parser)
    if args.command == "open":
        return open_command(args, parser)
    return serve_command(args)


def open_command(args, parser) -> int:
    from pathlib import Path

    from gradtrace.web.opened import page_for, server

    try:
        page = page_for(Path(args.file))
    except OSError as exc:
        parser.error(f"cannot read {args.file}: {exc.strerror or exc}")
    except ValueError as exc:
        parser.error(str(exc))
    try:
        httpd = server(page, args.port)
    except OSError as exc:
        parser.error(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}")
    url = f"http://127.0.0.1:{httpd.server_port}/"
    print(f"gradtrace is showing {args.file} at {url} (read-only; Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


def trace_command(args, parser) -> int:
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    if args.passes is not None:
        try:
            parse_passes(args.passes)
        except PassSpecError as exc:
            parser.error(str(exc))
    try:
        code = sys.stdin.read() if args.file == "-" else _read(args.file)
    except OSError as exc:
        parser.error(f"cannot read {args.file}: {exc.strerror or exc}")
    from gradtrace.runner import RunLimits, run_snippet
    from gradtrace.runner.process import collector_paused
    from gradtrace.trace import jsonio
    from gradtrace.trace.report import render

    events: list[dict] = []
    limits = RunLimits(timeout=args.timeout, cpus=args.cpus or os.cpu_count() or 1)
    doc = run_snippet(code, device=args.device, limits=limits, passes=args.passes,
                      events=events, seed=None if args.no_seed else 0)
    if args.html:
        from gradtrace.web.standalone import prints_of, saved_run

        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(saved_run(doc, prints_of(events), code))
        except OSError as exc:
            print(f"gradtrace: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.json:  # encoded whole, written once: json.dump makes a write per token
        with collector_paused():
            sys.stdout.flush()
            sys.stdout.buffer.write(jsonio.dumps(doc) + b"\n")
    else:
        sys.stdout.write(render(doc, args.file))
    return 1 if doc.get("error") else 0


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def serve_command(args) -> int:
    import ipaddress

    import segno

    from gradtrace.web.app import create_app
    from gradtrace.web.serving import ConnectionCaps, serve

    if args.timeout <= 0:
        print("gradtrace: --timeout must be a positive number of seconds", file=sys.stderr)
        return 2
    args.host = args.host or ("0.0.0.0" if args.classroom else "127.0.0.1")
    room, token = (secrets.token_urlsafe(6) if args.classroom else None), None
    if args.redis:
        try:
            room, token = _shared_room(args)
        except RuntimeError as exc:
            print(f"gradtrace: {exc}", file=sys.stderr)
            return 2
    # a classroom's links are for other machines: a wildcard host is named by an address of this one
    base = f"http://{_url_host(_reachable(args.host) if room else args.host)}:{args.port}/"
    viewer = f"{base}?room={room}"
    app = create_app({"TIMEOUT": args.timeout, "HOST": args.host, "ROOM": room,
                      "VIEWER_URL": viewer if room else None, "TOKEN": token,
                      "REDIS": args.redis, "CUDA_POOL": max(args.cuda_workers, 0),
                      "GPU_MEMORY_MB": args.gpu_memory,
                      "RUN_CPUS": args.cpus or (1 if room else max((os.cpu_count() or 1) // 2,
                                                                   1))})
    isolation = app.extensions["gradtrace"].isolation
    if not isolation.sandboxed:
        print("gradtrace: WARNING: runs are NOT sandboxed here: "
              f"{'; '.join(isolation.problems)}. A snippet can do anything your user can.",
              file=sys.stderr, flush=True)
        if not _is_loopback(args.host, ipaddress):
            print(f"gradtrace: refusing to listen on {args.host} without a sandbox; use "
                  "127.0.0.1", file=sys.stderr)
            app.extensions["gradtrace"].close()
            return 2
    if room:  # a contract: these two lines, as they are; then the viewer link as a QR code
        print(f"presenter: {base}?room={room}&token={app.config['TOKEN']}", flush=True)
        print(f"viewer: {viewer}", flush=True)
        segno.make(viewer, error="m").terminal(out=sys.stdout, compact=True)
        sys.stdout.flush()
    else:
        print(f"gradtrace is running at {base}?token={app.config['TOKEN']}", flush=True)
    per_address = args.max_per_address or app.config["MAX_CONNECTIONS_PER_ADDRESS"]
    caps = ConnectionCaps(app.config["MAX_CONNECTIONS"], per_address)
    # SIGTERM ends the server as Ctrl-C does, through the `finally`: its runs and their cgroups
    # are cleared away, not left behind
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        serve(app, args.host, args.port, caps)
    finally:
        app.extensions["gradtrace"].close()
    return 0


def _shared_room(args) -> tuple[str, str]:
    """The room and token of the classroom on ``args.redis``: made by the first process, read by
    the others. RuntimeError says why there is none."""
    if not args.classroom:
        raise RuntimeError("--redis shares a classroom between processes: add --classroom")
    try:
        import redis
    except ImportError:
        raise RuntimeError("--redis needs the redis package: pip install redis") from None
    from gradtrace.web.roomstore import claim_room

    try:
        return claim_room(args.redis)
    except (redis.RedisError, ValueError) as exc:
        raise RuntimeError(f"cannot use Redis at {args.redis}: {exc}") from None


def _reachable(host: str) -> str:
    """The address others use: for every interface, this machine's first address that is not
    loopback (what /etc/hosts or DNS gives its name), else its name."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    name = socket.gethostname()
    try:
        found = [info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)]
    except OSError:
        found = []
    return next((a for a in found if not a.startswith("127.")), name)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _is_loopback(host: str, ipaddress) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

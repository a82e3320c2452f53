"""Runs the DOM-free JavaScript modules' tests (tests/js) with node; the protocol test gets
events from real captures."""

import json
import shutil
import subprocess

import pytest

from conftest import ROOT, example_paths
from gradtrace.capture import capture
from gradtrace.capture.stream import EventStream
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import DIAGNOSIS_CODES, EVENT_TYPES, SCHEMA, document, rebuild
from gradtrace.web.kept import KeptRun


def test_node_tests(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    fixture = []
    for path in example_paths():
        events: list = []
        trace = capture(path.read_text(), stream=EventStream(events.extend))
        events = jsonio.loads(jsonio.dumps(events))
        relayed = jsonio.loads(jsonio.dumps(events))  # as the server passes them on to a page
        KeptRun().strip(relayed)
        fixture.append({"name": path.name, "events": events,
                        "document": jsonio.loads(jsonio.dumps(document(trace))),
                        "relayed": relayed, "relayed_document": rebuild(relayed)})
    (tmp_path / "events.json").write_text(json.dumps(fixture))
    names = {"schema": SCHEMA, "event_types": EVENT_TYPES, "diagnosis_codes": DIAGNOSIS_CODES}
    (tmp_path / "names.json").write_text(json.dumps(names))
    env = {"GRADTRACE_EVENTS_FIXTURE": str(tmp_path / "events.json"),
           "GRADTRACE_PROTOCOL_NAMES": str(tmp_path / "names.json"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([node, "--test", str(ROOT / "tests/js")], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = int(result.stdout.split("# pass ")[1].split()[0])
    assert passed >= 5 and "# fail 0" in result.stdout, result.stdout

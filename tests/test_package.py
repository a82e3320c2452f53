"""gradtrace as pip installs it from a wheel, not from this checkout: the page, its template and
the examples travel with the package (pyproject's package-data, through web/'s links)."""

import subprocess
import sys

from conftest import ROOT

USE = """import torch
import gradtrace
from gradtrace.web.app import create_app

assert gradtrace.__file__.startswith({site!r}), gradtrace.__file__
w = torch.ones(2, requires_grad=True)
with gradtrace.record() as run:
    (w * 3).sum().backward()
page = run.save({saved!r}).read_text()
assert '"__GRADTRACE_TRACE__"' not in page and "MulBackward0" in page
app = create_app({{"TOKEN": "t"}})
try:
    http = app.test_client()
    assert http.get("/?token=t").status_code == 200
    assert http.get("/static/js/main.js").status_code == 200
    assert len(http.get("/api/examples").get_json()) > 40
finally:
    app.extensions["gradtrace"].close()
print("installed and working")
"""


def test_the_wheel_carries_the_page_and_works_installed(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(ROOT)], check=True,
                   timeout=300)
    (wheel,) = tmp_path.glob("gradtrace-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, timeout=300)
    script = USE.format(site=str(site), saved=str(tmp_path / "run.html"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env={"PYTHONPATH": str(site),
                                                            "PATH": "/usr/bin:/bin"})
    assert result.stdout == "installed and working\n", result.stderr[-3000:]

"""The standalone page's bundler (standalone.py): the page's modules as one script, in
dependency order, with no import or export left, and a form it cannot read refused by name."""

import shutil
import subprocess

import pytest

from conftest import ROOT
from gradtrace.web.standalone import BundleError, bundle


def test_the_pages_modules_bundle_into_one_script_that_parses(tmp_path):
    text = bundle(ROOT / "static/js")
    assert "import " not in [line.split("{")[0] for line in text.splitlines()]
    def end(name):  # where a module's scope closes
        return "})(); // " + name

    assert text.index(end("view.js")) < text.index(end("canvas.js")) < text.index(end("main.js"))
    assert "const io = null;" in text  # the socket client stays out: the file has no server
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    (tmp_path / "bundle.js").write_text(text)
    result = subprocess.run([node, "--check", str(tmp_path / "bundle.js")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source, problem", [
    ('export default 1;\n', "main.js, line 1: an import or export the bundler does not read"),
    ('import { a } from "../elsewhere/a.js";\n', "only ./module.js is bundled"),
    ('import { a } from "./a.js";\n', "a.js imports itself"),
])
def test_a_form_the_bundler_does_not_read_is_refused(tmp_path, source, problem):
    (tmp_path / "main.js").write_text(source)
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\nexport const a = 1;\n')
    (tmp_path / "b.js").write_text('import { a } from "./a.js";\nexport const b = 2;\n')
    with pytest.raises(BundleError, match=problem):
        bundle(tmp_path)

"""The fast JSON path gives what the standard library would read back, edge cases included."""

import json

import pytest

from gradtrace.trace import jsonio


def test_what_it_writes_reads_back_as_the_standard_librarys_json():
    value = {"b": [1, -2.5, 1e-300, 3.0e38, None, True, "é <b>"], "a": {"nested": []}}
    assert json.loads(jsonio.dumps(value)) == value
    assert list(json.loads(jsonio.dumps(value))) == ["b", "a"]  # key order kept


def test_an_integer_past_64_bits_falls_back():
    assert json.loads(jsonio.dumps({"python_value": 2**100})) == {"python_value": 2**100}


@pytest.mark.parametrize("text", [b"[NaN]", b"[1,", b"\xff", b"[" * 2000 + b"]" * 2000])
def test_what_is_not_strict_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        jsonio.loads(text)

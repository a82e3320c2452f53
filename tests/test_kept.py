"""What the server keeps for `inspect`: the rules, and the cap on a run's memory."""

from gradtrace.kept import KeptRun


def variables_event(n_values: int) -> dict:
    value = {"shape": [n_values], "numel": n_values, "norm": 1.0,
             "values": [0.5] * n_values}
    return {"type": "variables", "variables": [{"name": "w", "value": value, "grad": None}]}


def test_small_summaries_travel_whole_and_big_ones_are_kept():
    run = KeptRun()
    small, big = variables_event(64), variables_event(65)
    run.strip([small])
    assert small["variables"][0]["value"]["values"] == [0.5] * 64
    run.strip([big])
    sent = big["variables"][0]["value"]
    assert sent["kept"] and "values" not in sent and sent["norm"] == 1.0
    assert run.answer({"variable": "w"})["value"]["values"] == [0.5] * 65


def test_a_run_over_the_cap_keeps_nothing_and_says_so():
    run = KeptRun()
    run.strip([variables_event(2_000_000)])  # 2M numbers: about 24 MB of JSON
    assert run.variables == {} and run.saved == {}
    assert "over 16 MiB" in run.answer({"variable": "w"})["error"]
    run.strip([variables_event(100)])  # and keeps nothing after
    assert "over 16 MiB" in run.answer({"variable": "w"})["error"]

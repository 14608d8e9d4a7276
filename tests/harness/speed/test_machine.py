"""The machine a speed record was made on: what makes another machine's evidence STALE.

The class: any change of what decides speed (architecture, CPU model, usable cores, accelerator)
makes a machine-bound claim's record stale; nothing else (load, torch threads, versions, host
name) does, and a claim that is not machine-bound never is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.machine import NOT_RECORDED, machine_info, machine_kind
from harness.provenance import env_info
from harness.status import machine_reason
from tests.harness.speed.test_speed import claim


def _env(**host: Any) -> dict[str, Any]:
    base = {"cpu_model": "AMD EPYC 7B13", "cores": 2, "load_avg": [0.5, 0.4, 0.3],
            "torch_threads": 2}
    return {"machine": "x86_64", "device": "cpu", "device_name": None, "platform": "Linux",
            "host": {**base, **host}}


def test_this_machine_is_described():
    env = env_info()
    assert env["host"]["cores"] >= 1
    assert env["host"]["cpu_model"]
    assert machine_kind(env).startswith(env["machine"])
    assert machine_info()["load_avg"] == env["host"]["load_avg"]  # read once, at start


def test_a_record_without_machine_provenance_is_not_recorded():
    assert machine_kind({"machine": "x86_64", "device": "cpu"}) == NOT_RECORDED
    reasons = machine_reason(claim(), {"env": {"machine": "x86_64"}}, machine_kind(_env()))
    assert len(reasons) == 1
    assert NOT_RECORDED in reasons[0]


@given(change=st.sampled_from(["cpu_model", "cores", "machine", "device"]))
def test_what_decides_speed_makes_the_record_stale(change):
    here = _env()
    there = _env()
    if change == "cpu_model":
        there["host"]["cpu_model"] = "Apple M2 Max"
    elif change == "cores":
        there["host"]["cores"] = 16
    elif change == "machine":
        there["machine"] = "arm64"
    else:
        there.update(device="cuda", device_name="NVIDIA H100 80GB HBM3")
    reasons = machine_reason(claim(), {"env": there}, machine_kind(here))
    assert len(reasons) == 1
    assert machine_kind(there) in reasons[0]
    assert "re-run its falsifier here" in reasons[0]


@given(load=st.lists(st.floats(0, 64), min_size=3, max_size=3), threads=st.integers(1, 64),
       python=st.sampled_from(["3.11.9", "3.12.1"]))
def test_load_threads_and_versions_do_not(load, threads, python):
    there = {**_env(load_avg=load, torch_threads=threads), "python": python}
    assert machine_reason(claim(), {"env": there}, machine_kind(_env())) == []


def test_only_machine_bound_claims_and_only_where_asked():
    there = _env(cpu_model="Apple M2 Max")
    assert machine_reason(replace(claim(), machine_bound=False), {"env": there},
                          machine_kind(_env())) == []
    assert machine_reason(claim(), {"env": there}, None) == []  # renders: no machine

"""Property test of the whole input surface at its edges (issue 36): every numeric field of
scenarios that exercise NR links, OFDMA scheduling, routed backhauls with background traffic,
hierarchical FL, DP, device classes and radio data sets, set to the smallest and the largest
value its range allows (and beyond), either is refused with a ScenarioError naming it, or
builds and runs a round whose event log is finite. Never another exception: the class of
faults this finds is an overflow, a division by zero or a hang deep inside a model (1e308
bandwidth, 1e-300 coherence time), which the bounds on every field now rule out.

Slow (one short run per example): marked ``slow``; CI runs it."""

from __future__ import annotations

import copy
import math
import typing

import annotated_types as at
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from netsim import Simulation
from netsim.scenario import Scenario, ScenarioError, _members
from tests.conftest import TINY

pytestmark = pytest.mark.slow


def _variant(**sections: dict) -> dict:
    data = copy.deepcopy(TINY)
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


# small scenarios that switch on the parts of the model added since the first property test
VARIANTS = {
    "shannon": _variant(),
    "nr_pf": _variant(
        radio={"link": "nr", "scheduler": "pf", "bandwidth_hz": 5e6, "fading": "rayleigh"}
    ),
    "routed": _variant(
        backhaul={
            "kind": "tree",
            "background": [{"src": "core", "dst": "server", "rate_bps": 5e7}],
        },
        protocol={"deadline_s": 5.0},
    ),  # fmt: skip
    "dp": _variant(dp={"level": "client", "noise_multiplier": 0.5}),
    "classes": _variant(
        device={"classes": [{"name": "slow", "pius": [0], "cpu_hz": 1e8}]},
        radio={"fading": "rician", "time_correlation": "jakes"},
    ),
}


# Counts of torch work at the top of their range (a million local steps) are valid and slow
# by the user's choice, not a fault; every other field runs at its largest value.
WORK = {
    "learning.local_steps",
    "learning.batch_size",
    "protocol.rounds",
    "control.c0",
    "control.c_min",
    "control.probe_samples",
    "attack.iterations",
    "attack.restarts",
    "attack.max_samples",
    "allocation.steps_min",
    "allocation.steps_max",
    "learning.radio_data.samples_per_piu",
    "learning.eval_every",
}


def _bounds(info) -> tuple[float | None, float | None]:
    """(lowest, highest) allowed value of a numeric field, from its constraints (also those
    inside an ``Annotated`` member of a union such as ``Seconds | None``)."""
    metadata = list(info.metadata)
    for member in typing.get_args(info.annotation) or (info.annotation,):
        metadata += list(getattr(member, "__metadata__", ()))
        for inner in getattr(member, "__metadata__", ()):
            metadata += list(getattr(inner, "metadata", ()))
    low = high = None
    for m in metadata:
        for kind, attr in ((at.Ge, "ge"), (at.Gt, "gt"), (at.Le, "le"), (at.Lt, "lt")):
            if isinstance(m, kind):
                value = getattr(m, attr)
                if attr in ("ge", "gt"):
                    low = value if attr == "ge" else math.nextafter(value, math.inf)
                else:
                    high = value if attr == "le" else math.nextafter(value, -math.inf)
        for attr in ("ge", "gt", "le", "lt"):  # a pydantic FieldInfo inside Annotated
            value = getattr(m, attr, None)
            if isinstance(value, int | float):
                if attr in ("ge", "gt"):
                    low = value
                else:
                    high = value
    return low, high


def _numeric_leaves(model: BaseModel, prefix: str = "") -> list[tuple[str, object, tuple]]:
    """(dotted path, current value, bounds) of every number of the scenario's active
    sections."""
    found = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            found += _numeric_leaves(value, f"{path}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if any(typing.get_origin(m) is typing.Literal for m in _members(info.annotation)):
                continue  # a choice, not a range
            found.append((path, value, _bounds(info)))
    return found


CASES = sorted(
    {(variant, path, bounds) for variant, data in VARIANTS.items()
     for path, _, bounds in _numeric_leaves(Scenario.from_dict(data))}
)  # fmt: skip


def _set(data: dict, path: str, value: object) -> dict:
    data = copy.deepcopy(data)
    node = data
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return data


def test_every_variant_runs_as_drawn():
    for data in VARIANTS.values():
        Simulation(Scenario.from_dict(data)).run()
    assert len(CASES) > 100  # the leaves of every variant's active sections


@settings(
    max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.sampled_from(CASES), st.sampled_from(["low", "high", "below", "above", "huge", "tiny"]))
def test_a_field_at_or_beyond_its_range_is_refused_or_runs(case, where):
    variant, path, (low, high) = case
    if where == "low" and low is None or where == "high" and high is None:
        return
    value = {"low": low, "high": high, "huge": 1e308, "tiny": 1e-308,
             "below": None if low is None else low - abs(low) - 1.0,
             "above": None if high is None else high + abs(high) + 1.0}[where]  # fmt: skip
    if value is None or where == "high" and path in WORK:
        return
    current = dict((p, v) for p, v, _ in _numeric_leaves(Scenario.from_dict(VARIANTS[variant])))
    if isinstance(current[path], int):
        if not float(value).is_integer() or abs(value) > 2**63:
            return  # a float for an integer is a type error, tested elsewhere
        value = int(value)
    data = _set(VARIANTS[variant], path, value)
    data["protocol"] = {**data.get("protocol", {}), "rounds": 1}
    try:
        scenario = Scenario.from_dict(data)
        result = Simulation(scenario).run()
    except ScenarioError:
        event("refused")
        return
    event("ran")  # refused with its reason (tests/scenario/test_scenario_fuzz.py checks the form)
    ev = result.events
    times = ev["t_s"].to_numpy(dtype=float)
    assert len(times) and np.isfinite(times).all(), (path, value)
    for column in ("duration_s", "energy_j", "bits"):  # NaN where an event has none
        assert not np.isinf(ev[column].to_numpy(dtype=float)).any(), (path, value, column)

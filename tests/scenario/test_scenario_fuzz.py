"""Property test over the whole scenario schema: random overrides (real and misspelt keys;
values of every type, NaN, infinities, huge, negative, empty) either load or raise the
project's own ScenarioError naming a field; never another exception type."""

from __future__ import annotations

import copy
import math
import re
import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from netsim.scenario import Scenario, ScenarioError, _members, apply_overrides, load_scenario

BASE = load_scenario().to_dict()


def _field_paths(cls: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted field path of the schema, through unions of sections."""
    paths: set[str] = set()
    for name, info in cls.model_fields.items():
        path = f"{prefix}{name}"
        paths.add(path)
        for member in _members(info.annotation):
            inner = typing.get_args(member) or (member,)
            for m in inner:
                if isinstance(m, type) and issubclass(m, BaseModel):
                    paths |= _field_paths(m, f"{path}.")
    return paths


PATHS = sorted(_field_paths(Scenario))

scalars = st.one_of(
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.just(1e308),
    st.just(-1e308),
    st.just(10**30),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.just(""),
    st.text(max_size=8),
    st.sampled_from(["none", "file", "grid", "cellfree", "sgd", "mlp", "digits", "../x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
keys = st.one_of(
    st.sampled_from(PATHS),
    st.sampled_from(PATHS).map(lambda p: p[:-1] + "x"),  # misspelt
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=20),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(st.lists(st.tuples(keys, values), min_size=1, max_size=3))
def test_random_overrides_load_or_raise_a_scenario_error_naming_a_field(pairs):
    data = copy.deepcopy(BASE)
    try:
        for key, value in pairs:
            if not key or any(not part for part in key.split(".")):
                continue
            node = data
            parts = key.split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    break
                node = child
            else:
                node[parts[-1]] = value
        Scenario.from_dict(data)
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith("invalid scenario:"), message
        # every line names a field path (or the top level) before its problem
        lines = message.splitlines()[1:]
        assert lines, message
        for line in lines:
            first = re.split(r"[.:= ]", line[2:], maxsplit=1)[0]
            assert line.startswith("  ") and (
                first in data or repr(first) in line or line.startswith("  (top level)")
            ), message


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(PATHS), st.text(max_size=12))
def test_random_set_strings_load_or_raise_a_scenario_error(key, raw):
    try:
        data = copy.deepcopy(BASE)
        apply_overrides(data, [f"{key}={raw}"])
        Scenario.from_dict(data)
    except ScenarioError:
        pass

"""Errors found while building the world, in the schema's form: the field, the value and
what is allowed."""

from __future__ import annotations

from typing import Any

from netsim.scenario import ScenarioError


def field_error(
    field: str, value: Any, allowed: str | None = None, problem: str | None = None
) -> ScenarioError:
    """A :class:`ScenarioError` about ``field = value``: what is allowed, or the problem."""
    if problem is not None:
        return ScenarioError(f"invalid scenario: {field} = {value!r}: {problem}")
    return ScenarioError(
        f"invalid scenario: {field} = {value!r} is not allowed; expected {allowed}"
    )

"""``--set a.b=c`` overrides: applied to the nested dict read from TOML, before validation."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import Any

from netsim.scenario.base import ScenarioError


def _override_list(overrides: Iterable[str]) -> list[str]:
    """``overrides`` as a list, refusing one string (iterated, it would be characters)."""
    if isinstance(overrides, str | bytes):
        raise TypeError(
            f"overrides: a list of 'KEY=VALUE' strings, not one string; pass [{overrides!r}]"
        )
    items = list(overrides)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(
                f"overrides: each one is a 'KEY=VALUE' string such as 'protocol.rounds=5', "
                f"not {type(item).__name__} {item!r:.60}"
            )
    return items


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> None:
    """Apply ``a.b.c=value`` strings to a nested dict in place (validation happens later)."""
    for item in _override_list(overrides):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ScenarioError(
                f"--set '{item}': expected KEY=VALUE with a dotted key, e.g. radio.bandwidth_hz=2e6"
            )
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ScenarioError(f"--set '{item}': '{where}' is a value, not a table")
            node = child
        node[parts[-1]] = _parse_value(item, raw.strip())


def _parse_value(item: str, raw: str) -> Any:
    """The TOML value of ``raw``; a bare word (``tdma``) is taken as a string, but a value
    that starts like TOML (a table, array or quoted string) must be valid TOML."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if raw[:1] in "{[\"'" or not raw:
            raise ScenarioError(
                f"--set '{item}': the value is not valid TOML ({exc}); e.g. "
                "'compression={method = \"topk\", ratio = 0.1}', '[1, 2]' or '\"text\"'"
            ) from None
        return raw

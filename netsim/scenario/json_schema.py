"""The scenario format as JSON Schema (draft 2020-12), generated from the pydantic models.

``netsim schema`` prints it; ``topologies/scenario.schema.json`` holds it next to the bundled
scenarios, whose first line ``#:schema ./scenario.schema.json`` lets editors with TOML
language support (Taplo, Even Better TOML) complete and check a scenario as it is typed. A
user's own file can point at the installed copy (``netsim schema --out FILE`` writes one).
The schema checks fields, types, defaults and allowed values; checks across sections (e.g.
a field only allowed with another's value) stay with ``netsim validate``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from netsim.scenario.schema import Scenario

DIRECTIVE = "#:schema ./scenario.schema.json"  # the first line of every bundled scenario


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (a dict, JSON-ready: strict JSON, no NaN or
    Infinity)."""
    return _finite(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **Scenario.model_json_schema(),
            "title": "netsim scenario",
        }
    )


def _finite(node: Any) -> Any:
    """``node`` without non-finite numbers: JSON has no Infinity, and editors' parsers (Taplo,
    JavaScript's JSON.parse) refuse the whole schema over one. The only such values are defaults
    of inf (a mains-powered battery, also inside a section's default object): dropped, since a
    field absent from the file means the same; the field's description says so."""
    if isinstance(node, dict):
        return {
            key: _finite(value)
            for key, value in node.items()
            if not (isinstance(value, float) and not math.isfinite(value))
        }
    if isinstance(node, list):
        return [_finite(value) for value in node]
    return node


def schema_text() -> str:
    """:func:`scenario_json_schema` as indented JSON text, ending with a newline."""
    return json.dumps(scenario_json_schema(), indent=2, allow_nan=False) + "\n"

"""The reference pages of the documentation, generated from the code: the scenario format
from the pydantic schema, the event log from :mod:`netsim.log`'s tables, the command line
from its argparse parser. ``docs/hooks.py`` puts them into the pages when MkDocs builds
the site, so the reference cannot drift from what the code accepts and writes.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from netsim.cli import _parser
from netsim.log import COLUMN_DOCS, EVENT_TYPES, FLOW_DOCS
from netsim.scenario.json_schema import scenario_json_schema

# a field's unit, read from its name's suffix (SI in code, dB only at the config boundary)
_UNITS = (
    ("_dbm_hz", "dBm/Hz"),
    ("_dbm", "dBm"),
    ("_db", "dB"),
    ("_bps", "bit/s"),
    ("_mps", "m/s"),
    ("_hz", "Hz"),
    ("_s", "s"),
    ("_m", "m"),
    ("_j", "J"),
    ("_w", "W"),
)


_NO_UNIT = frozenset({"krum_m"})  # Krum's m: a count that happens to end in _m


def unit_of(name: str) -> str:
    """The SI unit a field's name declares by its suffix (``bandwidth_hz``: Hz), or ''."""
    if name in _NO_UNIT:
        return ""
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(name: str) -> str:
    return name.lower()


class _Format:
    """The schema, where each definition sits in a scenario file and on which page.

    ``pages``: the site's layout, one page per top-level section (links between tables
    are ``SECTION.md#anchor``, sibling pages); without, one document (``#anchor``).
    """

    def __init__(self, pages: bool) -> None:
        self.schema = scenario_json_schema()
        self.defs: dict[str, Any] = self.schema["$defs"]
        self.places = _reachable(self.schema, self.defs)
        self.labels = {name: place.split(", ")[-1] for name, place in self.places.items()}
        self.pages = pages

    def section_of(self, name: str) -> str:
        """The top-level section a definition belongs to (``radio`` for ``radio.pathloss``)."""
        return re.split(r"[.,\[]", self.places[name], maxsplit=1)[0]

    def sections(self) -> dict[str, list[str]]:
        """Each top-level section that has tables, with its definitions in reading order."""
        found: dict[str, list[str]] = {}
        for name in self.places:
            found.setdefault(self.section_of(name), []).append(name)
        return found

    def link(self, name: str) -> str:
        page = f"{self.section_of(name)}.md" if self.pages else ""
        return f"{page}#{_anchor(name)}"

    def type(self, prop: dict[str, Any]) -> str:
        """A property's type in words, sections linked to their table."""
        if "$ref" in prop:
            name = _ref_name(prop["$ref"])
            return f"[{self.labels.get(name, name)}]({self.link(name)})"
        if "const" in prop:
            return json.dumps(prop["const"])
        if "enum" in prop:
            return " | ".join(json.dumps(v) for v in prop["enum"])
        for key in ("anyOf", "oneOf"):
            if key in prop:
                options = [o for o in prop[key] if o.get("type") != "null"]
                text = " or ".join(self.type(o) for o in options)
                return text + (" or absent" if len(options) < len(prop[key]) else "")
        kind = prop.get("type", "any")
        if kind == "array":
            if "prefixItems" in prop:
                return "[" + ", ".join(self.type(p) for p in prop["prefixItems"]) + "]"
            return f"list of {self.type(prop.get('items', {}))}"
        if kind == "object" and "additionalProperties" in prop:
            value = prop["additionalProperties"]
            return f"table of {self.type(value) if isinstance(value, dict) else 'any'}"
        return {"number": "float", "integer": "int", "boolean": "bool"}.get(kind, kind)

    def table(self, model: dict[str, Any]) -> list[str]:
        """A model's fields: type, default, unit, allowed values, description."""
        lines = [
            "| field | type | default | unit | allowed | description |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        required = set(model.get("required", ()))
        for field, prop in model.get("properties", {}).items():
            row = (
                f"`{field}`",
                self.type(prop),
                _default(prop, field in required),
                unit_of(field),
                _allowed(prop),
                prop.get("description", ""),
            )
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        return [*lines, ""]

    def section(self, section: str, level: int) -> list[str]:
        """A section's tables, one per definition (per kind, for a section with several),
        under headings of ``level``."""
        lines: list[str] = []
        for name in self.sections()[section]:
            model = self.defs[name]
            lines += [f"{'#' * level} `{self.places[name]}` {{#{_anchor(name)}}}", ""]
            if model.get("description"):
                lines += [_cell(model["description"]), ""]
            lines += self.table(model)
        return lines


_INTRO = (
    "Every section is optional; a field left out takes its default. `absent` means the "
    "field is not set (a TOML file leaves it out). A section with several kinds "
    "(`kind`, `model`, `method`, `dist`, ...) has one table per kind. Units come from "
    "the field's name: SI (s, m, Hz, J, W, bit/s), dB and dBm only where the name "
    "says so."
)


def _top_level(fmt: _Format) -> list[str]:
    return ["## Top level", "", *fmt.table({**fmt.schema, "description": ""})]


def scenario_sections() -> list[str]:
    """The top-level sections of the scenario format that have tables, in schema order
    (the site has one page each, ``reference/scenario/SECTION.md``)."""
    return list(_Format(pages=True).sections())


def scenario_index() -> str:
    """Markdown: the site's scenario-format page: the top-level fields and the sections,
    each linked to its page. Each section's row also carries the anchors of its tables,
    so a link to the former one-page reference (``scenario/#radioconfig``) lands on it."""
    fmt = _Format(pages=True)
    lines = [_INTRO, "", *_top_level(fmt), "## Sections", ""]
    lines += ["| section | what it sets | its tables |", "| --- | --- | --- |"]
    descriptions = {f: p.get("description", "") for f, p in fmt.schema["properties"].items()}
    for section, names in fmt.sections().items():
        anchors = "".join(f'<span id="{_anchor(n)}"></span>' for n in names)
        tables: dict[str, list[str]] = {}  # a place in the file -> its kinds' definitions
        for name in names:
            tables.setdefault(fmt.places[name].split(", ")[0], []).append(name)
        listed = ", ".join(
            f"[`{place}`]({fmt.link(kinds[0])})"
            + (f" ({len(kinds)} kinds)" if len(kinds) > 1 else "")
            for place, kinds in tables.items()
        )
        row = (f"{anchors}[`{section}`]({section}.md)", descriptions.get(section, ""), listed)
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join([*lines, ""])


def scenario_section(section: str) -> str:
    """Markdown: the site's page of one top-level section, titled, with its tables."""
    fmt = _Format(pages=True)
    description = fmt.schema["properties"].get(section, {}).get("description", "")
    lines = [f"# Scenario format: `{section}`", ""]
    if description:
        lines += [_cell(description), ""]
    lines += [
        f"Fields of the `[{section}]` table of a scenario file (`--set {section}.FIELD=VALUE`). "
        "Every field is optional and a field left out takes its default; `absent`: not "
        "set. [All sections](index.md).",
        "",
        *fmt.section(section, level=2),
    ]
    return "\n".join(lines)


def scenario_reference() -> str:
    """Markdown: the whole scenario format in one document: one table per section (every
    field, its type, default, unit, allowed values and description), generated from the
    JSON Schema. (The site splits it: :func:`scenario_index`, :func:`scenario_section`.)"""
    fmt = _Format(pages=False)
    lines = [_INTRO, "", *_top_level(fmt), "## Sections and kinds", ""]
    for section in fmt.sections():
        lines += fmt.section(section, level=3)
    return "\n".join(lines)


def _allowed(prop: dict[str, Any]) -> str:
    """Bounds and patterns of a property (its options' too)."""
    parts = []
    for key, op in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in prop:
            parts.append(f"{op} {prop[key]:g}")
    for key, word in (("minItems", "items >="), ("maxItems", "items <=")):
        if key in prop:
            parts.append(f"{word} {prop[key]}")
    if "pattern" in prop:
        parts.append(f"matches `{prop['pattern']}`")
    for key in ("anyOf", "oneOf"):
        for option in prop.get(key, ()):
            inner = _allowed(option)
            if inner:
                parts.append(inner)
    return ", ".join(parts)


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in prop:
        return ""
    value = prop["default"]
    if value is None:
        return "absent"
    if isinstance(value, dict) or (isinstance(value, list) and len(json.dumps(value)) > 40):
        return "see its table"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _reachable(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, str]:
    """Each definition, in the order a reader meets it from the top level (depth first),
    with its place in a scenario file: ``radio.pathloss`` and, for one kind of a section
    with several, its tag (``model = "umi_38901"``); ``[]`` marks an array of them
    (``backhaul.background[]``: TOML's ``[[backhaul.background]]``)."""
    places: dict[str, str] = {}

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None and _ref_name(ref) not in places:
                name = _ref_name(ref)
                model = defs[name]
                tags = [
                    f"{field} = {json.dumps(prop['const'])}"
                    for field, prop in model.get("properties", {}).items()
                    if "const" in prop
                ]
                places[name] = path + (f", {tags[0]}" if tags else "")
                for field, prop in model.get("properties", {}).items():
                    visit(prop, f"{path}.{field}")
            for key, value in node.items():
                if key not in ("$ref", "default", "properties"):
                    visit(value, f"{path}[]" if key == "items" else path)
        elif isinstance(node, list):
            for value in node:
                visit(value, path)

    for field, prop in schema.get("properties", {}).items():
        visit(prop, field)
    return places


def events_reference() -> str:
    """Markdown: the event log's columns and every event type, from :mod:`netsim.log`."""
    lines = [
        "## Columns",
        "",
        "| column | holds |",
        "| --- | --- |",
        *(f"| `{c}` | {_cell(d)} |" for c, d in COLUMN_DOCS.items()),
        "",
        "## Event types",
        "",
        "| event | logged by | meaning |",
        "| --- | --- | --- |",
        *(f"| `{e}` | {roles} | {_cell(d)} |" for e, (roles, d) in EVENT_TYPES.items()),
        "",
        "## The per-flow table",
        "",
        "One row per transfer of a model or an update, derived from the events "
        "(`SimulationResult.flows`, `flows.parquet`, `load_run(...).flows`; "
        "`netsim.log.flow_table`):",
        "",
        "| column | holds |",
        "| --- | --- |",
        *(f"| `{c}` | {_cell(d)} |" for c, d in FLOW_DOCS.items()),
        "",
    ]
    return "\n".join(lines)


def cli_reference() -> str:
    """Markdown: every ``netsim`` command with its arguments, from the argparse parser."""
    lines: list[str] = []
    _commands(_parser(), "netsim", "", lines)
    return "\n".join(lines)


def _commands(parser: argparse.ArgumentParser, prog: str, summary: str, lines: list[str]) -> None:
    """Append ``prog``'s section (a command that takes arguments) and its sub-commands'."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {c.dest: c.help or "" for s in subs for c in s._choices_actions}
    if not subs:
        usage = re.sub(r"\s+", " ", parser.format_usage().replace("usage: ", "")).strip()
        lines += [f"## `{prog}`", ""]
        if summary:
            lines += [_cell(summary), ""]
        lines += [f"```text\n{usage}\n```", ""]
        rows = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
        rows = [a for a in rows if not isinstance(a, argparse._SubParsersAction)]
        if rows:
            lines += ["| argument | meaning |", "| --- | --- |"]
            for action in rows:
                name = ", ".join(action.option_strings) or action.dest
                meaning = action.help or ""
                if action.choices and not isinstance(action.choices, dict):
                    meaning += " (one of: " + ", ".join(map(str, action.choices)) + ")"
                if action.default not in (None, False, [], argparse.SUPPRESS):
                    meaning += f" (default: {action.default})"
                lines.append(f"| `{name}` | {_cell(meaning)} |")
            lines.append("")
    for sub in subs:
        for name, child in sub.choices.items():
            _commands(child, f"{prog} {name}", helps.get(name, ""), lines)

"""Bundled scenarios and studies as starting points: ``netsim list`` and ``netsim init``.

A bundled scenario's leading comment says what it is (its first sentence is the one-line
description ``netsim list`` shows); ``netsim init NAME --from SCENARIO`` copies one, comments
and all, as ``NAME.toml`` with ``name = "NAME"``, and writes the JSON Schema beside it so an
editor completes and checks it (see :mod:`netsim.scenario.json_schema`).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from netsim.scenario.base import ScenarioError
from netsim.scenario.json_schema import DIRECTIVE, schema_text
from netsim.scenario.loading import (
    _bundled_or_path,
    default_scenario_path,
    load_scenario,
    relative_paths,
)


def studies_folder() -> Path:
    """The bundled sweep studies (``topologies/studies``)."""
    return default_scenario_path().parent / "studies"


def description(path: Path, width: int = 88) -> str:
    """The first sentence of the comment block that opens ``path`` (the ``#:schema`` line
    skipped), at most ``width`` characters."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#:"):
            continue
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    match = re.search(r"\.(\s|$)", text)
    sentence = text[: match.start() + 1] if match else text
    return sentence if len(sentence) <= width else sentence[: width - 3].rstrip() + "..."


def catalogue() -> dict[str, list[tuple[str, str]]]:
    """{"scenarios": [(name, description)], "studies": [(file, description)]}, sorted."""
    scenarios = sorted(default_scenario_path().parent.glob("*.toml"))
    studies = sorted(studies_folder().glob("*.toml"))
    return {
        "scenarios": [(p.stem, description(p)) for p in scenarios],
        "studies": [(str(p), description(p)) for p in studies],
    }


def write_starter(target: str | Path, source: str | Path | None = None) -> Path:
    """Write a scenario file to start from: ``source`` (a bundled scenario's name or a
    scenario file; None: the default) copied to ``target`` (``.toml`` added if missing) with
    ``name`` set to the file's stem and paths it refers to made absolute; the JSON Schema is
    written beside it (``scenario.schema.json``) unless one is there. Refuses to overwrite a
    file; the result is loaded once written, and removed with the schema it wrote if it does not
    load. Returns the written path."""
    out = Path(target)
    if out.suffix != ".toml":
        out = out.with_name(out.name + ".toml")
    if out.exists():
        raise ScenarioError(f"'{out}' exists; choose another name or delete it")
    if not out.parent.is_dir():
        raise ScenarioError(f"folder '{out.parent}' does not exist; create it first")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", out.stem):
        raise ScenarioError(
            f"scenario name '{out.stem}' must be letters, digits, '_', '-' or '.' "
            "(it becomes the scenario's name and its runs' folder names)"
        )
    src = default_scenario_path() if source is None else _bundled_or_path(source)
    load_scenario(src)  # a source that does not load says so here, naming the field
    text = src.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for _table, _key, value in relative_paths(data):  # keep pointing at the same file
        if not Path(value).is_absolute():
            absolute = json.dumps(str((src.parent / value).resolve()))
            # as the file writes it: a basic ("...") or a literal ('...') TOML string
            quoted = json.dumps(value) if json.dumps(value) in text else f"'{value}'"
            text = text.replace(quoted, absolute, 1)
    # the top-level name: before the first [table] (a table's own name, e.g. the optimizer's,
    # is not the scenario's)
    first_table = re.search(r"(?m)^\s*\[", text)
    top = first_table.start() if first_table else len(text)
    named = f'name = "{out.stem}"'
    head, count = re.subn(r'(?m)^name\s*=\s*"[^"\n]*"', named, text[:top], count=1)
    text = (head if count else f"{named}\n{head}") + text[top:]
    lines = [line for line in text.splitlines() if not line.startswith("#:schema")]
    schema = out.parent / "scenario.schema.json"
    written = [out] if schema.exists() else [out, schema]
    out.write_text("\n".join([DIRECTIVE, *lines]) + "\n", encoding="utf-8")
    if schema in written:
        schema.write_text(schema_text(), encoding="utf-8")
    try:
        load_scenario(out)
    except ScenarioError:  # nothing half-made is left behind
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return out

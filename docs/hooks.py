"""MkDocs hooks: the reference pages' generated parts, made from the code at build time.

A page line ``<!-- generated: scenario -->`` (or ``events``, ``cli``) is replaced by
:mod:`netsim.reference`'s Markdown, so the reference always matches the installed code.
The scenario format has one page per top-level section, ``reference/scenario/SECTION.md``,
generated whole (no file in ``docs/``) and listed in the navigation under the format's
index page, ``reference/scenario/index.md``.
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.structure.files import File, Files

from netsim import reference

_GENERATORS = {
    "scenario": reference.scenario_index,
    "events": reference.events_reference,
    "cli": reference.cli_reference,
}
_SCENARIO = "reference/scenario"


def on_config(config: Any, **_: object) -> Any:
    """Put a page per scenario section under the scenario format's entry of the nav."""
    index = f"{_SCENARIO}/index.md"
    pages = [{s: f"{_SCENARIO}/{s}.md"} for s in reference.scenario_sections()]

    def expand(items: list[Any]) -> bool:
        for item in items:
            for title, value in item.items() if isinstance(item, dict) else ():
                if value == index or (isinstance(value, list) and value[:1] == [index]):
                    item[title] = [index, *pages]
                    return True
                if isinstance(value, list) and expand(value):
                    return True
        return False

    if not expand(config["nav"] or []):
        raise ValueError(f"mkdocs.yml: the nav has no entry '{index}'")
    return config


def on_files(files: Files, config: Any, **_: object) -> Files:
    """Add the generated page of each scenario section."""
    for section in reference.scenario_sections():
        content = reference.scenario_section(section)
        files.append(File.generated(config, f"{_SCENARIO}/{section}.md", content=content))
    return files


def on_page_markdown(markdown: str, **_: object) -> str:
    """Fill every ``<!-- generated: NAME -->`` marker of a page."""
    return re.sub(r"<!-- generated: (\w+) -->", lambda m: _GENERATORS[m.group(1)](), markdown)

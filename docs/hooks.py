"""MkDocs hook: the reference pages' generated parts, made from the code at build time.

A page line ``<!-- generated: scenario -->`` (or ``events``, ``cli``) is replaced by
:mod:`netsim.reference`'s Markdown, so the reference always matches the installed code.
"""

from __future__ import annotations

import re

from netsim import reference

_GENERATORS = {
    "scenario": reference.scenario_reference,
    "events": reference.events_reference,
    "cli": reference.cli_reference,
}


def on_page_markdown(markdown: str, **_: object) -> str:
    """Fill every ``<!-- generated: NAME -->`` marker of a page."""
    return re.sub(r"<!-- generated: (\w+) -->", lambda m: _GENERATORS[m.group(1)](), markdown)

"""Griffe extension for the API page: the docstrings are written for readers of the code
(Sphinx roles, doctests, NumPy-like ``Parameters`` sections); this rewrites them into
the Markdown mkdocstrings renders, so the page shows no raw markup.

* ``:func:`x```, ``:class:`x```, ``:meth:`x``` ... become ``x`` as code, linked (through
  mkdocs-autorefs) to ``x``'s entry where the site documents it, plain code otherwise;
* ``>>>`` examples become ``pycon`` code blocks (``# doctest:`` directives dropped);
* the entries of a ``Parameters`` / ``Attributes`` section become a list;
* private base classes (``_Frozen``) are left out of a class's "Bases".

Loaded by mkdocstrings (``mkdocs.yml``: ``extensions``); the source is not changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|attr|mod|exc|data|obj|const|ref):`(?P<mark>[~!]?)(?P<name>[^`]+)`"
)
_ENTRY = re.compile(
    r"(?P<names>[*A-Za-z_][\w*]*(?:\s*,\s*[*A-Za-z_][\w*]*)*):(?:\s+(?P<rest>.*))?$"
)
_DOCTEST_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")
# installed as netsim.analysis, ... but loaded from the source tree as analysis, ...
_SOURCE_DIRS = re.compile(r"^netsim\.(?=(?:analysis|models|topologies)\b)")
_SECTIONS = ("Parameters", "Attributes", "Returns", "Raises", "Yields")


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and everything defined in it (aliases skipped: their target is visited)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)  # type: ignore[arg-type]


def _target(obj: griffe.Object, name: str, collection: Any) -> str:
    """The path ``name`` refers to from ``obj``'s scope, followed through imports to where
    it is defined (the path the API page registers besides the documented one)."""
    head, _, rest = name.partition(".")
    try:
        path = obj.resolve(head)
    except griffe.NameResolutionError:
        path = head
    path = f"{path}.{rest}" if rest else path
    for _ in range(10):  # through re-exports, to the definition
        path = _SOURCE_DIRS.sub("", path)
        try:
            found = collection[path]
        except (KeyError, ValueError):
            return path  # not loaded: keep the path as written
        if not found.is_alias:
            return found.path
        path = found.target_path
    return path


def _roles(text: str, obj: griffe.Object, collection: Any) -> str:
    def link(match: re.Match[str]) -> str:
        name = match["name"].strip().removesuffix("()")
        shown = name.rsplit(".", 1)[-1] if match["mark"] == "~" else name
        if match["mark"] == "!":
            return f"<code>{escape(shown)}</code>"
        identifier = escape(_target(obj, name, collection), quote=True)
        return f'<autoref identifier="{identifier}" optional><code>{escape(shown)}</code></autoref>'

    return _ROLE.sub(link, text)


def _doctests(lines: list[str]) -> list[str]:
    """Each run of ``>>>`` lines (with their ``...`` and output lines) as a code block."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if out and out[-1].strip():
            out.append("")
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(_DOCTEST_DIRECTIVE.sub("", lines[i]))
            i += 1
        out += [f"{indent}```", ""]
    return out


def _sections(lines: list[str]) -> list[str]:
    """The entries of an underlined ``Parameters``-like section as a list."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        underlined = i + 1 < len(lines) and re.fullmatch(r"\s*-{3,}\s*", lines[i + 1])
        if not (underlined and line.strip().split(" (")[0] in _SECTIONS):
            out.append(line)
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        out += [line, lines[i + 1], ""]
        i += 2
        while i < len(lines) and lines[i].strip():
            text = lines[i]
            entry = (
                _ENTRY.match(text[indent:]) if len(text) - len(text.lstrip()) == indent else None
            )
            if entry:
                names = ", ".join(f"`{n.strip()}`" for n in entry["names"].split(","))
                rest = entry["rest"] or ""
                out.append(f"{' ' * indent}- {names}:{' ' + rest if rest else ''}")
            else:
                out.append(f"{' ' * indent}  {text.strip()}")
            i += 1
    return out


class Docstrings(griffe.Extension):
    """Rewrite the docstrings of a loaded package (see the module's docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **_: Any) -> None:
        """Once the whole package is loaded (so names resolve across its modules)."""
        collection = loader.modules_collection
        for obj in _objects(pkg):
            if obj.is_class:
                obj.bases = [b for b in obj.bases if not str(b).rsplit(".", 1)[-1].startswith("_")]  # type: ignore[attr-defined]
            if obj.docstring is None:
                continue
            lines = _sections(_doctests(obj.docstring.value.splitlines()))
            obj.docstring.value = _roles("\n".join(lines), obj, collection)

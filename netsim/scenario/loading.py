"""Reading a scenario: TOML files, bundled scenarios and ``--set`` overrides."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from netsim.scenario.base import ScenarioError
from netsim.scenario.overrides import _override_list, apply_overrides
from netsim.scenario.schema import Scenario


def default_scenario_path() -> Path:
    """The bundled default scenario (``topologies/default.toml``)."""
    return Path(str(resources.files("netsim.topologies") / "default.toml"))


def bundled_scenarios() -> list[str]:
    """Names of the scenarios bundled in ``topologies/`` (usable instead of a path)."""
    return sorted(p.stem for p in default_scenario_path().parent.glob("*.toml"))


def _bundled_or_path(path: str | Path) -> Path:
    """``path``, or the bundled scenario of that name when no such file exists."""
    path = Path(path)
    if not path.exists() and path.parent == Path(".") and path.stem in bundled_scenarios():
        return default_scenario_path().parent / f"{path.stem}.toml"
    return path


# fields that hold a path, relative to the scenario file unless absolute
RELATIVE_PATHS = (
    ("topology", "path"),
    ("device", "availability", "dir"),
    ("learning", "data_path"),
    ("radio", "pathloss", "scene"),
    ("radio", "pathloss", "maps"),
)


def relative_paths(data: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(table, key, value) of each :data:`RELATIVE_PATHS` field that ``data`` (a parsed
    scenario file) holds as a string."""
    found = []
    for *tables, key in RELATIVE_PATHS:
        table: object = data
        for name in tables:
            table = table.get(name) if isinstance(table, dict) else None
        if isinstance(table, dict) and isinstance(table.get(key), str):
            found.append((table, key, table[key]))
    return found


def load_scenario(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Parameters
    ----------
    path:
        A TOML scenario file, or the name of a bundled one (``"iiot_ota"``: see
        :func:`bundled_scenarios`); ``None`` loads the bundled default scenario.
    overrides:
        ``"a.b=c"`` strings; the value is parsed as TOML (``5``, ``1.5``, ``"x"``, ``[1, 2]``),
        and taken as a plain string when it is not valid TOML.
    """
    if path is not None and not isinstance(path, str | Path):
        raise TypeError(
            f"load_scenario(path): a scenario file path or bundled name (str or Path) or None, "
            f"not {type(path).__name__} {path!r:.60}"
        )
    overrides = _override_list(overrides)
    path = default_scenario_path() if path is None else _bundled_or_path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        names = ", ".join(bundled_scenarios())
        raise ScenarioError(f"scenario file '{path}' {what} (bundled scenarios: {names})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario file '{path}' is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"scenario file '{path}' is not UTF-8 text") from None
    # a file next to the scenario file: make the path independent of the cwd
    for table, key, value in relative_paths(data):
        table[key] = str((path.parent / value).resolve())
    apply_overrides(data, overrides)
    source = f"scenario file '{path}'" + (" with --set overrides" if overrides else "")
    return Scenario.from_dict(data, source=source)

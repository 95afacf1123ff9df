"""Reading a scenario: TOML files, bundled scenarios and ``--set`` overrides."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

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
    topology = data.get("topology")
    if isinstance(topology, dict) and isinstance(topology.get("path"), str):
        # A topology file next to the scenario file: make the path independent of the cwd.
        topology["path"] = str((path.parent / topology["path"]).resolve())
    device = data.get("device")
    availability = device.get("availability") if isinstance(device, dict) else None
    if isinstance(availability, dict) and isinstance(availability.get("dir"), str):
        availability["dir"] = str((path.parent / availability["dir"]).resolve())
    learning = data.get("learning")
    if isinstance(learning, dict) and isinstance(learning.get("data_path"), str):
        learning["data_path"] = str((path.parent / learning["data_path"]).resolve())
    apply_overrides(data, overrides)
    source = f"scenario file '{path}'" + (" with --set overrides" if overrides else "")
    return Scenario.from_dict(data, source=source)

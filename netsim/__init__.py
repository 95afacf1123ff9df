"""netsim: discrete-event simulation of federated learning over wireless networks.

>>> from netsim import load_scenario, Simulation
>>> res = Simulation(load_scenario()).run()      # doctest: +SKIP
>>> res.events.head(); res.rounds                # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from netsim._version import __version__

if TYPE_CHECKING:
    from netsim.scenario import Scenario, ScenarioError, load_scenario
    from netsim.sim import Simulation, SimulationResult

__all__ = [
    "Scenario",
    "ScenarioError",
    "Simulation",
    "SimulationResult",
    "load_scenario",
    "__version__",
]

# The public names are imported on first use (PEP 562): the simulator pulls in torch and
# pandas (seconds), and `netsim --help` or `--version` must answer without them.
_LAZY = {
    "Scenario": "netsim.scenario",
    "ScenarioError": "netsim.scenario",
    "load_scenario": "netsim.scenario",
    "Simulation": "netsim.sim",
    "SimulationResult": "netsim.sim",
}


def __getattr__(name: str) -> object:
    """A public name of the package, imported from its module the first time it is used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included (for completion)."""
    return sorted(set(globals()) | set(_LAZY))

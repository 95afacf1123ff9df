"""netsim: discrete-event simulation of federated learning over wireless networks.

>>> from netsim import load_scenario, Simulation
>>> res = Simulation(load_scenario()).run()      # doctest: +SKIP
>>> res.events.head(); res.rounds                # doctest: +SKIP
"""

from netsim._version import __version__
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

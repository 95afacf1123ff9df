"""netsim: discrete-event simulation of federated learning over wireless networks.

>>> from netsim import load_scenario, Simulation
>>> res = Simulation(load_scenario()).run()      # doctest: +SKIP
>>> res.events.head(); res.rounds                # doctest: +SKIP
"""

from netsim.scenario import Scenario, ScenarioError, load_scenario
from netsim.sim import Simulation, SimulationResult

__version__ = "0.1.0"

__all__ = ["Scenario", "ScenarioError", "Simulation", "SimulationResult", "load_scenario"]

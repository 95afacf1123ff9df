"""Whether a run's synchronous rounds use streaming FedAvg (``server.streaming``).

Streaming folds each update into the round's running sum when its PIU has trained it
(:class:`netsim.fl.aggregation.StreamingFedAvg`), so the server and the uploads in flight
hold no update at all. That is exact only where every trained update arrives and is
averaged as it is: plain synchronous FedAvg of uncompressed updates, with nothing that can
lose, delay past a deadline, cut, corrupt, observe or reweigh one. :func:`streaming_blocker`
names the first field that rules it out.
"""

from __future__ import annotations

import math

from netsim.scenario import Scenario, ScenarioError

AUTO_BYTES = 2**30  # "auto" streams rounds whose updates would take more than this


def streaming_blocker(s: Scenario) -> tuple[str, object] | None:
    """(field, value) of the first setting under which a trained update could fail to
    arrive or would not enter plain FedAvg; None if streaming is exact."""
    p, d = s.protocol, s.device
    plain = ("fedavg", "fedprox")  # FedProx changes the local steps only
    checks: list[tuple[str, object, bool]] = [
        ("protocol.mode", p.mode, p.mode != "sync"),
        ("protocol.deadline_s", p.deadline_s, p.deadline_s is not None),
        ("protocol.target_updates", p.target_updates, p.target_updates is not None),
        ("protocol.predictive_deadline", p.predictive_deadline, p.predictive_deadline is not None),
        ("hierarchy", "set", s.hierarchy is not None),
        ("server.aggregation", s.server.aggregation, s.server.aggregation != "fedavg"),
        ("learning.algorithm", s.learning.algorithm, s.learning.algorithm not in plain),
        ("dp.level", s.dp.level, s.dp.level != "none"),
        ("compression.method", s.compression.method, s.compression.method != "none"),
        ("pruning.method", s.pruning.method, s.pruning.method != "none"),
        ("ota.enabled", s.ota.enabled, s.ota.enabled),
        ("attack.method", s.attack.method, s.attack.method != "none"),
        ("radio.link", s.radio.link, s.radio.link != "shannon"),
        ("radio.target_rate_bps", s.radio.target_rate_bps, s.radio.target_rate_bps is not None),
        ("device.battery_j", d.battery_j, not math.isinf(d.battery_j)),
        ("device.availability", d.availability.kind, d.availability.kind != "always"),
        ("mobility.model", s.mobility.model, s.mobility.model != "none"),
        ("backhaul.outages", "set", bool(s.backhaul.outages)),
        ("backhaul.failures", "set", s.backhaul.failures is not None),
    ]  # fmt: skip
    for c in d.classes:
        finite = c.battery_j is not None and not (
            isinstance(c.battery_j, float) and math.isinf(c.battery_j)
        )
        checks.append((f"device.classes[{c.name}].battery_j", c.battery_j, finite))
        checks.append((f"device.classes[{c.name}].byzantine", c.byzantine, c.byzantine is not None))
    for field, value, blocks in checks:
        if blocks:
            return field, value
    return None


def uses_streaming(s: Scenario, num_params: int, n_pius: int) -> bool:
    """Whether the synchronous rounds stream (``server.streaming``: true, false, or "auto":
    where exact and a round's updates would take more than 1 GiB). Raises
    :class:`ScenarioError` for ``true`` where streaming is not exact."""
    mode = s.server.streaming
    if mode is False:
        return False
    blocker = streaming_blocker(s)
    if mode is True and blocker is not None:
        field, value = blocker
        raise ScenarioError(
            f"server.streaming = true: streaming FedAvg folds each update in when it is "
            f"trained, so every trained update must arrive and enter plain FedAvg, but "
            f"{field} = {value!r} can lose, cut or change one; set server.streaming = false "
            "(or 'auto')"
        )
    if blocker is not None:
        return False
    per_round = s.protocol.clients_per_round or n_pius
    return mode is True or per_round * num_params * 4 > AUTO_BYTES

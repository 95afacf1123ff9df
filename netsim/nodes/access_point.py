"""Access point: relays models down to its PIUs and their updates up to the server."""

from __future__ import annotations

from collections.abc import Generator, Sequence

import simpy

from netsim.log import EventLog
from netsim.nodes.base import Node
from netsim.nodes.link import WiredLink
from netsim.nodes.messages import GlobalModel, Update
from netsim.radio.access import MultipleAccess
from netsim.radio.channel import RadioChannel


class AccessPoint(Node):
    """An AP with an uplink band shared by its PIUs and a wired link to the server.

    Timing assumptions:
      * uplink updates received from PIUs are forwarded over the backhaul (FIFO serialisation
        at ``capacity_bps``, then ``latency_s``);
      * a global model from the server is multicast on the downlink band (its own band: FDD)
        to the round's recipients at the rate of the weakest recipient in each coherence
        block, with transmit power ``tx_power_w`` over ``downlink_bandwidth_hz``.

    Parameters
    ----------
    index: AP index a.
    uplink: the link to the server; server_inbox: where forwarded updates go.
    access: the uplink band's multiple access (PIUs request slots on it).
    """

    role = "ap"

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        index: int,
        *,
        channel: RadioChannel,
        access: MultipleAccess,
        uplink: WiredLink,
        server_inbox: simpy.Store,
        tx_power_w: float,
        downlink_bandwidth_hz: float,
    ) -> None:
        super().__init__(env, f"ap{index}", log)
        self.index = index
        self.channel = channel
        self.access = access
        self.uplink = uplink
        self.server_inbox = server_inbox
        self.tx_power_w = tx_power_w
        self.downlink_bandwidth_hz = downlink_bandwidth_hz
        self.inbox = simpy.Store(env)
        self.piu_inboxes: dict[int, simpy.Store] = {}
        self.process = env.process(self.run())

    def attach(self, piu: int, inbox: simpy.Store) -> None:
        """Serve PIU ``piu``; models for it are put into ``inbox``."""
        self.piu_inboxes[piu] = inbox

    def run(self) -> Generator[simpy.Event, object, None]:
        while True:
            msg = yield self.inbox.get()
            if isinstance(msg, Update):
                self.env.process(self._forward(msg))
            elif isinstance(msg, GlobalModel):
                self.env.process(self._multicast(msg))
            else:
                raise TypeError(f"{self.name} cannot handle {type(msg).__name__}")

    def _forward(self, update: Update) -> Generator[simpy.Event, object, None]:
        bits = update.payload.bits
        self.emit("fwd_start", update.round, bits=bits, detail=f"piu{update.piu}")
        start = self.env.now
        yield from self.uplink.transfer(bits)
        self.emit(
            "fwd_end",
            update.round,
            bits=bits,
            duration_s=self.env.now - start,
            detail=f"piu{update.piu}",
        )
        self.server_inbox.put(update)

    def _multicast(self, model: GlobalModel) -> Generator[simpy.Event, object, None]:
        recipients: Sequence[int] = model.recipients
        transfer = self.channel.multicast(
            recipients,
            self.index,
            model.bits,
            self.env.now,
            self.tx_power_w,
            self.downlink_bandwidth_hz,
        )
        self.emit(
            "dl_start",
            model.round,
            duration_s=transfer.airtime_s,
            bits=model.bits,
            power_w=self.tx_power_w,
            detail=f"{len(recipients)} PIUs",
        )
        yield self.env.timeout(transfer.airtime_s)
        self.emit(
            "dl_end",
            model.round,
            duration_s=transfer.airtime_s,
            bits=model.bits,
            rate_bps=transfer.rate_bps,
            snr_db=transfer.snr_db,
            power_w=self.tx_power_w,
        )
        for k in recipients:
            self.piu_inboxes[k].put(model)

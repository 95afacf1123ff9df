"""Access point: relays models down to its PIUs and their updates up to the server."""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import simpy
import torch

from netsim.fl.dp import PrivateOTA
from netsim.log import EventLog
from netsim.nodes.base import Deadline, Node
from netsim.nodes.link import Backhaul
from netsim.nodes.messages import GlobalModel, Notice, OTAAggregate, OTAReady, Update
from netsim.radio.access import MultipleAccess
from netsim.radio.channel import RadioChannel
from netsim.radio.links import AnalogSlot
from netsim.radio.medium import CoChannelMedium, Delivered
from netsim.radio.ota import OTAReceiver
from netsim.radio.scheduler import OFDMAScheduler

if TYPE_CHECKING:
    from netsim.messages import Tap


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
    ota: over-the-air aggregation receiver; when set, the AP collects its PIUs' trained
        updates each round, starts one simultaneous analog transmission when all are ready
        or declined (or at the deadline), and forwards the received weighted sum (its
        superposition assumes every scheduled PIU completes its slot).
    private: client-level DP over the air (``netsim.fl.dp.PrivateOTA``): the PIUs clip
        their updates and scale them by a data-independent s, with equal weights, and the
        AP forwards the plain sum with its receiver-noise variance per entry.
    tap: an eavesdropper listening at this AP (:class:`netsim.messages.Tap`: shown the
        models it relays and the uploads it hears), or None.
    unicast: send the model to each recipient on its own instead of one multicast at the
        weakest recipient's rate: through ``downlink_scheduler`` (OFDMA, sharing the RBs)
        or, without one, one recipient after another at its own rate.
    downlink_scheduler: the downlink's slot scheduler (OFDMA, or the NR link abstraction);
        with NR a multicast goes through it too, on each RB at its weakest recipient's SINR.
    downlink_medium: with frequency reuse, the co-channel medium of the downlinks: a
        transmission's rate follows its weakest recipient's SINR as other co-channel APs'
        downlinks start and stop.
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
        uplink: Backhaul,
        server_inbox: simpy.Store,
        tx_power_w: float,
        downlink_bandwidth_hz: float,
        ota: OTAReceiver | None = None,
        private: PrivateOTA | None = None,
        tap: Tap | None = None,
        unicast: bool = False,
        downlink_scheduler: OFDMAScheduler | None = None,
        downlink_medium: CoChannelMedium | None = None,
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
        self.handed_over: dict[int, AccessPoint] = {}  # PIUs that left: where they went
        self.ota = ota
        self.private = private  # client-level DP over the air: PIUs clip, fixed scaling
        self._ota_inboxes: dict[int, simpy.Store] = {}  # per round, while collecting
        self.tap = tap  # an eavesdropper listening here
        self.unicast = unicast
        self.downlink_scheduler = downlink_scheduler
        self.downlink_medium = downlink_medium

    def start(self) -> None:
        """Start the AP's process."""
        self.process = self.env.process(self.run())

    def attach(self, piu: int, inbox: simpy.Store) -> None:
        """Serve PIU ``piu``; models for it are put into ``inbox``."""
        self.piu_inboxes[piu] = inbox
        self.handed_over.pop(piu, None)

    def hand_over(self, piu: int, target: AccessPoint) -> None:
        """PIU ``piu`` is now served by ``target``: detach it here and attach it there."""
        target.attach(piu, self.piu_inboxes.pop(piu))
        self.handed_over[piu] = target

    def serving(self, piu: int) -> AccessPoint:
        """The AP that serves ``piu`` now (following its handovers from here)."""
        ap: AccessPoint = self
        while piu not in ap.piu_inboxes:
            ap = ap.handed_over[piu]
        return ap

    def run(self) -> Generator[simpy.Event, object, None]:
        """The AP's process: relay updates up, models down, collect over-the-air rounds."""
        while True:
            msg = yield self.inbox.get()
            if isinstance(msg, Update):
                self.env.process(self._forward(msg))
            elif isinstance(msg, GlobalModel):
                if self.tap is not None:
                    self.tap.see_model(msg)
                self.env.process(self._multicast(msg))
                if self.ota is not None:
                    self._ota_inboxes[msg.round] = simpy.Store(self.env)
                    self.env.process(self._ota_round(msg))
            elif isinstance(msg, OTAReady | Notice):
                inbox = self._ota_inboxes.get(msg.round)
                if inbox is not None:  # else: a round already transmitted; nothing to do
                    inbox.put(msg)
            else:
                raise TypeError(f"{self.name} cannot handle {type(msg).__name__}")

    def _ota_round(self, model: GlobalModel) -> Generator[simpy.Event, object, None]:
        """Collect the recipients' trained updates, send them over the air at once when all
        are ready or declined (or at the deadline), and forward the received sum."""
        assert self.ota is not None
        r = model.round
        inbox = self._ota_inboxes[r]
        pending = set(model.recipients)
        ready: dict[int, OTAReady] = {}
        deadline = (
            Deadline(self.env, max(0.0, model.deadline_at_s - self.env.now))
            if model.deadline_at_s is not None
            else None
        )
        while pending:
            get = inbox.get()
            yield get if deadline is None else (get | deadline)
            if not get.triggered:
                get.cancel()
                break
            msg = get.value
            assert isinstance(msg, OTAReady | Notice)
            pending.discard(msg.piu)
            if isinstance(msg, OTAReady):
                ready[msg.piu] = msg
            else:  # e.g. ready, then offline before the slot: it will not transmit
                ready.pop(msg.piu, None)
        del self._ota_inboxes[r]
        late = tuple(sorted(pending))
        contributors = sorted(ready)
        n_params = model.weights.numel()
        sent = n_params if model.mask is None else int(model.mask.sum())
        noise_var = None
        if not contributors:
            delta, weight, loss = torch.zeros(n_params), 0, math.nan
        else:
            delta, weight, loss, noise_var = yield from self._ota_transmit(
                r, [ready[k] for k in contributors], model.mask
            )
        bits = 32 * sent  # the received sum of the unpruned entries travels as float32
        aggregate = OTAAggregate(
            r, self.index, delta, weight, tuple(contributors), late, loss, bits, noise_var
        )
        if self.tap is not None and contributors:
            self.tap.see_aggregate(self.env.now, aggregate)
        # to the server, or its edge server (hierarchical FL)
        yield from self._relay(r, aggregate, bits, self.uplink.dst, "ota aggregate", "ota")

    def _ota_transmit(
        self, r: int, ready: list[OTAReady], mask: torch.Tensor | None
    ) -> Generator[simpy.Event, object, tuple[torch.Tensor, int, float, torch.Tensor | None]]:
        """The simultaneous analog transmission; returns (estimate of the weighted update
        sum, sum of |D_k|, weighted train loss, None). With a pruning ``mask`` (P,) only the
        unpruned entries go over the air (fewer channel uses; the pruned ones are known
        zeros). Under client-level DP (``private``) the estimate is of the plain sum of the
        clipped updates, and the fourth item its receiver-noise variance per entry (P,)."""
        assert self.ota is not None
        sizes = np.array([u.num_samples for u in ready], dtype=float)
        stacked = torch.stack([u.delta for u in ready])  # (K, P_kept): the unpruned entries
        deltas = stacked.double().numpy()
        private, max_eta = self.private, math.inf
        if private is not None:  # each PIU clips and scales by the data-independent s
            phi = np.full(len(ready), 1 / len(ready))
            mu = 0.0
            x, s = private.signals(deltas)
            max_eta = private.max_eta(len(ready), s, self.ota.noise_w)
        else:
            # Normalise with common statistics (sent as side information, ~64 bits per PIU,
            # signalling time ignored) so each entry has mean power <= 1 and the receiver
            # can undo it: x_k = (delta_k - mu) / s, sum phi x = (sum phi delta - mu) / s.
            phi = sizes / sizes.sum()
            mu = float(phi @ deltas.mean(axis=1))
            s = float(np.sqrt(((deltas - mu) ** 2).mean(axis=1)).max()) or 1.0
            x = (deltas - mu) / s
        pius = [u.piu for u in ready]
        tx = self.ota.transmit(self.index, pius, x, phi, self.env.now, r, max_eta)
        self.emit(
            "ota_start",
            r,
            duration_s=tx.airtime_s,
            detail=f"{len(pius)} PIUs",
            snr_db=float(np.mean(tx.snr_db)),
        )
        for u, energy, snr_db in zip(ready, tx.energy_j, tx.snr_db, strict=True):
            u.slot.succeed(
                AnalogSlot(tx.airtime_s, float(energy), float(energy) / tx.airtime_s, float(snr_db))
            )
        yield self.env.timeout(tx.airtime_s)
        self.emit("ota_end", r, duration_s=tx.airtime_s, detail=f"mse={tx.mse_per_entry:.4g}")
        noise_var = None
        if private is not None:  # sum = K mass estimate: the senders' sum of x, times s
            scale = len(ready) * tx.entry_mass * s
            received = scale * tx.estimate
            noise_var = torch.from_numpy(scale**2 * tx.entry_mse)
        else:
            received = s * tx.estimate + mu
        estimate = torch.from_numpy(received).to(torch.float32)
        if mask is not None:  # scatter the received entries back; pruned ones stay zero
            estimate = torch.zeros(mask.numel()).masked_scatter(mask, estimate)
            if noise_var is not None:
                noise_var = torch.zeros(mask.numel(), dtype=noise_var.dtype).masked_scatter(
                    mask, noise_var
                )
        loss = float(phi @ np.array([u.loss for u in ready]))
        return estimate, int(sizes.sum()), loss, noise_var

    def _forward(self, update: Update) -> Generator[simpy.Event, object, None]:
        if self.tap is not None:
            self.tap.see_update(self.env.now, update)
        piu = f"piu{update.piu}"
        yield from self._relay(update.round, update, update.payload.bits, piu, piu)

    def _relay(
        self, r: int, msg: object, bits: int, peer: str, detail: str, method: str | None = None
    ) -> Generator[simpy.Event, object, None]:
        """Send ``msg`` (``bits``) up the backhaul into the aggregator's inbox, logged as
        ``fwd_start`` / ``fwd_end`` (with the route on a routed backhaul)."""
        self.emit(
            "fwd_start", r, bits=bits, peer=peer, method=method, route=self.uplink.route(),
            detail=detail,
        )  # fmt: skip
        start = self.env.now
        yield from self.uplink.transfer(bits)
        self.emit(
            "fwd_end", r, bits=bits, duration_s=self.env.now - start, peer=peer, method=method,
            route=self.uplink.last_route, detail=detail,
        )  # fmt: skip
        self.server_inbox.put(msg)

    def _multicast(self, model: GlobalModel) -> Generator[simpy.Event, object, None]:
        if self.unicast:
            yield from self._unicast(model)
            return
        recipients: Sequence[int] = model.recipients
        scheduler = self.downlink_scheduler
        if scheduler is not None or self.downlink_medium is not None:
            self.emit(
                "dl_start", model.round, bits=model.bits, power_w=self.tx_power_w,
                detail=f"{len(recipients)} PIUs",
            )  # fmt: skip
            if scheduler is not None:  # NR: one multicast flow at the weakest's SINR per RB
                rbs = None if self.access.scheme == "ofdma" else (0, scheduler.n_rb)
                flow = scheduler.submit(
                    recipients[0], self.index, self.tx_power_w, model.bits, rbs, tuple(recipients)
                )
                d = yield flow.done
                assert isinstance(d, Delivered)
            else:
                d = yield from self._on_medium(model, tuple(recipients))
            self._dl_done(model, recipients, d, peer=None)
            return
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
            self._deliver(model, k)

    def _on_medium(
        self, model: GlobalModel, recipients: tuple[int, ...]
    ) -> Generator[simpy.Event, object, Delivered]:
        """Send the model to ``recipients`` on the downlink co-channel medium."""
        assert self.downlink_medium is not None
        tx = self.downlink_medium.start(
            -1, self.index, self.access.channel, 0.0, self.downlink_bandwidth_hz,
            self.tx_power_w, model.bits, recipients,
        )  # fmt: skip
        delivered = yield tx.done
        assert isinstance(delivered, Delivered)
        return delivered

    def _deliver(self, model: GlobalModel, piu: int) -> None:
        """Hand the model to ``piu``, or forward it if the PIU moved to another AP."""
        if piu in self.piu_inboxes:
            self.piu_inboxes[piu].put(model)
        else:
            self.env.process(self._forward_model(model, piu))

    def _unicast(self, model: GlobalModel) -> Generator[simpy.Event, object, None]:
        """The model to each recipient on its own: through the downlink OFDMA scheduler
        (all at once, sharing the RBs), or one after another at each one's rate."""
        if self.downlink_scheduler is None and self.downlink_medium is not None:
            for k in sorted(model.recipients):
                self._dl_start(model, k, math.nan)
                d = yield from self._on_medium(model, (k,))
                self._dl_done(model, (k,), d, peer=f"piu{k}")
            return
        if self.downlink_scheduler is None:
            for k in sorted(model.recipients):
                transfer = self.channel.multicast(
                    [k], self.index, model.bits, self.env.now, self.tx_power_w,
                    self.downlink_bandwidth_hz,
                )  # fmt: skip
                self._dl_start(model, k, transfer.airtime_s)
                yield self.env.timeout(transfer.airtime_s)
                self._dl_end(model, k, transfer.airtime_s, transfer.rate_bps, transfer.snr_db)
                self._deliver(model, k)
            return
        scheduler = self.downlink_scheduler
        if self.access.scheme != "ofdma":  # TDMA / FDMA band (NR): one after another, every RB
            for k in sorted(model.recipients):
                self._dl_start(model, k, math.nan)
                flow = scheduler.submit(
                    k, self.index, self.tx_power_w, model.bits, (0, scheduler.n_rb)
                )
                yield from self._unicast_end(model, k, flow.done)
            return
        flows = []
        for k in sorted(model.recipients):
            self._dl_start(model, k, math.nan)
            flows.append((k, scheduler.submit(k, self.index, self.tx_power_w, model.bits)))
        for k, flow in flows:  # each is delivered when its last bit is
            self.env.process(self._unicast_end(model, k, flow.done))
        yield self.env.all_of([flow.done for _, flow in flows])

    def _unicast_end(
        self, model: GlobalModel, piu: int, done: simpy.Event
    ) -> Generator[simpy.Event, object, None]:
        d = yield done
        assert isinstance(d, Delivered)
        self._dl_done(model, (piu,), d, peer=f"piu{piu}")

    def _dl_done(
        self, model: GlobalModel, recipients: Sequence[int], d: Delivered, peer: str | None
    ) -> None:
        """A downlink transmission to ``recipients`` ended as ``d`` says: ``dl_fail`` if an
        NR block was lost, else ``dl_end`` (with the NR columns where they apply) and the
        model handed on. ``peer``: the recipient of a unicast."""
        if d.lost:
            self._dl_lost(model, recipients, d)
            return
        self.emit(
            "dl_end", model.round, duration_s=d.airtime_s, bits=model.bits,
            rate_bps=d.rate_bps, snr_db=d.sinr_db, interference_w=d.interference_w,
            power_w=self.tx_power_w, mcs=d.mcs, tb_count=d.tb_count, harq_retx=d.harq_retx,
            peer=peer,
        )  # fmt: skip
        for k in recipients:
            self._deliver(model, k)

    def _dl_lost(self, model: GlobalModel, recipients: Sequence[int], d: Delivered) -> None:
        """An NR downlink whose transport block failed its last HARQ transmission: the model
        does not reach ``recipients``; the server hears of each as a lost update."""
        self.emit(
            "dl_fail", model.round, duration_s=d.airtime_s, bits=model.bits, snr_db=d.sinr_db,
            interference_w=d.interference_w, power_w=self.tx_power_w, mcs=d.mcs,
            tb_count=d.tb_count, harq_retx=d.harq_retx, reason="harq",
            peer=f"piu{recipients[0]}" if len(recipients) == 1 else None,
            detail=" ".join(f"piu{k}" for k in recipients),
        )  # fmt: skip
        for k in recipients:
            self.server_inbox.put(Notice(model.round, k, "lost"))

    def _dl_start(self, model: GlobalModel, piu: int, airtime_s: float) -> None:
        self.emit(
            "dl_start", model.round, duration_s=airtime_s, bits=model.bits,
            power_w=self.tx_power_w, peer=f"piu{piu}", detail=f"piu{piu}",
        )  # fmt: skip

    def _dl_end(
        self,
        model: GlobalModel,
        piu: int,
        airtime_s: float,
        rate_bps: float,
        snr_db: float,
    ) -> None:
        self.emit(
            "dl_end", model.round, duration_s=airtime_s, bits=model.bits, rate_bps=rate_bps,
            snr_db=snr_db, power_w=self.tx_power_w, peer=f"piu{piu}",
        )  # fmt: skip

    def _forward_model(self, model: GlobalModel, piu: int) -> Generator[simpy.Event, object, None]:
        """A recipient handed over to another AP while the model was on its way here (from
        the server or on this AP's downlink): as in a 3GPP handover with data forwarding,
        the model goes on to the PIU's new AP over this AP's backhaul (serialisation +
        latency: the inter-AP hop) and that AP sends it on its own downlink."""
        self.emit("dl_forward", model.round, bits=model.bits, peer=f"piu{piu}", detail=f"piu{piu}")
        yield from self.uplink.transfer(model.bits)
        self.serving(piu).inbox.put(replace(model, recipients=(piu,)))

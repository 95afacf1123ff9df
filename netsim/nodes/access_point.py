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
from netsim.messages import GlobalModel, Notice, OTAAggregate, OTAReady, Update
from netsim.nodes.base import Deadline, Node
from netsim.nodes.link import Backhaul
from netsim.radio.access import MultipleAccess
from netsim.radio.downlinks import Downlink, ScheduledDownlink
from netsim.radio.links import AnalogSlot
from netsim.radio.medium import Delivered
from netsim.radio.ota import OTAReceiver, normalise

if TYPE_CHECKING:
    from netsim.messages import Tap


class AccessPoint(Node):
    """An AP with an uplink band shared by its PIUs and a wired link to the server.

    Timing assumptions:
      * uplink updates received from PIUs are forwarded over the backhaul (FIFO serialisation
        at ``capacity_bps``, then ``latency_s``);
      * a global model from the server is sent on the downlink band (its own band: FDD) to
        the round's recipients, with transmit power ``tx_power_w``, as ``downlink`` says: one
        multicast at the weakest recipient's rate, or a unicast to each.

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
    downlink: the transmissions that carry a model to its recipients
        (:mod:`netsim.radio.downlinks`: on the AP's own band, on the co-channel medium of
        frequency reuse, or through the OFDMA / NR slot scheduler).
    """

    role = "ap"

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        index: int,
        *,
        access: MultipleAccess,
        uplink: Backhaul,
        server_inbox: simpy.Store,
        tx_power_w: float,
        downlink: Downlink,
        ota: OTAReceiver | None = None,
        private: PrivateOTA | None = None,
        tap: Tap | None = None,
    ) -> None:
        super().__init__(env, f"ap{index}", log)
        self.index = index
        self.access = access
        self.uplink = uplink
        self.server_inbox = server_inbox
        self.tx_power_w = tx_power_w
        self.downlink = downlink
        self.inbox = simpy.Store(env)
        self.piu_inboxes: dict[int, simpy.Store] = {}
        self.handed_over: dict[int, AccessPoint] = {}  # PIUs that left: where they went
        self.ota = ota
        self.private = private  # client-level DP over the air: PIUs clip, fixed scaling
        self._ota_inboxes: dict[int, simpy.Store] = {}  # per round, while collecting
        self.tap = tap  # an eavesdropper listening here

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
                self.env.process(self._send_model(msg))
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
            signals = normalise(deltas, sizes)
            x, phi, mu, s = signals.x, signals.phi, signals.offset, signals.scale
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

    def _send_model(self, model: GlobalModel) -> Generator[simpy.Event, object, None]:
        """The model to the round's recipients on the downlink: each transmission logged as
        ``dl_start`` and ``dl_end`` (or ``dl_fail``), the model handed on as it ends."""
        downlink = self.downlink
        under_way = []
        for recipients in downlink.groups(model.recipients):
            tx = downlink.start(self.index, recipients, model.bits, self.tx_power_w)
            self._dl_start(model, recipients, tx.airtime_s)
            if downlink.concurrent:  # each is delivered when its last bit is
                under_way.append(tx)
                continue
            d = yield tx.done
            assert isinstance(d, Delivered)
            self._dl_done(model, recipients, d)
        for tx in under_way:
            self.env.process(self._dl_after(model, tx.recipients, tx.done))
        if under_way:
            yield self.env.all_of([tx.done for tx in under_way])

    def _dl_after(
        self, model: GlobalModel, recipients: tuple[int, ...], done: simpy.Event
    ) -> Generator[simpy.Event, object, None]:
        d = yield done
        assert isinstance(d, Delivered)
        self._dl_done(model, recipients, d)

    def _deliver(self, model: GlobalModel, piu: int) -> None:
        """Hand the model to ``piu``, or forward it if the PIU moved to another AP."""
        if piu in self.piu_inboxes:
            self.piu_inboxes[piu].put(model)
        else:
            self.env.process(self._forward_model(model, piu))

    def _dl_start(self, model: GlobalModel, recipients: tuple[int, ...], airtime_s: float) -> None:
        """A downlink transmission to ``recipients`` starts (``airtime_s``: NaN where it
        follows the air)."""
        if self.downlink.unicast:
            piu = f"piu{recipients[0]}"
            self.emit(
                "dl_start", model.round, duration_s=airtime_s, bits=model.bits,
                power_w=self.tx_power_w, peer=piu, detail=piu,
            )  # fmt: skip
            return
        self.emit(
            "dl_start", model.round, duration_s=airtime_s, bits=model.bits,
            power_w=self.tx_power_w, detail=f"{len(recipients)} PIUs",
        )  # fmt: skip

    def _dl_done(self, model: GlobalModel, recipients: tuple[int, ...], d: Delivered) -> None:
        """A downlink transmission to ``recipients`` ended as ``d`` says: ``dl_fail`` if an
        NR block was lost, else ``dl_end`` (with the NR columns where they apply) and the
        model handed on."""
        for k in d.dropped:  # an NR multicast's recipients it could not reach
            self.env.process(self._point_to_point(model, k))
        recipients = tuple(k for k in recipients if k not in d.dropped)
        if d.lost:
            self._dl_lost(model, recipients, d)
            return
        handed = " ".join(f"piu{k}" for k in d.dropped)
        self._dl_end(
            model, d, peer=f"piu{recipients[0]}" if self.downlink.unicast else None,
            detail=f"point-to-point instead: {handed}" if handed else "",
        )  # fmt: skip
        for k in recipients:
            self._deliver(model, k)

    def _point_to_point(self, model: GlobalModel, piu: int) -> Generator[simpy.Event, object, None]:
        """The model to ``piu`` alone (``method`` "ptp"), after an NR multicast left it out:
        its blocks failed at its SINR (NR MBS point-to-point retransmission). It starts when
        the multicast ends, the whole model at the PIU's own link adaptation: a gNB could
        start sooner and send only the missed blocks, so this is the slower bound."""
        downlink = self.downlink
        assert isinstance(downlink, ScheduledDownlink)
        tx = downlink.point_to_point(self.index, piu, model.bits, self.tx_power_w)
        self.emit(
            "dl_start", model.round, bits=model.bits, power_w=self.tx_power_w,
            peer=f"piu{piu}", method="ptp", detail=f"piu{piu}",
        )  # fmt: skip
        d = yield tx.done
        assert isinstance(d, Delivered)
        if d.lost:
            self._dl_lost(model, (piu,), d)
            return
        self._dl_end(model, d, peer=f"piu{piu}", method="ptp")
        self._deliver(model, piu)

    def _dl_end(self, model: GlobalModel, d: Delivered, **columns: object) -> None:
        """``dl_end`` of a downlink that ended as ``d`` says (with the NR columns where they
        apply), and ``columns`` of its own (peer, method, detail)."""
        self.emit(
            "dl_end", model.round, duration_s=d.airtime_s, bits=model.bits,
            rate_bps=d.rate_bps, snr_db=d.sinr_db, interference_w=d.interference_w,
            power_w=self.tx_power_w, mcs=d.mcs, tb_count=d.tb_count, harq_retx=d.harq_retx,
            rlc_retx=d.rlc_retx, first_tx_fail=d.first_tx_fail, **columns,
        )  # fmt: skip

    def _dl_lost(self, model: GlobalModel, recipients: Sequence[int], d: Delivered) -> None:
        """An NR downlink whose transport block failed its last HARQ transmission (after the
        last RLC retransmission, reason "rlc"): the model does not reach ``recipients``; the
        server hears of each as a lost update."""
        self.emit(
            "dl_fail", model.round, duration_s=d.airtime_s, bits=model.bits, snr_db=d.sinr_db,
            interference_w=d.interference_w, power_w=self.tx_power_w, mcs=d.mcs,
            tb_count=d.tb_count, harq_retx=d.harq_retx, rlc_retx=d.rlc_retx,
            first_tx_fail=d.first_tx_fail, reason=d.reason or "harq",
            peer=f"piu{recipients[0]}" if len(recipients) == 1 else None,
            detail=" ".join(f"piu{k}" for k in recipients),
        )  # fmt: skip
        for k in recipients:
            self.server_inbox.put(Notice(model.round, k, "lost"))

    def _forward_model(self, model: GlobalModel, piu: int) -> Generator[simpy.Event, object, None]:
        """A recipient handed over to another AP while the model was on its way here (from
        the server or on this AP's downlink): as in a 3GPP handover with data forwarding,
        the model goes on to the PIU's new AP over this AP's backhaul (serialisation +
        latency: the inter-AP hop) and that AP sends it on its own downlink."""
        self.emit("dl_forward", model.round, bits=model.bits, peer=f"piu{piu}", detail=f"piu{piu}")
        yield from self.uplink.transfer(model.bits)
        self.serving(piu).inbox.put(replace(model, recipients=(piu,)))

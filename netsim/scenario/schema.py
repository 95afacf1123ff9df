"""The whole scenario: its sections and the checks across them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import tomli_w
from pydantic import Field, ValidationError, model_validator

from netsim.scenario.base import ScenarioError, _Frozen
from netsim.scenario.compression import Compression, ControlConfig, NoCompression, PruningConfig
from netsim.scenario.device import DeviceConfig, MobilityConfig
from netsim.scenario.errors import _FieldError, _format_errors, _strip_none, _user_path
from netsim.scenario.learning import ALGORITHM_NEEDS, AttackConfig, DPConfig, LearningConfig
from netsim.scenario.overrides import apply_overrides
from netsim.scenario.protocol import HierarchyConfig, ProtocolConfig, ServerConfig
from netsim.scenario.radio import AllocationConfig, OTAConfig, RadioConfig, RayTracedPathLoss
from netsim.scenario.topology import (
    BackhaulConfig,
    FactoryHallTopology,
    FileTopology,
    HexTopology,
    SingleCellTopology,
    Topology,
)

# --------------------------------------------------------------------------- scenario


class Scenario(_Frozen):
    """A whole simulation setting. Build it with :func:`load_scenario` or :meth:`from_dict`."""

    # used in run-directory names: no path separators, no leading dot
    name: str = Field("scenario", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_ .+=-]{0,99}$")
    """The scenario's name (run directories are named after it)."""
    seed: int = Field(0, ge=0, le=2**63 - 1)
    """Root seed of every random draw (keyed streams): the same seed, the same event log."""
    topology: Topology = SingleCellTopology()
    """Where the APs and PIUs are: a builder (single_cell, grid, factory_hall, hex), explicit
    positions, or a GraphML/GML file."""
    backhaul: BackhaulConfig = BackhaulConfig()
    """The wired network between the APs and the server."""
    radio: RadioConfig = RadioConfig()
    """Channel, multiple access, spectrum and link abstraction."""
    device: DeviceConfig = DeviceConfig()
    """The PIUs' compute, transmit power, battery, stragglers and availability."""
    server: ServerConfig = ServerConfig()
    """Aggregation rule, server optimiser and aggregation time."""
    protocol: ProtocolConfig = ProtocolConfig()
    """Synchronous or asynchronous FL, selection, deadline, rounds."""
    hierarchy: HierarchyConfig | None = None
    """Hierarchical FL over edge servers (absent: flat FL, one server aggregates all)."""
    ota: OTAConfig = OTAConfig()
    """Over-the-air aggregation."""
    compression: Compression = NoCompression()
    """What the uplink carries: dense float32 or a compressor (quantization, sparsification)."""
    control: ControlConfig = ControlConfig()
    """Adaptive local steps and compression fidelity."""
    pruning: PruningConfig = PruningConfig()
    """Magnitude pruning of the model."""
    allocation: AllocationConfig = AllocationConfig()
    """Power and local-iteration allocation (cell-free)."""
    learning: LearningConfig = LearningConfig()
    """Data, model, optimiser, FL algorithm and how training runs."""
    attack: AttackConfig = AttackConfig()
    """A privacy attacker in the run."""
    dp: DPConfig = DPConfig()
    """Differential privacy and its accounting."""
    mobility: MobilityConfig = MobilityConfig()
    """Moving PIUs and handover."""

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        if self.backhaul.kind == "file" and self.topology.kind != "file":
            raise _FieldError(
                "backhaul.kind",
                "file",
                "'star', 'tree', 'ring' or 'mesh' unless topology.kind = 'file' (whose "
                "edges are the backhaul)",
            )
        if self.ota.enabled and (
            self.radio.access == "cellfree" or self.radio.target_rate_bps is not None
        ):
            raise _FieldError(
                "ota.enabled", True, "false with radio.access = 'cellfree' or radio.target_rate_bps"
            )
        if self.ota.enabled and (
            self.radio.reuse != "orthogonal"
            or self.radio.power_control is not None
            or self.radio.combining in ("mrc", "mmse_irc")
            or self.radio.scheduler != "fifo"
            or self.radio.link != "shannon"
        ):
            raise _FieldError(
                "ota.enabled",
                True,
                "false with radio.reuse, radio.power_control, radio.scheduler, radio.link or "
                "radio.combining = 'mrc' / 'mmse_irc' (over the air has its own receiver, "
                "slot and power control)",
            )
        if self.ota.enabled and self.compression.method != "none":
            raise _FieldError(
                "compression.method",
                self.compression.method,
                "'none' with ota.enabled (analog uplinks send real values)",
            )
        if self.ota.enabled and self.pruning.method != "none" and self.pruning.scope == "piu":
            raise _FieldError(
                "pruning.scope",
                "piu",
                "'server' with ota.enabled (superposed entries need one shared mask)",
            )
        if self.server.aggregation != "fedavg" and self.ota.enabled:
            raise _FieldError(
                "server.aggregation",
                self.server.aggregation,
                "'fedavg' with ota.enabled (the server receives only the APs' superpositions)",
            )
        if (
            self.server.aggregation != "fedavg"
            and self.pruning.method != "none"
            and self.pruning.scope == "piu"
        ):
            raise _FieldError(
                "server.aggregation",
                self.server.aggregation,
                "'fedavg' with pruning.scope = 'piu' (sub-models are averaged per entry)",
            )
        if self.allocation.method != "none" and self.radio.access != "cellfree":
            raise _FieldError(
                "allocation.method",
                self.allocation.method,
                "'none' unless radio.access = 'cellfree'",
            )
        if self.allocation.method != "none" and self.radio.combining != "mr":
            raise _FieldError(
                "radio.combining",
                self.radio.combining,
                "'mr' with an allocation (its SINR model is the MR closed form)",
            )
        steps = self.learning.local_steps
        lo, hi = self.allocation.steps_min, self.allocation.steps_max
        if (lo is not None and lo > steps) or (hi is not None and hi < steps):
            raise _FieldError(
                "allocation.steps_min",
                lo,
                f"steps_min <= learning.local_steps ({steps}) <= steps_max ({hi})",
            )
        fidelity_methods = ("uniform", "emq", "topk", "randomk", "laq")
        if self.control.kind == "afcfl" and self.compression.method not in fidelity_methods:
            raise _FieldError(
                "control.kind",
                "afcfl",
                f"a compression.method with a fidelity knob: {fidelity_methods}",
            )
        if self.control.kind == "adaquantfl" and self.compression.method != "qsgd":
            raise _FieldError("control.kind", "adaquantfl", "used with compression.method = 'qsgd'")
        self._check_attack()
        self._check_protocol()
        self._check_algorithm()
        self._check_dp()
        self._check_predictive()
        if self.learning.dataset == "file" and self.attack.method != "none":
            raise _FieldError(
                "attack.method", self.attack.method,
                "'none' with learning.dataset = 'file' (the attacks reconstruct images)",
            )  # fmt: skip
        self._check_hierarchy()
        self._check_mobility()
        self._check_device_classes()
        self._check_inert()
        n = self.topology.n_pius
        if n is not None:  # else (a topology file) when the world is built
            self._check_population(n)
        n_aps = self.topology.n_aps
        if n_aps is not None:
            self._check_aps(n_aps)
        return self

    def _check_inert(self) -> None:
        """A field that the scenario as configured never reads must keep its default, as the
        schema refuses a misspelt one: whoever changed it meant it to change something and it
        would not (an MCS table on Shannon links, LSFD without cell-free). At its default it
        passes, so a resolved scenario, which writes every field, loads again."""
        r, b = self.radio, self.backhaul
        routed = b.kind in ("tree", "ring", "mesh")
        applies: list[tuple[str, tuple[str, ...], bool, str]] = [
            ("radio", ("mcs_table", "bler_target", "max_transmissions", "harq_rtt_s",
                       "csi_period_s", "csi_delay_s", "rlc_max_retx", "rlc_status_delay_s"),
             r.link == "nr", "radio.link = 'nr'"),
            ("radio", ("pilot_length", "coherence_symbols"), r.access == "cellfree",
             "radio.access = 'cellfree'"),
            ("radio", ("pf_window_slots",), r.scheduler == "pf", "radio.scheduler = 'pf'"),
            ("radio", ("max_retransmissions",), r.target_rate_bps is not None,
             "radio.target_rate_bps"),
            ("radio", ("rician_k_db",), r.fading == "rician", "radio.fading = 'rician'"),
            ("backhaul", ("uplink_capacity_bps",), routed,
             "backhaul.kind 'tree', 'ring' or 'mesh'"),
            ("backhaul", ("aps_per_switch", "edge_servers"), b.kind == "tree",
             "backhaul.kind = 'tree'"),
            ("backhaul", ("mesh_neighbours",), b.kind == "mesh", "backhaul.kind = 'mesh'"),
        ]  # fmt: skip
        for section_name, names, used, condition in applies:
            section = getattr(self, section_name)
            for name in names:
                value = getattr(section, name)
                default = type(section).model_fields[name].default
                if not used and value != default:
                    raise _FieldError(
                        f"{section_name}.{name}",
                        value,
                        f"its default ({default!r}) unless {condition}: it has no effect here",
                    )
        sectored = (
            isinstance(self.topology, HexTopology) and self.topology.sectors == 3
        ) or isinstance(self.topology, FileTopology)
        if r.sector_antenna is not None and not sectored:
            raise _FieldError(
                "radio.sector_antenna", r.sector_antenna.model_dump(),
                "unset unless the topology has sector APs (hex with sectors = 3, or a file "
                "giving azimuth_deg): it has no effect here",
            )  # fmt: skip
        if r.combining == "lsfd" and r.access != "cellfree":
            raise _FieldError(
                "radio.combining", "lsfd", "'mr', 'mrc' or 'mmse_irc' unless radio.access = "
                "'cellfree' (LSFD weighs the APs of a cell-free network at its CPU)",
            )  # fmt: skip
        for i, flow in enumerate(b.background):
            if flow.src is not None and flow.src == flow.dst:
                raise _FieldError(
                    f"backhaul.background[{i}].dst", flow.dst, "a node other than src"
                )

    def check_aps(self, n_aps: int) -> None:
        """The checks that need the number of APs, for a topology file (the assembly layer calls
        this once it is read); raise :class:`ScenarioError`."""
        try:
            self._check_aps(n_aps)
        except _FieldError as exc:
            raise ScenarioError(f"invalid scenario:\n  {exc}") from None

    def _check_aps(self, n_aps: int) -> None:
        """Frequency reuse and the mesh degree against the ``n_aps`` APs."""
        reuse = self.radio.reuse
        if reuse != "orthogonal" and reuse > n_aps:
            raise _FieldError(
                "radio.reuse", reuse, f"at most the number of APs ({n_aps}): a reuse factor "
                "above it splits the band into channels no AP uses",
            )  # fmt: skip
        b = self.backhaul
        default = type(b).model_fields["mesh_neighbours"].default  # capped: a small mesh
        k = b.mesh_neighbours
        if b.kind == "mesh" and n_aps > 2 and k != default and k > n_aps - 1:
            raise _FieldError(
                "backhaul.mesh_neighbours", b.mesh_neighbours,
                f"at most the other APs ({n_aps - 1})",
            )  # fmt: skip

    def check_population(self, n_pius: int) -> None:
        """The checks that need the number of PIUs, for a topology whose count is known only
        once its file is read (the assembly layer calls this); raise :class:`ScenarioError`."""
        try:
            self._check_population(n_pius)
        except _FieldError as exc:
            raise ScenarioError(f"invalid scenario:\n  {exc}") from None

    def _check_population(self, n: int) -> None:
        """PIU indices, per-round counts and buffer sizes against the ``n`` PIUs."""
        for name in ("clients_per_round", "target_updates", "concurrency"):
            k = getattr(self.protocol, name)
            if k is not None and k > n:
                raise _FieldError(f"protocol.{name}", k, f"at most the number of PIUs ({n})")
        p = self.protocol
        srv = self.server
        per_round = p.clients_per_round or n
        needed = {"krum": srv.byzantine + 3, "multikrum": srv.byzantine + 3,
                  "bulyan": 4 * srv.byzantine + 3}.get(srv.aggregation)  # fmt: skip
        if needed is not None and per_round < needed:
            raise _FieldError(
                "server.byzantine",
                srv.byzantine,
                f"at most what {srv.aggregation!r} tolerates with {per_round} updates per "
                f"round (protocol.clients_per_round or the PIUs): it needs {needed}",
            )
        if srv.krum_m is not None and srv.krum_m > per_round:
            raise _FieldError("server.krum_m", srv.krum_m, f"at most {per_round} updates")
        if p.mode == "fedbuff" and p.buffer_size > (p.concurrency or n):
            raise _FieldError(
                "protocol.buffer_size",
                p.buffer_size,
                "at most the PIUs training at a time (concurrency or the number of PIUs)",
            )
        m = self.mobility
        if m.model != "none" and m.pius is not None and any(not 0 <= k < n for k in m.pius):
            raise _FieldError("mobility.pius", m.pius, f"PIU indices from 0 to {n - 1}")
        for c in self.device.classes:
            if c.pius is not None and any(not 0 <= k < n for k in c.pius):
                raise _FieldError(f"device.classes.{c.name}.pius", c.pius, f"indices below {n}")
        a = self.attack
        if a.method != "none" and any(k >= n for k in a.pius):
            raise _FieldError("attack.pius", list(a.pius), f"PIU indices below {n}")

    def _check_device_classes(self) -> None:
        classes = self.device.classes
        powers = {c.tx_power_dbm for c in classes if c.tx_power_dbm is not None}
        varies = bool(powers - {self.device.tx_power_dbm})
        # one full power for the over-the-air power control (the allocation handles each
        # PIU's own full power)
        for name, used in (("ota.enabled", self.ota.enabled),):
            if used and varies:
                raise _FieldError(
                    "device.classes",
                    "tx_power_dbm",
                    f"the same tx_power_dbm for every class with {name} (one full power)",
                )

    def _check_mobility(self) -> None:
        m = self.mobility
        if m.model == "none":
            return
        static = {
            "radio.access = 'cellfree'": self.radio.access == "cellfree",
            "ota.enabled": self.ota.enabled,
        }
        for name, clash in static.items():
            if clash:
                raise _FieldError(
                    "mobility.model",
                    m.model,
                    f"'none' with {name} (its links are computed once, for fixed positions)",
                )

    def _check_hierarchy(self) -> None:
        """Hierarchical FL needs a routed backhaul and round-based edge servers that each
        run on their own; what needs one central view of the federation is left out."""
        if self.hierarchy is None:
            return
        if self.backhaul.kind == "star":
            raise _FieldError(
                "backhaul.kind",
                "star",
                "a routed backhaul with edge servers ('file', or 'tree' with "
                "backhaul.edge_servers = true) with [hierarchy]",
            )
        p, r, c, a, m = self.protocol, self.radio, self.control, self.attack, self.mobility
        _refuse_clashes(
            [
                ("protocol.mode", p.mode, p.mode != "sync", "'sync' (edge rounds are synchronous)"),
                ("radio.access", r.access, r.access == "cellfree", "not 'cellfree' (one CPU)"),
                ("control.kind", c.kind, c.kind != "none", "'none' (one controller for all PIUs)"),
                ("attack.method", a.method, a.method != "none", "'none' (it watches one server)"),
                (
                    "mobility.model",
                    m.model,
                    m.model != "none",
                    "'none' (a PIU stays with its edge)",
                ),
            ],
            "[hierarchy]",
        )
        if self.pruning.method != "none" and self.pruning.scope == "server":
            raise _FieldError(
                "pruning.scope",
                "server",
                "'piu' with [hierarchy] (each edge server would prune its own mask)",
            )

    def _check_dp(self) -> None:
        """DP needs synchronous digital rounds (its accounting sits at the aggregation);
        client-level DP-FedAvg replaces the aggregation of a uniform sample of PIUs (what
        its accounting assumes)."""
        if self.dp.level == "none":
            return
        p, srv = self.protocol, self.server
        pruned_own = self.pruning.method != "none" and self.pruning.scope == "piu"
        ota = self.ota.enabled
        clashes: list[tuple[str, object, bool, str]] = [
            ("protocol.mode", p.mode, p.mode != "sync", "'sync'"),
            ("hierarchy", "[hierarchy]", self.hierarchy is not None, "absent"),
        ]
        if self.dp.level == "sample":
            clashes.append(("ota.enabled", ota, ota, "false (or dp.level = 'client')"))
        counted = self.dp.count_ota_noise
        clashes += [
            ("dp.count_ota_noise", counted, counted and not ota, "false without ota.enabled"),
            ("dp.adaptive_clipping", self.dp.adaptive_clipping,
             self.dp.adaptive_clipping and ota,
             "false with ota.enabled (an over-the-air sum carries no clipped count)"),
        ]  # fmt: skip
        if self.dp.level == "client":
            clashes += [
                ("protocol.selection", p.selection, p.selection != "random", "'random'"),
                ("protocol.target_updates", p.target_updates, p.target_updates is not None,
                 "unset"),
                ("server.aggregation", srv.aggregation, srv.aggregation != "fedavg", "'fedavg'"),
                ("pruning.scope", self.pruning.scope, pruned_own, "'server'"),
            ]  # fmt: skip
        _refuse_clashes(clashes, f"dp.level = {self.dp.level!r}")

    def _check_algorithm(self) -> None:
        """What the FL algorithm needs of the rest of the scenario (its
        :data:`ALGORITHM_NEEDS`): FedNova re-weights, SCAFFOLD and FedDyn extend, the
        updates of synchronous rounds that they combine themselves; SCAFFOLD's control
        variates assume plain local SGD; SCAFFOLD's and FedDyn's server state is one
        server's."""
        algorithm = self.learning.algorithm
        needs = ALGORITHM_NEEDS[algorithm]
        pruned = self.pruning.method != "none"
        opt, dp = self.learning.optimizer, self.dp.level
        default = "its default"
        clashes: list[tuple[str, object, bool, str]] = [
            ("protocol.mode", self.protocol.mode,
             "sync" in needs and self.protocol.mode != "sync", default),
            ("ota.enabled", self.ota.enabled, "digital" in needs and self.ota.enabled, default),
            ("server.aggregation", self.server.aggregation,
             "own_rule" in needs and self.server.aggregation != "fedavg", default),
            ("pruning.method", self.pruning.method, "unpruned" in needs and pruned, default),
            ("pruning.scope", self.pruning.scope,
             "shared_mask" in needs and pruned and self.pruning.scope == "piu", default),
            ("learning.optimizer.momentum", opt.momentum,
             "plain_sgd" in needs and opt.momentum != 0, default),
            ("learning.optimizer.weight_decay", opt.weight_decay,
             "plain_sgd" in needs and opt.weight_decay != 0, default),
            ("dp.level", dp, "no_dp" in needs and dp != "none", default),
            ("dp.level", dp, "own_combine" in needs and dp == "client", "not 'client'"),
            ("hierarchy", "[hierarchy]", "one_server" in needs and self.hierarchy is not None,
             default),
        ]  # fmt: skip
        _refuse_clashes(
            clashes,
            f"learning.algorithm = {algorithm!r} (it combines the updates of synchronous "
            "rounds itself; see ALGORITHM_NEEDS in netsim/scenario/learning.py)",
        )

    def _check_predictive(self) -> None:
        """The closed loop forecasts SNRs from the spatially consistent maps; "model" is the
        run's own federated SNR predictor; one server runs the rounds."""
        p = self.protocol
        if p.selection != "predictive":
            if p.predictive_deadline is not None:
                raise _FieldError(
                    "protocol.predictive_deadline", p.predictive_deadline,
                    "unset unless protocol.selection = 'predictive'",
                )  # fmt: skip
            return
        learned = self.learning.dataset == "radio" and self.learning.task == "snr"
        clashes: list[tuple[str, object, bool, str]] = [
            ("radio.spatial_consistency_m", None, self.radio.spatial_consistency_m is None,
             "a decorrelation distance (m)"),
            ("learning.task", self.learning.task, p.predictor == "model" and not learned,
             "'snr' on learning.dataset = 'radio' with protocol.predictor = 'model' (the "
             "run's own SNR model forecasts)"),
            ("hierarchy", "[hierarchy]", self.hierarchy is not None, "absent"),
            ("radio.access", self.radio.access, self.radio.access == "cellfree",
             "'tdma' or 'fdma'"),
            ("ota.enabled", self.ota.enabled, self.ota.enabled, "false"),
        ]  # fmt: skip
        _refuse_clashes(clashes, "protocol.selection = 'predictive'")

    def _check_protocol(self) -> None:
        p = self.protocol
        if p.target_accuracy is not None and self.learning.task != "classification":
            raise _FieldError(
                "protocol.target_accuracy",
                p.target_accuracy,
                f"unset with learning.task = {self.learning.task!r} (no accuracy: "
                "classification only)",
            )
        pl = self.radio.pathloss
        if (
            isinstance(pl, RayTracedPathLoss)
            and pl.scene is None
            and not (
                isinstance(self.topology, FactoryHallTopology)
                and self.topology.building is not None
            )
        ):
            raise _FieldError(
                "radio.pathloss.scene", None,
                "a Mitsuba XML file, unless topology.kind = 'factory_hall' with a "
                "topology.building to trace",
            )  # fmt: skip
        if p.patience is not None and self.learning.eval_every is None:
            raise _FieldError(
                "protocol.patience",
                p.patience,
                "unset without learning.eval_every (the validation loss is the PIUs' held-out "
                "shares' loss, scored every eval_every rounds)",
            )
        if p.target_updates is not None and self.ota.enabled:
            raise _FieldError(
                "protocol.target_updates",
                p.target_updates,
                "unset with ota.enabled (an over-the-air sum cannot keep the first K)",
            )
        if p.mode == "sync":
            return
        clashes = {
            "ota.enabled": self.ota.enabled,
            "server.optimizer": self.server.optimizer.name != "sgd"
            or self.server.optimizer.lr != 1.0,
            "allocation.method": self.allocation.method != "none",
            "control.kind": self.control.kind != "none",
            "pruning.method": self.pruning.method != "none",
            "attack.method": self.attack.method != "none",
        }
        for name, clash in clashes.items():
            if clash:
                raise _FieldError(
                    "protocol.mode",
                    p.mode,
                    f"'sync' with {name} set (round-based: there are no rounds in {p.mode})",
                )

    def _check_attack(self) -> None:
        a = self.attack
        if a.method == "none":
            return
        if a.method != "gan" and self.learning.optimizer.name != "sgd":
            raise _FieldError(
                "learning.optimizer.name",
                self.learning.optimizer.name,
                "'sgd' with an attack (the attacker unrolls the local SGD steps)",
            )
        rounds = self.protocol.rounds
        if any(r >= rounds for r in a.attacked_rounds or ()):
            raise _FieldError(
                "attack.rounds", list(a.rounds or ()), f"rounds below protocol.rounds ({rounds})"
            )
        if a.method != "gan":
            return
        if len(a.pius) != 1:
            raise _FieldError("attack.pius", list(a.pius), "one PIU (the GAN adversary)")
        for name in ("victim_class", "fake_class"):
            if getattr(a, name) is None:
                raise _FieldError(f"attack.{name}", None, "a class index with method = 'gan'")
        if a.victim_class == a.fake_class:
            raise _FieldError(
                "attack.fake_class",
                a.fake_class,
                f"a class other than victim_class ({a.victim_class})",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "scenario") -> Scenario:
        """Validate a nested dict (as read from TOML); raise :class:`ScenarioError`."""
        if not isinstance(data, Mapping):
            raise ScenarioError(
                f"invalid {source}: expected a table (dict) of sections such as "
                f"{{'protocol': {{'rounds': 5}}}}, got {type(data).__name__} {data!r:.60}"
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            unknown = tuple(
                ".".join(str(part) for part in _user_path(err["loc"], data, cls)[0])
                for err in exc.errors()
                if err["type"] == "extra_forbidden"
            )
            raise ScenarioError(_format_errors(exc, data, source, cls), unknown) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, None fields left out (TOML has no null)."""
        return _strip_none(self.model_dump(mode="python"))

    def to_toml(self) -> str:
        """The resolved scenario as TOML; loading it gives an equal scenario."""
        return tomli_w.dumps(self.to_dict())

    def with_overrides(self, overrides: Iterable[str]) -> Scenario:
        """A copy with ``a.b=c`` overrides applied and validated again."""
        data = self.to_dict()
        apply_overrides(data, overrides)
        return Scenario.from_dict(data, source="scenario with --set overrides")


def _refuse_clashes(clashes: Iterable[tuple[str, object, bool, str]], setting: str) -> None:
    """Raise for the first ``(field, value, clash, allowed)`` that clashes with ``setting``:
    ``field = value`` is not allowed; expected ``allowed`` with ``setting``."""
    for name, value, clash, allowed in clashes:
        if clash:
            raise _FieldError(name, value, f"{allowed} with {setting}")

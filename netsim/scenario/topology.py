"""[topology] and [backhaul]: where the server, APs and PIUs are, and the AP links."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import FilePath, NonNegativeFloat, Position, PositiveFloat, _Frozen
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- topology


class _TopologyBase(_Frozen):
    ap_height_m: NonNegativeFloat = 10.0
    piu_height_m: NonNegativeFloat = 1.5


class SingleCellTopology(_TopologyBase):
    """One AP at the centre of a disc; PIUs uniform in the annulus [min_distance_m, radius_m]."""

    kind: Literal["single_cell"] = "single_cell"
    num_pius: int = Field(10, ge=1)
    radius_m: PositiveFloat = 250.0
    min_distance_m: NonNegativeFloat = 10.0

    @model_validator(mode="after")
    def _annulus(self) -> SingleCellTopology:
        if self.min_distance_m >= self.radius_m:
            raise ValueError(
                f"min_distance_m ({self.min_distance_m}) must be below radius_m ({self.radius_m})"
            )
        return self

    @property
    def n_pius(self) -> int:
        """The number of PIUs."""
        return self.num_pius

    @property
    def n_aps(self) -> int:
        """The number of APs."""
        return 1


class GridTopology(_TopologyBase):
    """``aps_per_side**2`` APs on a regular grid in a square; PIUs uniform in the square
    (the cell-free layout with ``wrap_around``)."""

    kind: Literal["grid"]
    num_pius: int = Field(20, ge=1)
    aps_per_side: int = Field(2, ge=1)
    side_m: PositiveFloat = 500.0
    wrap_around: bool = False  # distances on a torus (cell-free book): no edge effects
    ap_perturbation_m: NonNegativeFloat = 0.0  # each AP moved uniformly within +-this in x, y

    @property
    def n_pius(self) -> int:
        """The number of PIUs."""
        return self.num_pius

    @property
    def n_aps(self) -> int:
        """The number of APs."""
        return self.aps_per_side**2


class FactoryHallTopology(_TopologyBase):
    """IIoT factory hall (3GPP InF geometry): APs on a regular grid under the ceiling, PIUs
    on machines (``machine_spacing_m`` grid spots inside the hall, drawn without
    replacement)."""

    kind: Literal["factory_hall"]
    num_pius: int = Field(100, ge=1)
    length_m: PositiveFloat = 120.0
    width_m: PositiveFloat = 60.0
    aps_along_length: int = Field(2, ge=1)
    aps_along_width: int = Field(1, ge=1)
    machine_spacing_m: PositiveFloat = 4.0
    ap_height_m: NonNegativeFloat = 8.0  # ceiling-mounted

    @model_validator(mode="after")
    def _room_for_machines(self) -> FactoryHallTopology:
        spots = self.machine_spots()
        if self.num_pius > spots:
            raise _FieldError(
                "num_pius",
                self.num_pius,
                f"at most the {spots} machine spots of a {self.length_m} x {self.width_m} m "
                f"hall at machine_spacing_m = {self.machine_spacing_m}",
            )
        return self

    def machine_spots(self) -> int:
        """Machine positions in the hall (PIUs take distinct ones)."""
        return int(self.length_m // self.machine_spacing_m) * int(
            self.width_m // self.machine_spacing_m
        )

    @property
    def n_pius(self) -> int:
        """The number of PIUs."""
        return self.num_pius

    @property
    def n_aps(self) -> int:
        """The number of APs."""
        return self.aps_along_length * self.aps_along_width


class ExplicitTopology(_TopologyBase):
    """Nodes at given (x, y) positions in metres."""

    kind: Literal["explicit"]
    ap_positions_m: list[Position] = Field(min_length=1)
    piu_positions_m: list[Position] = Field(min_length=1)

    @property
    def n_pius(self) -> int:
        """The number of PIUs."""
        return len(self.piu_positions_m)

    @property
    def n_aps(self) -> int:
        """The number of APs."""
        return len(self.ap_positions_m)


class HexTopology(_TopologyBase):
    """A hexagonal multi-cell layout (3GPP TR 38.901 7.2): ``sites`` (7 or 19) sites
    ``isd_m`` apart, each with ``sectors`` APs (1: omnidirectional; 3: sectors facing 30,
    150 and 270 degrees with the 38.901 sector pattern), PIUs uniform over the cells at
    least ``min_distance_m`` from their site. ``wrap_around``: every link is measured to
    the nearest of the layout's seven images, so edge cells see interference as inner
    ones do. Typical: UMi ISD 200 m, AP height 10 m; UMa ISD 500 m, AP height 25 m."""

    kind: Literal["hex"]
    num_pius: int = Field(70, ge=1)
    sites: Literal[7, 19] = 7
    sectors: Literal[1, 3] = 1
    isd_m: PositiveFloat = 200.0
    min_distance_m: NonNegativeFloat = 10.0
    wrap_around: bool = False

    @model_validator(mode="after")
    def _room_in_a_cell(self) -> HexTopology:
        if self.min_distance_m >= self.isd_m / 2:
            raise _FieldError(
                "min_distance_m",
                self.min_distance_m,
                f"less than half the inter-site distance ({self.isd_m / 2:g} m)",
            )
        return self

    @property
    def n_pius(self) -> int:
        """The number of PIUs."""
        return self.num_pius

    @property
    def n_aps(self) -> int:
        """One AP per sector of every site."""
        return self.sites * self.sectors


class FileTopology(_TopologyBase):
    """APs and PIUs placed by a GraphML/GML file (see ``topologies/graphml.py``); a relative
    ``path`` is relative to the scenario file. ``ap_height_m`` / ``piu_height_m`` apply to
    nodes without a ``height_m`` attribute."""

    kind: Literal["file"]
    path: FilePath

    @property
    def n_pius(self) -> None:
        """Unknown until the file is read (when the world is built: the schema reads no
        files)."""
        return None

    @property
    def n_aps(self) -> None:
        """Unknown until the file is read."""
        return None


Topology = Annotated[
    SingleCellTopology
    | GridTopology
    | FactoryHallTopology
    | ExplicitTopology
    | HexTopology
    | FileTopology,
    Field(discriminator="kind"),
]


class BackgroundFlow(_Frozen):
    """Other traffic on the routed backhaul: ``rate_bps`` (constant bit rate) from ``src``
    to ``dst`` (backhaul node names: ``server``, ``core``, ``sw0``, ``ap0``, ...) or on one
    ``link = [u, v]`` (that direction); with ``on_s`` and ``off_s`` it is on and off for
    exponentially distributed times of those means (drawn from the seed), else always on.
    It takes its max-min fair share, at most ``rate_bps``. ``flows`` > 1 makes it an
    aggregate of that many connections (e.g. many users' TCP), each at most
    ``rate_bps / flows`` and on/off on its own: against a few FL transfers, one flow gets
    one fair share, an aggregate of many gets up to ``rate_bps``."""

    src: str | None = None
    dst: str | None = None
    link: list[str] | None = Field(None, min_length=2, max_length=2)
    rate_bps: PositiveFloat
    on_s: PositiveFloat | None = None
    off_s: PositiveFloat | None = None
    flows: int = Field(1, ge=1, le=10_000)

    @model_validator(mode="after")
    def _ends(self) -> BackgroundFlow:
        if (self.link is None) == (self.src is None or self.dst is None):
            raise _FieldError(
                "link", self.link, "either link = [u, v] or both src and dst (not both ways)"
            )
        if (self.on_s is None) != (self.off_s is None):
            raise _FieldError("on_s", self.on_s, "set together with off_s (or neither)")
        return self


class LinkOutage(_Frozen):
    """Backhaul link ``link = [u, v]`` is down (both directions) from ``start_s`` for
    ``duration_s``: transfers crossing it move their remaining bits to another route, or
    wait for it when there is none."""

    link: list[str] = Field(min_length=2, max_length=2)
    start_s: NonNegativeFloat
    duration_s: PositiveFloat


class LinkFailures(_Frozen):
    """Random failures of backhaul links (``[backhaul.failures]``): each link of ``links``
    (default: every link) fails after exponentially distributed times in service of mean
    ``mtbf_s`` and is repaired after exponentially distributed times of mean ``mttr_s``,
    independently, drawn from the seed (the same seed, the same failures)."""

    mtbf_s: PositiveFloat
    mttr_s: PositiveFloat
    links: list[list[str]] | None = None


class BackhaulConfig(_Frozen):
    """The wired network between the APs and the server.

    kind: "star" (default): each AP has its own link to the server (fronthaul in cell-free
        terms), ``capacity_bps`` with ``latency_s``, FIFO (one message at a time). Else a
        routed network (``netsim/backhaul``) where transfers share links at max-min fair
        rates along shortest-latency routes, and the server hangs off a ``core`` switch by
        one shared uplink of ``uplink_capacity_bps`` (default ``capacity_bps``):
        "tree": APs -> aggregation switches (``aps_per_switch`` each) -> core; with
        ``edge_servers = true`` the aggregation switches are edge servers ``edge0``, ...
        (hierarchical FL, ``[hierarchy]``);
        "ring": the APs in a ring, the core attached at two opposite APs;
        "mesh": a connected small world over the APs (Watts-Strogatz, each AP linked to
        ``mesh_neighbours`` nearest on a ring, rewired with probability 0.2, drawn from the
        seed), the core attached at two opposite APs.
        Every link has ``capacity_bps`` and ``latency_s`` in each direction.
        "file": the edges of the topology file (``topology.kind = "file"``) between its
        APs, ``switch`` and ``edge`` nodes and the server, each with its own
        ``capacity_bps`` and ``latency_s`` (``topologies/graphml.py``).
    background: ``[[backhaul.background]]`` flows of other traffic (routed kinds only).
    outages: ``[[backhaul.outages]]`` scheduled link failures (routed kinds only; logged as
        ``link_down`` / ``link_up`` of node ``u-v``, role ``backhaul``).
    failures: ``[backhaul.failures]`` random link failures (routed kinds only; logged the
        same way; overlapping with a scheduled one, the link is down until both end).
    paths: routes given instead of the shortest-latency ones, each a node list from its
        source to its destination (``["ap0", "sw0", "core", "server"]``; the reverse
        direction follows it backwards unless given too); while one of its links is down,
        the shortest route that is up.
    """

    kind: Literal["star", "tree", "ring", "mesh", "file"] = "star"
    capacity_bps: PositiveFloat = 1e9
    latency_s: NonNegativeFloat = 1e-3
    uplink_capacity_bps: PositiveFloat | None = None
    aps_per_switch: int = Field(4, ge=1)
    edge_servers: bool = False
    mesh_neighbours: int = Field(4, ge=2)
    background: list[BackgroundFlow] = []
    outages: list[LinkOutage] = []
    failures: LinkFailures | None = None
    paths: list[list[str]] = []

    @model_validator(mode="after")
    def _routed(self) -> BackhaulConfig:
        if self.edge_servers and self.kind != "tree":
            raise _FieldError(
                "edge_servers", True, "false unless kind = 'tree' (a file names its own)"
            )
        failures = [] if self.failures is None else [self.failures]
        for name, items in (
            ("background", self.background), ("outages", self.outages), ("failures", failures),
            ("paths", self.paths),
        ):  # fmt: skip
            if items and self.kind == "star":
                raise _FieldError(
                    name,
                    "[...]",
                    "none with kind = 'star' (private links to the server); "
                    "use kind = 'tree', 'ring' or 'mesh'",
                )
        return self

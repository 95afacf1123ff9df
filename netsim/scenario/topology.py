"""[topology] and [backhaul]: where the server, APs and PIUs are, and the AP links."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from netsim.scenario.base import (
    MAX_PIUS,
    BitRate,
    Coordinate,
    FilePath,
    Height,
    Metres,
    NonNegativeMetres,
    NonNegativeSeconds,
    Position,
    Seconds,
    _Frozen,
)
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- topology


class _TopologyBase(_Frozen):
    ap_height_m: Height = 10.0
    """Antenna height of every AP above the floor."""
    piu_height_m: Height = 1.5
    """Antenna height of every PIU above the floor."""


class SingleCellTopology(_TopologyBase):
    """One AP at the centre of a disc; PIUs uniform in the annulus [min_distance_m, radius_m]."""

    kind: Literal["single_cell"] = "single_cell"
    """A single cell: one AP at the centre of a disc."""
    num_pius: int = Field(10, ge=1, le=MAX_PIUS)
    """Number of PIUs, placed uniformly at random (from the seed) in the annulus."""
    radius_m: Metres = 250.0
    """Outer radius of the cell."""
    min_distance_m: NonNegativeMetres = 10.0
    """No PIU is closer than this to the AP."""

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
    """APs on a square grid (the cell-free layout)."""
    num_pius: int = Field(20, ge=1, le=MAX_PIUS)
    """Number of PIUs, uniform in the square."""
    aps_per_side: int = Field(2, ge=1, le=100)
    """APs along each side: aps_per_side**2 APs in all, each at the centre of its grid cell."""
    side_m: Metres = 500.0
    """Side of the square area."""
    wrap_around: bool = False
    """Distances on a torus (as in the cell-free book): no PIU is at an edge, every one sees APs
    all around."""
    ap_perturbation_m: NonNegativeMetres = 0.0
    """Each AP moved uniformly within +- this in x and y (from the seed): an irregular
    deployment."""

    @property
    def n_pius(self) -> int:
        """The number of PIUs."""
        return self.num_pius

    @property
    def n_aps(self) -> int:
        """The number of APs."""
        return self.aps_per_side**2


# ITU-R P.2040 materials as Sionna RT names them (netsim/radio/scenes.py checks the same)
ItuMaterial = Literal[
    "marble", "concrete", "wood", "metal", "brick", "glass", "floorboard", "ceiling_board",
    "chipboard", "plasterboard", "plywood", "very_dry_ground", "medium_dry_ground",
    "wet_ground",
]  # fmt: skip


class MachineGridConfig(_Frozen):
    """Machines on a regular grid over the hall: one centred in each cell of a rows x cols
    division of the floor."""

    rows: int = Field(2, ge=1, le=100)
    cols: int = Field(4, ge=1, le=100)
    size_m: Annotated[tuple[Metres, Metres, Metres], Strict(False)] = (6.0, 4.0, 3.0)
    """Each machine's extent along x, y and its height."""
    material: ItuMaterial = "metal"


class ShelfRowsConfig(_Frozen):
    """Rows of shelves along the hall's length, with aisles at both ends."""

    y_m: list[Coordinate] = Field(min_length=1, max_length=100)
    """The rows' centre lines (y)."""
    depth_m: Metres = 1.0
    height_m: Metres = 5.0
    margin_m: float = Field(5.0, ge=0.0, le=1.0e4)
    """Free floor at both ends of a row."""
    material: ItuMaterial = "metal"


class BuildingConfig(_Frozen):
    """The hall as a building for the ray tracer (radio.pathloss.model = "raytraced" without
    a scene file): walls, floor and roof, machines and shelves of ITU materials
    (``netsim/radio/scenes.py``). PIUs then take only machine spots on free floor."""

    height_m: Metres = 10.0
    """Ceiling height (above the APs)."""
    wall_material: ItuMaterial = "concrete"
    floor_material: ItuMaterial = "concrete"
    roof_material: ItuMaterial = "metal"
    machines: MachineGridConfig | None = MachineGridConfig()
    shelves: ShelfRowsConfig | None = None


class FactoryHallTopology(_TopologyBase):
    """IIoT factory hall (3GPP InF geometry): APs on a regular grid under the ceiling, PIUs
    on machines (``machine_spacing_m`` grid spots inside the hall, drawn without
    replacement)."""

    kind: Literal["factory_hall"]
    """An IIoT factory hall (3GPP TR 38.901 Indoor Factory geometry)."""
    num_pius: int = Field(100, ge=1, le=MAX_PIUS)
    """Number of PIUs (machines), at distinct machine spots drawn from the seed; at most the
    hall's spots."""
    length_m: Metres = 120.0
    """Length of the hall."""
    width_m: Metres = 60.0
    """Width of the hall."""
    aps_along_length: int = Field(2, ge=1, le=100)
    """Ceiling APs along the length (a regular grid)."""
    aps_along_width: int = Field(1, ge=1, le=100)
    """Ceiling APs along the width."""
    machine_spacing_m: Metres = 4.0
    """Spacing of the grid of machine spots inside the hall."""
    ap_height_m: Height = 8.0
    """Antenna height of the ceiling-mounted APs."""
    building: BuildingConfig | None = None
    """The hall's walls, machines and shelves, for a ray-traced channel (absent: an empty
    hall; the statistical path-loss models ignore it)."""

    @model_validator(mode="after")
    def _room_for_machines(self) -> FactoryHallTopology:
        if self.building is not None and self.building.height_m <= self.ap_height_m:
            raise _FieldError(
                "building.height_m", self.building.height_m,
                f"above ap_height_m ({self.ap_height_m}): the APs hang under the roof",
            )  # fmt: skip
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
    """Nodes at given positions."""
    ap_positions_m: list[Position] = Field(min_length=1)
    """(x, y) of every AP, in metres: [[0.0, 0.0], [100.0, 0.0]]."""
    piu_positions_m: list[Position] = Field(min_length=1)
    """(x, y) of every PIU, in metres."""

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
    """A hexagonal multi-cell layout (3GPP TR 38.901 7.2)."""
    num_pius: int = Field(70, ge=1, le=MAX_PIUS)
    """Number of PIUs, uniform over the cells."""
    sites: Literal[7, 19] = 7
    """Number of sites: a centre site and one ring (7) or two rings (19)."""
    sectors: Literal[1, 3] = 1
    """APs per site: 1 omnidirectional, or 3 sectors facing 30, 150 and 270 degrees with the TR
    38.901 antenna pattern."""
    isd_m: Metres = 200.0
    """Inter-site distance (UMi: 200 m, UMa: 500 m)."""
    min_distance_m: NonNegativeMetres = 10.0
    """No PIU is closer than this to its site; below half the inter-site distance."""
    wrap_around: bool = False
    """Every link measured to the nearest of the layout's seven images, so edge cells see
    interference as inner ones do."""

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
    """Nodes (and, with backhaul.kind = 'file', the backhaul) from a GraphML or GML file."""
    path: FilePath
    """The GraphML/GML file; relative to the scenario file. Nodes carry role (ap, piu, server,
    switch, edge), x_m, y_m and optionally height_m; edges between wired nodes carry capacity_bps
    and latency_s."""

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
    """Other traffic on the routed backhaul, from ``src`` to ``dst`` or on one ``link``, always
    on or on and off; it takes its max-min fair share of each link it crosses."""

    src: str | None = None
    """Source node of the traffic (server, core, sw0, ap0, ...), with dst; or give link."""
    dst: str | None = None
    """Destination node, with src."""
    link: list[str] | None = Field(None, min_length=2, max_length=2)
    """One directed backhaul link [u, v] the traffic loads, instead of src and dst."""
    rate_bps: BitRate
    """Offered rate (constant bit rate); the flow gets its max-min fair share, at most this."""
    on_s: Seconds | None = None
    """Mean of the exponential on periods (with off_s; absent: always on)."""
    off_s: Seconds | None = None
    """Mean of the exponential off periods (with on_s)."""
    flows: int = Field(1, ge=1, le=10_000)
    """Number of connections the traffic is an aggregate of, each at most rate_bps / flows and
    on/off on its own: against a few FL transfers one flow gets one fair share, many get up to
    rate_bps."""

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
    """A scheduled outage of a backhaul link: transfers crossing it move their remaining bits
    to another route, or wait for it when there is none."""

    link: list[str] = Field(min_length=2, max_length=2)
    """The backhaul link [u, v], down in both directions."""
    start_s: NonNegativeSeconds
    """Simulated time the outage starts."""
    duration_s: Seconds
    """How long it lasts."""


class LinkFailures(_Frozen):
    """Random failures of backhaul links (``[backhaul.failures]``), independent per link and
    drawn from the seed (the same seed, the same failures)."""

    mtbf_s: Seconds
    """Mean time between failures of each link (exponential times in service, from the seed)."""
    mttr_s: Seconds
    """Mean time to repair (exponential)."""
    links: list[list[str]] | None = None
    """The links that can fail, as [u, v] pairs (absent: every link)."""


class BackhaulConfig(_Frozen):
    """The wired network between the APs and the server: a star of private links, a
    generated routed network (tree, ring, mesh) or a topology file's edges, with background
    traffic, outages and failures (``netsim/backhaul``)."""

    kind: Literal["star", "tree", "ring", "mesh", "file"] = "star"
    """star: each AP's private link to the server (one message at a time). tree, ring, mesh: a
    routed network where transfers share links at max-min fair rates along shortest-latency
    routes, the server behind a core switch (tree: APs -> switches -> core; ring: the APs in a
    ring; mesh: a Watts-Strogatz small world over the APs). file: the topology file's edges."""
    capacity_bps: BitRate = 1e9
    """Capacity of every generated link, each direction (a file's edges carry their own)."""
    latency_s: NonNegativeSeconds = 1e-3
    """Propagation latency of every generated link, each direction."""
    uplink_capacity_bps: BitRate | None = None
    """Capacity of the shared core -> server uplink of a routed kind (absent: capacity_bps)."""
    aps_per_switch: int = Field(4, ge=1, le=10_000)
    """tree: APs per aggregation switch."""
    edge_servers: bool = False
    """tree: the aggregation switches are edge servers edge0, edge1, ... (hierarchical FL,
    [hierarchy])."""
    mesh_neighbours: int = Field(4, ge=2, le=10_000)
    """mesh: each AP is linked to this many nearest on a ring before rewiring (probability 0.2,
    from the seed); at most the other APs (the default is capped to them)."""
    background: list[BackgroundFlow] = []
    """Flows of other traffic ([[backhaul.background]]; routed kinds only)."""
    outages: list[LinkOutage] = []
    """Scheduled link outages ([[backhaul.outages]]; routed kinds only): transfers reroute with
    what they delivered kept, or wait for a path; logged as link_down / link_up."""
    failures: LinkFailures | None = None
    """Random link failures ([backhaul.failures]; routed kinds only); overlapping with a
    scheduled outage, a link is down until both end."""
    paths: list[list[str]] = []
    """Routes given instead of the shortest, each a node list from source to destination (["ap0",
    "sw0", "core", "server"]); the reverse direction follows it backwards unless given; while one
    of its links is down, the shortest route that is up."""

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

"""Scenes for the ray tracer written from a few numbers: a factory hall with walls, a floor,
a roof, rows of machines and rows of shelves, each of an ITU radio material (ITU-R P.2040,
as Sionna RT names them), as a Mitsuba 3 XML file (issue 42). A user without Blender gets a
building; the file is plain text, so it can be versioned, diffed and edited.

Every object is an axis-aligned box (Mitsuba's ``cube`` shape, which spans [-1, 1]^3,
scaled and moved): the hall spans x in [0, length_m], y in [0, width_m], z in [0,
height_m]; walls, floor and roof are slabs outside that volume (their inner faces on its
boundary), so nothing inside the hall is covered by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# the materials Sionna RT's ITURadioMaterial knows (ITU-R P.2040-3 Table 3)
ITU_MATERIALS = (
    "marble", "concrete", "wood", "metal", "brick", "glass", "floorboard", "ceiling_board",
    "chipboard", "plasterboard", "plywood", "very_dry_ground", "medium_dry_ground",
    "wet_ground",
)  # fmt: skip


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: ``lower`` and ``upper`` corners (x, y, z) in m, of a material."""

    name: str
    lower: tuple[float, float, float]
    upper: tuple[float, float, float]
    material: str

    def __post_init__(self) -> None:
        if any(u <= lo for lo, u in zip(self.lower, self.upper, strict=True)):
            raise ValueError(f"box {self.name!r}: upper {self.upper} not above lower {self.lower}")
        if self.material not in ITU_MATERIALS:
            raise ValueError(f"box {self.name!r}: material {self.material!r}; one of "
                             f"{', '.join(ITU_MATERIALS)}")  # fmt: skip

    def contains(self, x: float, y: float) -> bool:
        """Whether the point (x, y) lies inside the box's footprint."""
        return self.lower[0] <= x <= self.upper[0] and self.lower[1] <= y <= self.upper[1]


@dataclass(frozen=True)
class Hall:
    """A factory hall: ``length_m`` x ``width_m`` x ``height_m``, walls, floor and roof of
    ``wall_material`` / ``floor_material`` / ``roof_material`` (``thickness_m`` thick), and
    ``machines`` and ``shelves`` (boxes inside it)."""

    length_m: float
    width_m: float
    height_m: float = 8.0
    wall_material: str = "concrete"
    floor_material: str = "concrete"
    roof_material: str = "metal"
    thickness_m: float = 0.3
    machines: tuple[Box, ...] = field(default_factory=tuple)
    shelves: tuple[Box, ...] = field(default_factory=tuple)

    def shell(self) -> list[Box]:
        """Floor, roof and the four walls, outside the hall's volume."""
        L, W, H, t = self.length_m, self.width_m, self.height_m, self.thickness_m
        return [
            Box("floor", (-t, -t, -t), (L + t, W + t, 0.0), self.floor_material),
            Box("roof", (-t, -t, H), (L + t, W + t, H + t), self.roof_material),
            Box("wall_south", (-t, -t, 0.0), (L + t, 0.0, H), self.wall_material),
            Box("wall_north", (-t, W, 0.0), (L + t, W + t, H), self.wall_material),
            Box("wall_west", (-t, 0.0, 0.0), (0.0, W, H), self.wall_material),
            Box("wall_east", (L, 0.0, 0.0), (L + t, W, H), self.wall_material),
        ]

    def obstacles(self) -> list[Box]:
        """The machines and shelves."""
        return [*self.machines, *self.shelves]

    def free(self, x: float, y: float) -> bool:
        """Whether (x, y) is on the hall's floor and in no machine or shelf."""
        inside = 0.0 <= x <= self.length_m and 0.0 <= y <= self.width_m
        return inside and not any(b.contains(x, y) for b in self.obstacles())

    def xml(self) -> str:
        """The Mitsuba 3 XML scene (ITU radio materials, one ``cube`` per box)."""
        boxes = [*self.shell(), *self.obstacles()]
        materials = sorted({b.material for b in boxes})
        lines = ['<scene version="2.1.0">']
        for m in materials:
            lines += [
                f'  <bsdf type="itu-radio-material" id="{m}">',
                f'    <string name="type" value="{m}"/>',
                f'    <float name="thickness" value="{self.thickness_m:g}"/>',
                "  </bsdf>",
            ]
        for b in boxes:
            size = [(u - lo) / 2 for lo, u in zip(b.lower, b.upper, strict=True)]
            centre = [(u + lo) / 2 for lo, u in zip(b.lower, b.upper, strict=True)]
            lines += [
                f'  <shape type="cube" id="{b.name}">',
                '    <transform name="to_world">'
                f'<scale x="{size[0]:g}" y="{size[1]:g}" z="{size[2]:g}"/>'
                f'<translate x="{centre[0]:g}" y="{centre[1]:g}" z="{centre[2]:g}"/>'
                "</transform>",
                f'    <ref id="{b.material}"/>',
                "  </shape>",
            ]
        return "\n".join([*lines, "</scene>", ""])


def machine_grid(
    length_m: float,
    width_m: float,
    rows: int,
    cols: int,
    size_m: Sequence[float] = (4.0, 3.0, 3.0),
    material: str = "metal",
) -> tuple[Box, ...]:
    """``rows`` x ``cols`` machines of ``size_m`` (x, y, z) m centred on a regular grid over
    the hall (cell centres of a rows x cols division of the floor)."""
    sx, sy, sz = size_m
    out = []
    for i in range(rows):
        for j in range(cols):
            x, y = (j + 0.5) * length_m / cols, (i + 0.5) * width_m / rows
            out.append(Box(f"machine_{i}_{j}", (x - sx / 2, y - sy / 2, 0.0),
                           (x + sx / 2, y + sy / 2, sz), material))  # fmt: skip
    return tuple(out)


def shelf_rows(
    length_m: float,
    y_m: Sequence[float],
    depth_m: float = 1.0,
    height_m: float = 5.0,
    margin_m: float = 5.0,
    material: str = "metal",
) -> tuple[Box, ...]:
    """Rows of shelves along x, one centred at each ``y_m``, ``depth_m`` deep and
    ``height_m`` tall, leaving ``margin_m`` free at both ends (aisles to drive round)."""
    return tuple(
        Box(
            f"shelf_{k}",
            (margin_m, y - depth_m / 2, 0.0),
            (length_m - margin_m, y + depth_m / 2, height_m),
            material,
        )  # fmt: skip
        for k, y in enumerate(y_m)
    )

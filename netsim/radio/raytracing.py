"""Ray-traced radio maps of a 3D scene, on Sionna RT (issue 42).

A scene is a Mitsuba 3 XML file (as Blender's Mitsuba add-on exports it, or as
``netsim``'s builders write it) whose shapes carry ITU radio materials (ITU-R P.2040:
concrete, brick, metal, ...). For every AP, Sionna RT's radio map solver shoots
``rays`` rays from an isotropic antenna at the AP and integrates, over each square cell
of a horizontal measurement plane at the PIUs' height, the path gain an isotropic
receiver would see (line of sight, specular reflections up to ``max_depth`` bounces,
refraction, and optionally diffraction): the cell average of ``sum_i |a_i|^2`` over the
propagation paths i (Sionna RT technical report, radio map solver). Each AP's map is
computed once and read at every PIU position by interpolation, so its cost does not grow
with the PIUs, static or moving.

What the tracer cannot reach (a cell no ray entered: deep shadow, or inside a machine)
gets the *floor rule*: the smallest gain the tracer found anywhere in that AP's map, never
a zero gain (a link is then as weak as the weakest traced one, not infinitely weak).

Maps are deterministic: Dr.Jit's CPU backend accumulates a map's Monte Carlo sum with
atomic adds, whose order (and so the last bits) follows the thread schedule, so the
tracing runs on one thread (the same bits on every run with the same seed). They are
cached in a folder by a key over everything they depend on (the scene file and the
meshes it references, byte for byte; the APs; the carrier; the plane; the solver's
settings; the Sionna RT version).

Sionna RT is an optional dependency (``pip install 'netsim[rt]'``). Dr.Jit's CPU backend
needs LLVM 16 or newer (Debian 12's default LLVM 15 aborts the process on the first
trace): :func:`prepare_llvm` finds one (``apt-get install libllvm19``) and points
``DRJIT_LIBLLVM_PATH`` at it before Dr.Jit loads, or says what to install.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

MIN_LLVM = 16  # Dr.Jit's LLVM backend: 15 lacks fmaximum/fminimum ("Cannot select")
# where distributions put libLLVM (Debian/Ubuntu's libllvmN, LLVM's own packages, Homebrew)
LLVM_GLOBS = (
    "/usr/lib/*-linux-gnu/libLLVM*.so*",
    "/usr/lib/llvm-*/lib/libLLVM*.so*",
    "/usr/lib64/libLLVM*.so*",
    "/usr/local/lib/libLLVM*.so*",
    "/opt/homebrew/opt/llvm*/lib/libLLVM*.dylib",
    "/usr/local/opt/llvm*/lib/libLLVM*.dylib",
)
# how trace() calls the solver: a change that alters maps bumps it (old cache entries unused)
TRACING_VERSION = 2
_VERSION = re.compile(r"(?:llvm-|libLLVM-|libLLVM\.so\.)(\d+)")


class RayTracingUnavailable(RuntimeError):
    """Sionna RT or a suitable LLVM is missing; the message says what to install."""


def llvm_version(path: str) -> int | None:
    """The LLVM major version a library path names (``libLLVM-19.so``, ``libLLVM.so.19.1``,
    ``/usr/lib/llvm-19/lib/libLLVM.so``), or None."""
    found = [int(v) for v in _VERSION.findall(path)]
    return max(found) if found else None


def find_llvm(globs: Sequence[str] = LLVM_GLOBS) -> str | None:
    """The newest libLLVM of version :data:`MIN_LLVM` or later on this machine, or None."""
    best: tuple[int, str] | None = None
    for pattern in globs:
        for path in glob.glob(pattern):
            version = llvm_version(path)
            if version is not None and version >= MIN_LLVM and (best is None or version > best[0]):
                best = (version, path)
    return None if best is None else best[1]


def prepare_llvm(globs: Sequence[str] = LLVM_GLOBS) -> str:
    """Point Dr.Jit at an LLVM it can use (``DRJIT_LIBLLVM_PATH``), before it loads: the
    user's setting if it names version :data:`MIN_LLVM` or later (or an unversioned path),
    else the newest found. Raise :class:`RayTracingUnavailable` naming the fix otherwise."""
    given = os.environ.get("DRJIT_LIBLLVM_PATH")
    if given:
        version = llvm_version(given)
        if version is not None and version < MIN_LLVM:
            raise RayTracingUnavailable(
                f"DRJIT_LIBLLVM_PATH = {given!r} is LLVM {version}; ray tracing needs LLVM "
                f"{MIN_LLVM} or newer (Debian/Ubuntu: apt-get install libllvm19, then unset "
                "DRJIT_LIBLLVM_PATH or point it at /usr/lib/x86_64-linux-gnu/libLLVM-19.so)"
            )
        return given
    found = find_llvm(globs)
    if found is None:
        raise RayTracingUnavailable(
            f"ray tracing needs LLVM {MIN_LLVM} or newer for Dr.Jit's CPU backend and none "
            "was found (Debian/Ubuntu: apt-get install libllvm19; elsewhere set "
            "DRJIT_LIBLLVM_PATH to a libLLVM of version 16 or newer)"
        )
    os.environ["DRJIT_LIBLLVM_PATH"] = found
    return found


def _sionna_rt() -> Any:
    """``sionna.rt``, imported once an LLVM is ready."""
    prepare_llvm()
    try:
        import sionna.rt as rt
    except ImportError as exc:
        raise RayTracingUnavailable(
            "ray-traced radio maps need Sionna RT: pip install 'netsim[rt]' "
            f"(importing sionna.rt failed: {exc})"
        ) from None
    return rt


@dataclass(frozen=True)
class MapSpec:
    """What a set of radio maps depends on.

    scene: the Mitsuba XML file; aps_m: (A, 3) AP positions (x, y, height) in m;
    carrier_hz; area_m: the measurement plane [xmin, ymin, xmax, ymax] (m), cut into
    ``cell_m`` squares (the last row and column reach past xmax / ymax when the sides are
    not multiples); height_m: the plane's height (the PIUs' antennas); rays: rays shot per
    AP; max_depth: interactions per path; diffraction: wedge and edge diffraction on
    (Sionna RT's UTD model: what fills a machine's shadow) or off; seed: the solver's
    sampling seed.
    """

    scene: Path
    aps_m: tuple[tuple[float, float, float], ...]
    carrier_hz: float
    area_m: tuple[float, float, float, float]
    height_m: float
    cell_m: float = 1.0
    rays: int = 1_000_000
    max_depth: int = 5
    diffraction: bool = True
    seed: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        """Cells (rows along y, columns along x)."""
        x0, y0, x1, y1 = self.area_m
        return (
            max(1, int(np.ceil((y1 - y0) / self.cell_m - 1e-9))),
            max(1, int(np.ceil((x1 - x0) / self.cell_m - 1e-9))),
        )

    def geometry_key(self) -> str:
        """A hash of what the maps describe: the scene's bytes and those of every file it
        references (content, not names) and the settings. Maps traced elsewhere, with
        another Sionna RT, carry the same one (:attr:`RadioMaps.geometry`)."""
        digest = hashlib.sha256()
        for _, data in scene_files(self.scene):
            digest.update(hashlib.sha256(data).digest())
        settings = {k: v for k, v in asdict(self).items() if k != "scene"}
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:32]

    def key(self) -> str:
        """The cache's key: :meth:`geometry_key`, how the solver is called and the Sionna RT
        version (another version may trace other bits)."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            sionna_rt = version("sionna-rt")
        except PackageNotFoundError:
            sionna_rt = None
        tag = f"{self.geometry_key()}|{TRACING_VERSION}|{sionna_rt}"
        return hashlib.sha256(tag.encode()).hexdigest()[:32]


def scene_files(scene: Path) -> list[tuple[str, bytes]]:
    """The scene file and every file its XML references by ``filename`` (meshes), as
    (name relative to the scene's folder, bytes), in the XML's order."""
    text = scene.read_bytes()
    out = [(scene.name, text)]
    for ref in re.findall(rb'name="filename"\s+value="([^"]+)"', text):
        path = scene.parent / ref.decode()
        if ".." in Path(ref.decode()).parts or Path(ref.decode()).is_absolute():
            raise FileNotFoundError(
                f"scene {scene} references {ref.decode()!r}: meshes must lie in the scene's "
                "folder or below it (so that a run directory can hold a copy)"
            )
        if not path.is_file():
            raise FileNotFoundError(f"scene {scene} references {ref.decode()!r}: not found")
        out.append((ref.decode(), path.read_bytes()))
    return out


@dataclass(frozen=True)
class RadioMaps:
    """Per-AP maps over a horizontal plane: ``gain`` (A, rows, cols) the cell-averaged path
    gain (linear, isotropic antennas, the floor rule applied), ``traced`` (A, rows, cols)
    where the tracer found any path (else the floor), ``los`` (A, rows, cols) whether the
    cell centre sees the AP (no shape in between); cell (i, j) spans x in [x0 + j c,
    x0 + (j + 1) c) and y in [y0 + i c, y0 + (i + 1) c) at height ``height_m``."""

    gain: np.ndarray
    traced: np.ndarray
    los: np.ndarray
    x0: float
    y0: float
    cell_m: float
    height_m: float
    geometry: str = ""  # the MapSpec.geometry_key they were traced for

    @cached_property
    def gain_db(self) -> np.ndarray:
        """(A, rows, cols) the gains in dB, computed once (a moving PIU reads them at every
        mobility update)."""
        return 10 * np.log10(self.gain)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres: x (cols,) and y (rows,) in m."""
        rows, cols = self.gain.shape[1:]
        c = self.cell_m
        return self.x0 + (np.arange(cols) + 0.5) * c, self.y0 + (np.arange(rows) + 0.5) * c

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """The mapped area (xmin, xmax, ymin, ymax) in m, as matplotlib's ``imshow`` takes
        it."""
        rows, cols = self.gain.shape[1:]
        return (self.x0, self.x0 + cols * self.cell_m, self.y0, self.y0 + rows * self.cell_m)

    def gain_at(self, xy: np.ndarray) -> np.ndarray:
        """(n, A) path gains at points ``xy`` (n, 2) m (:meth:`gain_db_at`, linear)."""
        return 10 ** (self.gain_db_at(xy) / 10)

    def gain_db_at(self, xy: np.ndarray) -> np.ndarray:
        """(n, A) path gains in dB at points ``xy`` (n, 2) m: bilinear between the four
        nearest cell centres (a cell's value at its centre; beyond the outer centres, the
        border's), so a PIU moving across cells sees a continuous gain."""
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        rows, cols = self.gain.shape[1:]
        fx = np.clip((xy[:, 0] - self.x0) / self.cell_m - 0.5, 0.0, cols - 1.0)
        fy = np.clip((xy[:, 1] - self.y0) / self.cell_m - 0.5, 0.0, rows - 1.0)
        j0 = np.minimum(np.floor(fx).astype(int), max(cols - 2, 0))
        i0 = np.minimum(np.floor(fy).astype(int), max(rows - 2, 0))
        j1, i1 = np.minimum(j0 + 1, cols - 1), np.minimum(i0 + 1, rows - 1)
        tx, ty = (fx - j0)[:, None], (fy - i0)[:, None]
        db = self.gain_db
        low = (1 - tx) * db[:, i0, j0].T + tx * db[:, i0, j1].T
        high = (1 - tx) * db[:, i1, j0].T + tx * db[:, i1, j1].T
        return (1 - ty) * low + ty * high

    def cell_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) indices of the cells holding points ``xy`` (n, 2), clamped to the
        map."""
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        rows, cols = self.gain.shape[1:]
        j = np.clip(np.floor((xy[:, 0] - self.x0) / self.cell_m).astype(int), 0, cols - 1)
        i = np.clip(np.floor((xy[:, 1] - self.y0) / self.cell_m).astype(int), 0, rows - 1)
        return i, j

    def los_at(self, xy: np.ndarray) -> np.ndarray:
        """(n, A) whether the cell holding each point sees each AP."""
        i, j = self.cell_of(xy)
        return self.los[:, i, j].T

    def save(self, path: Path) -> None:
        """Write to ``path`` (.npz) atomically: a run killed while writing leaves none."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = np.array([self.x0, self.y0, self.cell_m, self.height_m])
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as f:
            np.savez_compressed(f, gain=self.gain, traced=self.traced, los=self.los,
                                meta=meta, geometry=np.array(self.geometry))  # fmt: skip
        os.chmod(f.name, 0o644)  # a file to share (a temporary file is the owner's alone)
        os.replace(f.name, path)

    @classmethod
    def load(cls, path: Path) -> RadioMaps:
        """The maps :meth:`save` wrote to ``path``."""
        with np.load(path) as z:
            x0, y0, cell, height = (float(v) for v in z["meta"])
            geometry = str(z["geometry"]) if "geometry" in z else ""
            return cls(z["gain"], z["traced"], z["los"], x0, y0, cell, height, geometry)


def floor_rule(path_gain: np.ndarray) -> np.ndarray:
    """(A, rows, cols) gains with every cell the tracer left at 0 set to the smallest
    positive gain of the same AP's map (the weakest link it traced; 1e-30 for a map
    with none)."""
    out = np.array(path_gain, dtype=float)
    for a in range(out.shape[0]):
        positive = out[a][out[a] > 0]
        out[a][out[a] <= 0] = positive.min() if positive.size else 1e-30
    return out


def trace(spec: MapSpec) -> RadioMaps:
    """Every AP's radio map of ``spec`` by Sionna RT (on one Dr.Jit thread: the same bits
    every run), and the line of sight from each cell centre to each AP."""
    rt = _sionna_rt()
    import drjit as dr
    import mitsuba as mi

    scene = rt.load_scene(str(spec.scene))
    scene.frequency = spec.carrier_hz
    iso = {"num_rows": 1, "num_cols": 1, "pattern": "iso", "polarization": "V"}
    scene.tx_array = rt.PlanarArray(**iso)
    scene.rx_array = rt.PlanarArray(**iso)
    for a, position in enumerate(spec.aps_m):
        scene.add(rt.Transmitter(f"ap{a}", position=list(position)))
    rows, cols = spec.shape
    x0, y0 = spec.area_m[:2]
    c = spec.cell_m
    centre = [x0 + cols * c / 2, y0 + rows * c / 2, spec.height_m]
    threads = dr.thread_count()
    dr.set_thread_count(1)
    try:
        radio_map = rt.RadioMapSolver()(
            scene, center=centre, orientation=[0.0, 0.0, 0.0], size=[cols * c, rows * c],
            cell_size=[c, c], samples_per_tx=spec.rays, max_depth=spec.max_depth,
            # edge diffraction too: wedge diffraction alone left a machine's shadow empty
            diffraction=spec.diffraction, edge_diffraction=spec.diffraction, seed=spec.seed,
        )  # fmt: skip
        gain = np.array(radio_map.path_gain.numpy(), dtype=float)  # (A, rows, cols)
        xs = x0 + (np.arange(cols) + 0.5) * c
        ys = y0 + (np.arange(rows) + 0.5) * c
        gx, gy = np.meshgrid(xs, ys)  # (rows, cols)
        points = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, spec.height_m)], axis=1)
        los = np.stack(
            [_visible(scene.mi_scene, mi, np.array(p), points) for p in spec.aps_m]
        ).reshape(len(spec.aps_m), rows, cols)
    finally:
        dr.set_thread_count(threads)
    return RadioMaps(
        floor_rule(gain), gain > 0, los, float(x0), float(y0), c, spec.height_m,
        spec.geometry_key(),
    )  # fmt: skip


def _visible(mi_scene: Any, mi: Any, source: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n,) whether the segment from ``source`` (3,) to each of ``points`` (n, 3) crosses
    no shape of the scene."""
    d = points - source[None, :]
    length = np.linalg.norm(d, axis=1)
    direction = d / np.maximum(length, 1e-12)[:, None]
    origin = np.repeat(source[None, :], len(points), axis=0)
    ray = mi.Ray3f(mi.Point3f(*origin.T.astype(np.float32)),
                   mi.Vector3f(*direction.T.astype(np.float32)))  # fmt: skip
    ray.maxt = mi.Float((length * (1 - 1e-4)).astype(np.float32))
    return ~np.array(mi_scene.ray_test(ray).numpy(), dtype=bool)


def radio_maps(spec: MapSpec, cache: Path | None = None) -> RadioMaps:
    """``spec``'s maps: read from ``cache`` (a folder) when there, else traced and stored
    there (``KEY.npz``, :meth:`MapSpec.key`)."""
    if cache is None:
        return trace(spec)
    path = cache / f"{spec.key()}.npz"
    if path.exists():
        return RadioMaps.load(path)
    maps = trace(spec)
    maps.save(path)
    return maps

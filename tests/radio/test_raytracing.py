"""Ray-traced radio maps (Sionna RT) against Friis and the image method by hand, against
Sionna's own path solver, and their determinism, cache, floor rule and LLVM check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from netsim.radio import raytracing as rtm
from netsim.radio.raytracing import MapSpec, RadioMaps, RayTracingUnavailable

LAMBDA = 299_792_458 / 3.5e9  # m, the carrier's wavelength
METAL = """  <bsdf type="itu-radio-material" id="metal">
    <string name="type" value="metal"/>
    <float name="thickness" value="0.1"/>
  </bsdf>"""


def _box(name: str, size: tuple[float, float, float], at: tuple[float, float, float]) -> str:
    """A metal box of ``size`` (m) centred at ``at`` (Mitsuba's cube spans [-1, 1]^3)."""
    (sx, sy, sz), (x, y, z) = size, at
    return (
        f'  <shape type="cube" id="{name}"><transform name="to_world">'
        f'<scale x="{sx / 2}" y="{sy / 2}" z="{sz / 2}"/><translate x="{x}" y="{y}" z="{z}"/>'
        '</transform><ref id="metal"/></shape>'
    )


def _scene(tmp: Path, *boxes: str, name: str = "scene.xml") -> Path:
    path = tmp / name
    path.write_text("\n".join(['<scene version="2.1.0">', METAL, *boxes, "</scene>"]))
    return path


def _ready() -> None:
    try:
        rtm._sionna_rt()
    except RayTracingUnavailable as exc:
        pytest.skip(str(exc))


def _spec(scene: Path, **kw) -> MapSpec:
    base = {"aps_m": ((0.0, 5.0, 8.0),), "carrier_hz": 3.5e9, "area_m": (0.0, -10.0, 40.0, 10.0),
            "height_m": 1.0, "cell_m": 1.0, "rays": 10**6, "max_depth": 3,
            "diffraction": False}  # fmt: skip
    return MapSpec(scene, **{**base, **kw})


def _cell_mean_friis(maps: RadioMaps, source: tuple[float, float, float]) -> np.ndarray:
    """(rows, cols) Friis path gain (lambda / 4 pi d)^2 averaged over each cell (20 x 20
    points a cell: the map is a cell average, not a centre value)."""
    rows, cols = maps.gain.shape[1:]
    sub = (np.arange(20) + 0.5) / 20 * maps.cell_m
    x = maps.x0 + np.arange(cols)[:, None] * maps.cell_m + sub[None, :]  # (cols, 20)
    y = maps.y0 + np.arange(rows)[:, None] * maps.cell_m + sub[None, :]
    d2 = ((x[None, :, None, :] - source[0]) ** 2 + (y[:, None, :, None] - source[1]) ** 2
          + (maps.height_m - source[2]) ** 2)  # fmt: skip
    return ((LAMBDA / (4 * math.pi)) ** 2 / d2).mean(axis=(2, 3))


def _unbiased(measured: np.ndarray, expected: np.ndarray) -> bool:
    """Whether the cells' relative errors are those of an unbiased Monte Carlo estimate:
    their mean within 5 standard errors of 0 (the cells' own spread), and no cell off by a
    factor of 2 (far beyond the noise of 1e6 rays a map)."""
    r = (measured / expected - 1).ravel()
    return abs(r.mean()) <= 5 * r.std(ddof=1) / math.sqrt(r.size) and np.abs(r).max() < 1


def test_line_of_sight_gain_is_friis(tmp_path):
    """Empty space: every cell's gain is the free-space (Friis) gain averaged over the
    cell, and every cell sees the AP."""
    _ready()
    maps = rtm.trace(_spec(_scene(tmp_path)))
    assert maps.traced.all() and maps.los.all()
    assert _unbiased(maps.gain[0], _cell_mean_friis(maps, (0.0, 5.0, 8.0)))


def test_a_metal_wall_adds_its_image_source(tmp_path):
    """One metal wall along y = -10: the gain is Friis from the AP plus Friis from its
    mirror image (|reflection coefficient|^2 of metal ~ 1), the image method by hand; Friis
    alone is refused (the test can fail)."""
    _ready()
    wall = _box("wall", (120.0, 0.1, 60.0), (20.0, -10.05, 0.0))
    maps = rtm.trace(_spec(_scene(tmp_path, wall), max_depth=1))
    direct = _cell_mean_friis(maps, (0.0, 5.0, 8.0))
    image = _cell_mean_friis(maps, (0.0, -25.0, 8.0))  # mirrored in y = -10
    assert _unbiased(maps.gain[0], direct + image)
    assert not _unbiased(maps.gain[0], direct)


def test_the_map_agrees_with_the_path_solver(tmp_path):
    """The interpolated map at 40 random points against Sionna's path solver there (the
    sum of |a_i|^2 over the paths): within 1 dB in the median, with a machine in the way."""
    _ready()
    rt = rtm._sionna_rt()
    scene_file = _scene(
        tmp_path, _box("wall", (120.0, 0.1, 60.0), (20.0, -10.05, 0.0)),
        _box("machine", (4.0, 4.0, 3.0), (20.0, 2.0, 1.5)),
    )  # fmt: skip
    spec = _spec(scene_file, max_depth=3)
    maps = rtm.trace(spec)
    scene = rt.load_scene(str(scene_file))
    scene.frequency = spec.carrier_hz
    iso = {"num_rows": 1, "num_cols": 1, "pattern": "iso", "polarization": "V"}
    scene.tx_array, scene.rx_array = rt.PlanarArray(**iso), rt.PlanarArray(**iso)
    scene.add(rt.Transmitter("ap0", position=[0.0, 5.0, 8.0]))
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(0.5, 39.5, 40), rng.uniform(-9.5, 9.5, 40)], axis=1)
    inside = (np.abs(points[:, 0] - 20) < 2.5) & (np.abs(points[:, 1] - 2) < 2.5)
    points = points[~inside]  # not in or at the machine (a cell average differs there)
    for k, (x, y) in enumerate(points):
        scene.add(rt.Receiver(f"rx{k}", position=[float(x), float(y), 1.0]))
    paths = rt.PathSolver()(scene, max_depth=3, synthetic_array=True, seed=1)
    re, im = (np.asarray(part.numpy()) for part in paths.a)
    solver = (re**2 + im**2).reshape(len(points), -1).sum(axis=1)
    error_db = 10 * np.log10(maps.gain_at(points)[:, 0] / solver)
    assert np.median(np.abs(error_db)) < 1.0


def test_the_machine_casts_a_shadow_and_blocks_the_line_of_sight(tmp_path):
    """Behind a metal machine (seen from the AP) no cell sees the AP and the gain drops
    below the free-space gain; in front of it every cell sees it."""
    _ready()
    machine = _box("machine", (2.0, 8.0, 6.0), (10.0, 0.0, 3.0))
    spec = _spec(_scene(tmp_path, machine), aps_m=((0.0, 0.0, 2.0),))
    maps = rtm.trace(spec)
    behind = maps.los_at(np.array([[14.5, 0.5], [16.5, -0.5]]))[:, 0]
    front = maps.los_at(np.array([[5.5, 0.5], [3.5, -2.5]]))[:, 0]
    assert not behind.any() and front.all()
    i, j = maps.cell_of(np.array([[14.5, 0.5]]))
    assert maps.gain[0, i[0], j[0]] < _cell_mean_friis(maps, (0.0, 0.0, 2.0))[i[0], j[0]] / 10


def test_tracing_is_deterministic(tmp_path):
    """The same spec, the same map to the last bit (one Dr.Jit thread: its atomic adds
    would otherwise sum in the threads' order)."""
    _ready()
    spec = _spec(_scene(tmp_path, _box("machine", (2.0, 3.0, 3.0), (15.0, 0.0, 1.5))),
                 diffraction=True)  # fmt: skip
    a, b = rtm.trace(spec), rtm.trace(spec)
    assert a.gain.tobytes() == b.gain.tobytes() and np.array_equal(a.los, b.los)


def test_the_cache_is_reused_and_invalidated_by_the_scene(tmp_path, monkeypatch):
    _ready()
    scene = _scene(tmp_path, _box("machine", (2.0, 3.0, 3.0), (15.0, 0.0, 1.5)))
    cache = tmp_path / "cache"
    first = rtm.radio_maps(_spec(scene), cache)
    assert len(list(cache.glob("*.npz"))) == 1
    traced = []
    monkeypatch.setattr(rtm, "trace", lambda spec: traced.append(spec) or first)
    again = rtm.radio_maps(_spec(scene), cache)  # read back, not traced
    assert not traced and again.gain.tobytes() == first.gain.tobytes()
    scene.write_text(scene.read_text().replace('x="15.0"', 'x="16.0"'))  # the machine moved
    rtm.radio_maps(_spec(scene), cache)
    assert len(traced) == 1
    assert _spec(scene).key() != _spec(scene, rays=2 * 10**6).key()


def test_the_key_covers_the_meshes_a_scene_references(tmp_path):
    (tmp_path / "meshes").mkdir()
    mesh = tmp_path / "meshes" / "box.ply"
    mesh.write_bytes(b"ply v1")
    scene = tmp_path / "scene.xml"
    reference = '<string name="filename" value="meshes/box.ply"/>'
    scene.write_text(f'<scene version="2.1.0"><shape type="ply">{reference}</shape></scene>')
    before = _spec(scene).key()
    mesh.write_bytes(b"ply v2")
    assert _spec(scene).key() != before
    mesh.unlink()
    with pytest.raises(FileNotFoundError, match="meshes/box.ply"):
        _spec(scene).key()
    scene.write_text(scene.read_text().replace("meshes/box.ply", "../box.ply"))
    with pytest.raises(FileNotFoundError, match="scene's folder or below"):
        _spec(scene).key()
    from netsim import ScenarioError, load_scenario
    from netsim.assembly.checks import preflight

    s = load_scenario("default", [f"radio.pathloss={{model = 'raytraced', scene = '{scene}'}}"])
    with pytest.raises(ScenarioError, match=r"radio.pathloss.scene.*\.\./box.ply"):
        preflight(s)


def test_the_floor_rule_never_leaves_a_zero_gain():
    gain = np.array([[[0.0, 1e-9], [1e-7, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    floored = rtm.floor_rule(gain)
    assert floored[0].tolist() == [[1e-9, 1e-9], [1e-7, 1e-9]]
    assert (floored[1] == 1e-30).all() and (floored > 0).all()


def test_gain_at_interpolates_in_db_between_cell_centres():
    db = np.array([[[-60.0, -70.0], [-80.0, -90.0]]])  # (A=1, rows=2, cols=2), cells of 2 m
    maps = RadioMaps(10 ** (db / 10), db < 0, db > -75, 0.0, 0.0, 2.0, 1.5)
    centres = np.array([[1.0, 1.0], [3.0, 1.0], [1.0, 3.0], [3.0, 3.0]])
    assert 10 * np.log10(maps.gain_at(centres)[:, 0]) == pytest.approx([-60, -70, -80, -90])
    middle = 10 * np.log10(maps.gain_at(np.array([[2.0, 2.0], [2.0, 1.0]]))[:, 0])
    assert middle == pytest.approx([-75.0, -65.0])
    outside = 10 * np.log10(maps.gain_at(np.array([[-5.0, -5.0], [9.0, 9.0]]))[:, 0])
    assert outside == pytest.approx([-60.0, -90.0])  # the border's value beyond it
    assert maps.los_at(centres)[:, 0].tolist() == [True, True, False, False]


def test_llvm_is_found_or_the_fix_is_named(tmp_path, monkeypatch):
    assert rtm.llvm_version("/usr/lib/x86_64-linux-gnu/libLLVM-19.so") == 19
    assert rtm.llvm_version("/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1") == 19
    assert rtm.llvm_version("/usr/lib/llvm-17/lib/libLLVM.so") == 17
    for name in ("libLLVM-15.so", "libLLVM-18.so", "libLLVM-19.so"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.delenv("DRJIT_LIBLLVM_PATH", raising=False)
    assert rtm.find_llvm([str(tmp_path / "libLLVM*")]) == str(tmp_path / "libLLVM-19.so")
    (tmp_path / "libLLVM-18.so").unlink()
    (tmp_path / "libLLVM-19.so").unlink()
    with pytest.raises(RayTracingUnavailable, match="apt-get install libllvm19"):
        rtm.prepare_llvm([str(tmp_path / "libLLVM*")])
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", str(tmp_path / "libLLVM-15.so"))
    with pytest.raises(RayTracingUnavailable, match="LLVM 15"):
        rtm.prepare_llvm([])


def _hall_run(tmp_path: Path, monkeypatch, **radio) -> list[str]:
    """--set overrides: a 30 m x 20 m hall, 2 APs, 6 PIUs, one round, the scene of a metal
    machine in the middle, traced maps cached under tmp_path."""
    monkeypatch.setenv("NETSIM_RADIO_MAPS", str(tmp_path / "maps"))
    (tmp_path / "site").mkdir(exist_ok=True)
    scene = _scene(tmp_path / "site", _box("machine", (4.0, 4.0, 3.0), (15.0, 10.0, 1.5)))
    pathloss = {"model": "raytraced", "scene": str(scene), "rays": 200_000, **radio}
    table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in pathloss.items())
    return [
        'topology={kind = "factory_hall", num_pius = 6, length_m = 30.0, width_m = 20.0, '
        "aps_along_length = 2, aps_along_width = 1, machine_spacing_m = 5.0}",
        f"radio.pathloss={{{table}}}", "radio.carrier_hz=3.5e9", "protocol.rounds=1",
        "radio.shadowing_std_db=0.0",  # the default scenario's 8 dB would add shadowing
    ]  # fmt: skip


def test_a_raytraced_run_reads_its_links_from_the_maps(tmp_path, monkeypatch):
    """Each PIU's large-scale gain is the traced map's at its position and its LOS state
    the scene's; the map is traced once and cached."""
    _ready()
    from netsim import load_scenario
    from netsim.assembly.radio import Air
    from netsim.rng import Streams

    s = load_scenario("default", _hall_run(tmp_path, monkeypatch))
    air = Air.build(s, Streams(s.seed))
    gains, xy = air.gains, air.piu_xy
    maps = gains._radio_maps
    assert maps is not None and len(list((tmp_path / "maps").glob("*.npz"))) == 1
    assert gains.gain == pytest.approx(maps.gain_at(xy), rel=1e-12)  # through dB and back
    assert np.array_equal(gains.los, maps.los_at(xy))


def test_a_raytraced_run_repeats_from_its_run_directory(tmp_path, monkeypatch):
    """The run directory holds the scene and the maps the run read: with the original scene
    and the map cache deleted ``netsim run RUN/scenario.toml`` gives the same log."""
    _ready()
    import shutil

    import pandas as pd

    from netsim.cli import main

    sets = [a for s in _hall_run(tmp_path, monkeypatch) for a in ("--set", s)]
    assert main(["run", "default", *sets, "--out", str(tmp_path / "run1"), "--quiet"]) == 0
    shutil.rmtree(tmp_path / "site")
    shutil.rmtree(tmp_path / "maps")
    scenario = tmp_path / "run1" / "scenario.toml"
    # the maps the run read are kept too: the repeat reads those bits, not a new trace
    assert (tmp_path / "run1" / "inputs" / "radio_maps.npz").is_file()
    assert 'maps = "inputs/radio_maps.npz"' in scenario.read_text()
    assert main(["run", str(scenario), "--out", str(tmp_path / "run2"), "--quiet"]) == 0
    first, again = (pd.read_parquet(tmp_path / r / "events.parquet") for r in ("run1", "run2"))
    pd.testing.assert_frame_equal(first, again)


def test_raytraced_scenarios_name_what_is_wrong(tmp_path, monkeypatch):
    from netsim import ScenarioError, Simulation, load_scenario

    missing = ['radio.pathloss={model = "raytraced", scene = "nowhere.xml"}']
    with pytest.raises(ScenarioError, match=r"radio.pathloss.scene.*no such file"):
        Simulation(load_scenario("default", missing))
    with pytest.raises(ScenarioError, match="spatial_consistency_m"):
        load_scenario("agv_localization", ['radio.pathloss={model = "raytraced", scene = "x"}'])
    _ready()
    sets = _hall_run(tmp_path, monkeypatch)
    sets[0] = "topology={kind = 'hex', sites = 7, sectors = 3, num_pius = 21}"
    with pytest.raises(ScenarioError, match="omnidirectional"):
        Simulation(load_scenario("default", sets))


def test_an_agv_crossing_a_machines_shadow_dips_where_the_map_says(tmp_path, monkeypatch):
    """An AGV drives along x = 30 m behind a 6 m tall metal machine (x 25-27, y 7-13) seen
    from the AP at (20, 10, 8): its uploads' SNR in the log follows the map's gain at its
    position (no fading, no shadowing: the same offset, up to how far the gain moves
    between the mobility updates and within a transfer), and dips by more than 20 dB in
    the machine's shadow."""
    _ready()
    import pandas as pd

    from netsim import Simulation, load_scenario

    monkeypatch.setenv("NETSIM_RADIO_MAPS", str(tmp_path / "maps"))
    scene = _scene(tmp_path, _box("machine", (2.0, 6.0, 6.0), (26.0, 10.0, 3.0)))
    speed, update = 4.0, 0.05
    sets = [
        "topology={kind = 'factory_hall', num_pius = 2, length_m = 40.0, width_m = 20.0, "
        "aps_along_length = 1, aps_along_width = 1, machine_spacing_m = 5.0}",
        f"radio.pathloss={{model = 'raytraced', scene = '{scene}', rays = 300000}}",
        "radio.carrier_hz=3.5e9", "radio.shadowing_std_db=0.0", "radio.fading='none'",
        "protocol.rounds=40",
        f"mobility={{model = 'path', pius = [0], path_m = [[30.0, 1.0], [30.0, 19.0]], "
        f"speed_mps = {speed}, update_s = {update}}}",
    ]  # fmt: skip
    sim = Simulation(load_scenario("default", sets))
    res = sim.run()
    e = res.events
    start = e[(e.event == "tx_start") & (e.node == "piu0")].t_s.to_numpy()
    end = e[(e.event == "tx_end") & (e.node == "piu0")]
    assert len(end) == len(start) and start[-1] < 18 / speed  # on the first leg throughout
    maps = sim.world.gains._radio_maps
    along = np.stack([np.full(1801, 30.0), np.linspace(1, 19, 1801)], axis=1)  # 1 cm steps
    path_db = 10 * np.log10(maps.gain_at(along)[:, 0])
    slope = np.abs(np.diff(path_db)).max() / 0.01  # dB per m at most along the path
    lag_m = speed * (update + float((end.t_s.to_numpy() - start).max()))
    y = 1 + speed * start
    offset = end.snr_db.to_numpy() - 10 * np.log10(
        maps.gain_at(np.stack([np.full(len(y), 30.0), y], axis=1))[:, 0]
    )
    assert np.abs(offset - np.median(offset)).max() <= slope * lag_m
    snr = pd.Series(end.snr_db.to_numpy(), index=y)
    assert snr.max() - snr.min() > 20
    assert 7 - lag_m <= snr.idxmin() <= 13 + lag_m  # in the machine's shadow


def test_validate_says_what_to_install_before_a_run(tmp_path, monkeypatch):
    """netsim validate (preflight) checks the scene, Sionna RT and the LLVM without tracing:
    with no LLVM 16 or newer it names the package."""
    from netsim import ScenarioError, load_scenario
    from netsim.assembly.checks import preflight

    scene = _scene(tmp_path)
    s = load_scenario("default", [f"radio.pathloss={{model = 'raytraced', scene = '{scene}'}}"])
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", "/usr/lib/llvm-15/lib/libLLVM-15.so")
    with pytest.raises(ScenarioError, match=r"radio.pathloss.model.*LLVM 15.*libllvm19"):
        preflight(s)
    gone = load_scenario("default", ["radio.pathloss={model = 'raytraced', scene = 'gone.xml'}"])
    with pytest.raises(ScenarioError, match="radio.pathloss.scene"):
        preflight(gone)


def test_the_hall_builder_writes_a_scene_the_tracer_reads(tmp_path, monkeypatch):
    """A 40 m x 20 m hall with 2 x 3 metal machines and a shelf row: the XML names every
    box and material; traced, the cells inside machines get the floor rule, the walls keep
    the rays in (every cell of the hall traced or floored, none zero), and the free-floor
    test sees the obstacles."""
    from netsim.radio import scenes

    hall = scenes.Hall(
        40.0, 20.0, machines=scenes.machine_grid(40.0, 20.0, 2, 3),
        shelves=scenes.shelf_rows(40.0, [10.0], height_m=5.0),
    )  # fmt: skip
    assert not hall.free(40 / 6, 5.0) and not hall.free(20.0, 10.0) and hall.free(2.0, 10.0)
    assert not hall.free(-1.0, 5.0)
    text = hall.xml()
    for name in ("floor", "roof", "wall_east", "machine_1_2", "shelf_0", 'id="metal"'):
        assert name in text
    with pytest.raises(ValueError, match="material 'steel'"):
        scenes.Box("b", (0, 0, 0), (1, 1, 1), "steel")
    with pytest.raises(ValueError, match="not above"):
        scenes.Box("b", (0, 0, 0), (1, 0, 1), "metal")
    _ready()
    path = tmp_path / "hall.xml"
    path.write_text(text)
    spec = _spec(path, aps_m=((10.0, 5.0, 7.0), (30.0, 15.0, 7.0)), area_m=(0.0, 0.0, 40.0, 20.0))
    maps = rtm.trace(spec)
    assert (maps.gain > 0).all()
    # a cell wholly inside machine_0_1 (x 18-22, y 3.5-6.5); one in the aisle
    i, j = maps.cell_of(np.array([[19.5, 4.5], [2.5, 10.5]]))
    assert not maps.traced[0, i[0], j[0]] and maps.traced[0, i[1], j[1]]


HALL = ("topology={kind = 'factory_hall', num_pius = 8, length_m = 40.0, width_m = 20.0, "
        "aps_along_length = 2, aps_along_width = 1, machine_spacing_m = 4.0, "
        "building = {machines = {rows = 2, cols = 3, size_m = [4.0, 3.0, 3.0]}, "
        "shelves = {y_m = [10.0]}}}")  # fmt: skip


def test_a_factory_building_is_traced_without_a_scene_file(tmp_path, monkeypatch):
    """topology.building with a ray-traced path loss and no scene: the hall's scene is
    written once (named by its content) and traced; no PIU stands in a machine or shelf;
    netsim topo show draws the best-server map and the obstacles."""
    _ready()
    from netsim.analysis.topology import layout_figure

    from netsim import Simulation, load_scenario
    from netsim.assembly.topology import hall_of

    monkeypatch.setenv("NETSIM_RADIO_MAPS", str(tmp_path / "maps"))
    sets = [HALL, "radio.pathloss={model = 'raytraced', rays = 100000}", "radio.carrier_hz=3.5e9"]
    s = load_scenario("default", sets)
    sim = Simulation(s)
    assert len(list((tmp_path / "maps").glob("hall-*.xml"))) == 1
    hall = hall_of(s.topology)
    assert hall is not None and sim.world.gains.radio_maps is not None
    xy = [d["position_m"] for _, d in sim.topology.nodes(data=True) if d["role"] == "piu"]
    assert all(hall.free(x, y) for x, y in xy)
    fig = layout_figure(sim)
    assert fig.axes[0].images and len(fig.axes[0].patches) == len(hall.obstacles())


def test_a_building_is_checked_by_name():
    from netsim import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match=r"radio.pathloss.scene.*building"):
        load_scenario("default", ["radio.pathloss={model = 'raytraced'}"])
    with pytest.raises(ScenarioError, match=r"building.height_m.*ap_height_m"):
        load_scenario("default", [HALL.replace("building = {", "building = {height_m = 6.0, ")])
    with pytest.raises(ScenarioError, match="material"):
        load_scenario("default", [HALL.replace("rows = 2,", "rows = 2, material = 'steel',")])
    crowded = HALL.replace("num_pius = 8", "num_pius = 45")  # 50 spots, 6 machines + a shelf
    from netsim import Simulation

    with pytest.raises(ScenarioError, match=r"topology.num_pius.*free machine spots"):
        Simulation(load_scenario("default", [crowded]))


def test_traced_maps_are_stored_and_read_back_unchanged(tmp_path, monkeypatch):
    """netsim trace writes a scenario's maps; radio.pathloss.maps reads them instead of
    tracing (the same gains; no LLVM needed) and refuses them for another building; the
    run directory keeps a copy and repeats the run from it."""
    _ready()
    import pandas as pd

    from netsim import ScenarioError, Simulation, load_scenario
    from netsim.cli import main

    monkeypatch.setenv("NETSIM_RADIO_MAPS", str(tmp_path / "maps"))
    base = [HALL, "radio.carrier_hz=3.5e9", "protocol.rounds=1", "radio.shadowing_std_db=0.0"]
    traced = [*base, "radio.pathloss={model = 'raytraced', rays = 100000}"]
    out = tmp_path / "hall.npz"
    sets = [a for s in traced for a in ("--set", s)]
    assert main(["trace", "default", *sets, "--out", str(out)]) == 0
    stored = [*base, f"radio.pathloss={{model = 'raytraced', rays = 100000, maps = '{out}'}}"]
    monkeypatch.setattr(rtm, "trace", lambda spec: pytest.fail("traced instead of read"))
    first = Simulation(load_scenario("default", traced))  # from the cache
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", "/nowhere/libLLVM-15.so")  # not needed to read
    sim = Simulation(load_scenario("default", stored))
    assert np.array_equal(sim.world.gains.gain, first.world.gains.gain)
    other = [s.replace("rows = 2", "rows = 1") for s in stored]  # another building
    with pytest.raises(ScenarioError, match=r"radio.pathloss.maps.*another scene"):
        Simulation(load_scenario("default", other))
    sets = [a for s in stored for a in ("--set", s)]
    assert main(["run", "default", *sets, "--out", str(tmp_path / "run1"), "--quiet"]) == 0
    out.unlink()
    scenario = tmp_path / "run1" / "scenario.toml"
    assert main(["run", str(scenario), "--out", str(tmp_path / "run2"), "--quiet"]) == 0
    a, b = (pd.read_parquet(tmp_path / r / "events.parquet") for r in ("run1", "run2"))
    pd.testing.assert_frame_equal(a, b)

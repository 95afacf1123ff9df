"""Trainer backends (issue 24): a local process pool and Ray actors compute the same chunks as
the in-process trainer, so a run gives the same final model and event log with each, and the
training-result cache works across them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import Future

import numpy as np
import pytest
import torch

from netsim import Simulation, load_scenario
from netsim.learn.pool import run_chunk
from netsim.learn.trainer import Trainer, TrainJob
from netsim.scenario import ScenarioError
from tests.procs import HANG_GUARD_S

# the default scenario with 12 PIUs in chunks of 5: three vmapped chunks a round
SETS = ["protocol.rounds=2", "topology.num_pius=12", "learning.batch_clients=5"]


def _run(*extra: str, cache_dir=None, on_round=None):
    scenario = load_scenario("default", [*SETS, *extra])
    return Simulation(scenario, cache_dir=cache_dir, on_round=on_round).run()


@pytest.fixture(scope="module")
def inprocess():
    return _run("learning.backend=inprocess")


def _same(a, b) -> None:
    assert torch.equal(a.weights, b.weights)
    pd_a, pd_b = a.events.drop(columns=["detail"]), b.events.drop(columns=["detail"])
    assert pd_a.equals(pd_b)
    assert a.rounds.drop(columns=["wall_time_s"], errors="ignore").equals(
        b.rounds.drop(columns=["wall_time_s"], errors="ignore")
    )


def test_process_pool_gives_the_same_model_and_log(inprocess):
    """... and the rows on_round gets (evaluated while the pool trains the next round) are
    complete and in order."""
    rows = []
    pooled = _run("learning.backend=processes", "learning.workers=2", on_round=rows.append)
    _same(inprocess, pooled)
    assert pooled.training_jobs_run == inprocess.training_jobs_run == 24
    assert [r.round for r in rows] == [0, 1]
    assert [r.test_accuracy for r in rows] == inprocess.rounds["test_accuracy"].tolist()


class _HeldPool:
    """A one-worker pool whose chunk is done only when the test says so."""

    size = 1
    ready = True

    def submit(self, grouped, jobs):
        self.grouped, self.jobs, self.future = grouped, jobs, Future()
        return self.future

    def close(self):
        pass


def test_deferred_work_runs_while_the_pool_computes():
    """A finished round's evaluation runs at once in process; with a pool it waits for the
    main process's next wait on a chunk and runs before that chunk is done."""
    sim = Simulation(load_scenario("default", ["topology.num_pius=2"]))
    t, ran = sim.trainer, []
    t.defer(lambda: ran.append("at once"))  # in process
    assert ran == ["at once"]
    pool = _HeldPool()
    trainer = Trainer(
        t.model, sim.train_data, sim.train_data, t.batch_size, t.optimizer, sim.streams,
        pool=lambda _: pool,
    )  # fmt: skip
    handle = trainer.submit(TrainJob(0, 0, sim.server.weights, sim.partitions[0], 1))

    def evaluation():
        assert not pool.future.done()
        ran.append("deferred")
        pool.future.set_result(run_chunk(trainer, pool.grouped, pool.jobs))

    trainer.defer(evaluation)
    assert ran == ["at once"]  # waits for the wait
    assert handle.result().samples > 0
    assert ran == ["at once", "deferred"]
    trainer.defer(lambda: ran.append("last"))
    trainer.finish_deferred()  # the end of a run
    assert ran == ["at once", "deferred", "last"]


def test_the_cache_works_across_backends(tmp_path, inprocess):
    first = _run("learning.backend=processes", "learning.workers=2", cache_dir=tmp_path)
    assert first.training_jobs_run == 24 and first.training_cache_hits == 0
    again = _run(cache_dir=tmp_path)  # in process, reading what the pool computed
    assert again.training_jobs_run == 0 and again.training_cache_hits == 24
    _same(inprocess, again)


def test_a_script_without_a_main_guard_runs_a_process_pool(tmp_path):
    """multiprocessing would run a script's top level again in each new worker; the pool
    starts its workers without the caller's main module."""
    script = tmp_path / "study.py"
    script.write_text(
        textwrap.dedent(
            """
            from netsim import Simulation, load_scenario
            sets = ["protocol.rounds=1", "topology.num_pius=4", "learning.backend=processes",
                    "learning.workers=2", "learning.batch_clients=2"]
            print("accuracy", Simulation(load_scenario("default", sets)).run().final_accuracy)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,  # only a hang guard: a loaded machine may take minutes
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("accuracy") == 1  # the run ran once, in the script only


def test_plan_makes_equal_chunks_independent_of_the_backend():
    sim = Simulation(load_scenario("default", ["topology.num_pius=7", "learning.batch_clients=3"]))
    w = sim.server.weights
    jobs = [TrainJob(k, 0, w, p, 2) for k, p in enumerate(sim.partitions)]
    plan = sim.trainer.plan(jobs)
    assert [members for _, members in plan] == [[0, 1], [2, 3, 4], [5, 6]]
    assert all(grouped for grouped, _ in plan)


def test_ray_cluster_of_two_nodes_gives_the_in_process_model(inprocess):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'netsim[ray]')")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        sets = ["learning.backend=ray", f"learning.ray_address={cluster.address}"]
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        remote = _run(*sets, "learning.workers=2")
    finally:
        ray.shutdown()
        cluster.shutdown()
    _same(inprocess, remote)


@pytest.mark.parametrize(
    ("sets", "field"),
    [
        (["learning.backend=inprocess", "learning.workers=2"], "learning.workers"),
        (["learning.ray_address=auto"], "learning.ray_address"),
        (["learning.backend=threads"], "learning.backend"),
    ],
)
def test_backend_keys_are_checked(sets, field):
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        load_scenario("default", sets)


def test_replica_computes_what_the_trainer_computes():
    """The worker's replica (recipe) trains a chunk bit for bit like the trainer itself."""
    from netsim.learn.pool import recipe_of, run_chunk

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the replica's threads_per_worker
    sim = Simulation(load_scenario("default", ["topology.num_pius=3"]))
    trainer = sim.trainer
    replica = recipe_of(trainer, trainer.replica_kwargs()).build()
    jobs = [TrainJob(k, 1, sim.server.weights, p, 3) for k, p in enumerate(sim.partitions)]
    for grouped, members in trainer.plan(jobs):
        chunk = [jobs[i] for i in members]
        mine = run_chunk(trainer, grouped, chunk)
        theirs = run_chunk(replica, grouped, chunk)
        np.testing.assert_array_equal(mine.weights, theirs.weights)
        assert mine.losses == theirs.losses
    torch.set_num_threads(threads)


def test_auto_backend_pools_only_where_the_machine_and_the_run_repay_it(monkeypatch):
    """learning.backend = "auto": a pool of one worker per core where there are several
    cores, a round splits into several chunks and the run is long enough; else in process
    (and always in process within training_in_process, as a sweep's runs are)."""
    import netsim.assembly.learning as assembly
    from netsim.learn.pool import ProcessPool

    def pool_of(*sets, cores=2):
        monkeypatch.setattr(assembly, "usable_cores", lambda: cores)
        return Simulation(load_scenario("default", list(sets))).trainer.pool

    big = ["topology.num_pius=100", "protocol.rounds=5", "learning.batch_clients=50"]
    assert assembly.AUTO_POOL_MIN_PIU_ROUNDS <= 100 * 5  # the flower benchmark pools
    chosen = pool_of(*big)
    assert isinstance(chosen, ProcessPool) and chosen.size == 2  # one a core
    assert pool_of(*big, cores=1) is None
    assert pool_of("topology.num_pius=100", "protocol.rounds=1") is None  # not repaid
    assert (
        pool_of("topology.num_pius=100", "protocol.rounds=10", "learning.batch_clients=100") is None
    )  # one chunk
    assert pool_of(*big, "learning.backend=inprocess") is None
    with assembly.training_in_process():
        assert pool_of(*big) is None


def _pool_in_a_daemon(backend: str) -> str:
    """In a multiprocessing.Pool's (daemonic) worker: the kind of pool a run that asks for
    ``backend`` gets, or the error it raises."""
    import netsim.assembly.learning as assembly

    assembly.usable_cores = lambda: 2  # a worker of its own: nothing to restore
    big = ["topology.num_pius=100", "protocol.rounds=5", "learning.batch_clients=50"]
    try:
        sim = Simulation(load_scenario("default", [*big, f"learning.backend={backend}"]))
    except ScenarioError as exc:
        return str(exc)
    return type(sim.trainer.pool).__name__


def test_a_daemonic_process_trains_in_process_or_says_why_not():
    """A daemonic process (a multiprocessing.Pool's worker, as a benchmark's case runs in)
    may not start processes: "auto" trains in process there, "processes" is refused with
    the field named (it failed in a thread of the pool's start before)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as workers:
        auto, processes = workers.map(_pool_in_a_daemon, ["auto", "processes"])
    assert auto == "NoneType"
    assert "learning.backend" in processes and "daemonic" in processes


def test_auto_backend_gives_the_in_process_model_and_log(inprocess, monkeypatch):
    """The auto pool (forced on this short run) trains in process until its workers are
    up, then on them: the same model and log either way."""
    import netsim.assembly.learning as assembly

    monkeypatch.setattr(assembly, "AUTO_POOL_MIN_PIU_ROUNDS", 0)
    monkeypatch.setattr(assembly, "usable_cores", lambda: 2)
    scenario = load_scenario("default", [*SETS, "learning.backend=auto"])
    sim = Simulation(scenario)
    assert sim.trainer.pool is not None
    _same(inprocess, sim.run())

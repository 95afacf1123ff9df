"""Attacking a finished run: its scenario replayed up to a round with an attacker listening.

A run directory (``netsim run``, :meth:`netsim.sim.SimulationResult.save`) keeps the
resolved scenario and the event log, not the uploads. To attack the uploads of round ``r``
after the fact, :class:`AttackReplay` runs the run's own scenario again, up to round ``r``,
with a gradient-inversion :class:`~netsim.privacy.attacker.Attacker` at the server or at one
AP, checks that the replay reproduces the stored event log up to there (the same seed, the
same netsim, the same data files: else nothing is attacked), and attacks what it captured.
``netsim attack`` is this with progress bars::

    from netsim.privacy.replay import AttackReplay

    attack = AttackReplay("runs/leak", pius=[2], round_index=1, method="ig").run()
    attack.write()                 # RUN_DIR/attacks/: attacks.parquet and one PNG per upload
    print(attack.summary())        # mean SSIM, PSNR (dB), MSE, labels right per upload
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from netsim.analysis.run import RunData, load_run
from netsim.assembly.topology import population
from netsim.log import RoundRecord, log_digest
from netsim.privacy.attacker import Attacker, AttackReport, write_attacks
from netsim.rundir import RunDirError
from netsim.scenario import Scenario, load_scenario
from netsim.sim import Simulation, SimulationResult

INVERSION_METHODS = ("dlg", "idlg", "ig")  # what a replay can attack with (not the GAN:
# an active attack changes the run, so it cannot be replayed onto a finished one)
POSITIONS = ("server", "ap")


@dataclass(frozen=True)
class ReplayedAttack:
    """What a replayed attack gave.

    run_dir: the attacked run directory; report: the ``attacks`` table, one row per
    reconstructed sample (columns :data:`netsim.privacy.attacker.ATTACK_COLUMNS`: capture
    time in s, payload bits, MSE, PSNR in dB, SSIM, whether the label is right, ...) and per
    attacked upload its originals and reconstructions (pixels in [0, 1]); result: the
    replay's own :class:`~netsim.sim.SimulationResult` (its event log and rounds up to the
    attacked round, ``result.attacks`` is ``report``).
    """

    run_dir: Path
    report: AttackReport
    result: SimulationResult

    def summary(self) -> pd.DataFrame:
        """Per attacked upload (index: piu, round, method, position): the mean ``ssim``,
        ``psnr_db`` (dB), ``mse`` and ``label_correct`` (fraction) over its samples."""
        rows = self.report.rows
        return rows.groupby(["piu", "round", "method", "position"])[
            ["ssim", "psnr_db", "mse", "label_correct"]
        ].mean()

    def write(self) -> Path:
        """Add the attack to ``RUN_DIR/attacks/`` (:func:`~netsim.privacy.attacker.write_attacks`:
        its rows replace an earlier attack of the same upload, method and position; one PNG
        per upload); return that folder."""
        folder = self.run_dir / "attacks"
        write_attacks(self.report, folder)
        return folder


class AttackReplay:
    """A gradient-inversion attack on the uploads of round ``round_index`` of a finished run.

    The constructor checks the run directory and the request and resolves the replay's
    scenario (cheap); :meth:`run` builds and runs it (the run's cost up to the round, then
    the attacks: seconds to minutes per upload).

    Parameters
    ----------
    run_dir: a run directory written by ``netsim run``.
    pius: the attacked PIUs (indices, 0 to K - 1); round_index: the round of their uploads
        (0 to the run's last round).
    method: how an upload is inverted: ``"dlg"``, ``"idlg"`` or ``"ig"`` (``netsim attack
        --help`` says more).
    position: where the attacker listens: ``"server"`` (honest but curious: every update
        it decodes) or ``"ap"`` (an eavesdropper at AP ``ap``: the uplinks reaching it).
    restarts, iterations, time_budget_s: the attack's random restarts per upload,
        optimiser steps per restart and wall-clock limit per restart (s); None: the run's
        scenario's ``attack.*``.

    Raises :class:`~netsim.rundir.RunDirError` for a folder that is not a run directory or
    a damaged one, and for a round or PIU the run does not have;
    :class:`~netsim.scenario.ScenarioError` for attack settings the scenario refuses;
    ValueError for a method or position that is none of the above.

    Attributes: ``run_dir``, ``pius``, ``round_index``, ``method``, ``position``, ``stored`` (the
    run as written, :class:`~netsim.analysis.run.RunData`) and ``scenario`` (the replay's:
    the run's with the attack set and ``protocol.rounds = round_index + 1``).
    """

    def __init__(
        self,
        run_dir: str | Path,
        pius: Sequence[int],
        round_index: int,
        *,
        method: str = "idlg",
        position: str = "server",
        ap: int = 0,
        restarts: int | None = None,
        iterations: int | None = None,
        time_budget_s: float | None = None,
    ) -> None:
        if method not in INVERSION_METHODS:
            raise ValueError(f"method {method!r}: one of {', '.join(INVERSION_METHODS)}")
        if position not in POSITIONS:
            raise ValueError(f"position {position!r}: one of {', '.join(POSITIONS)}")
        run_dir = Path(run_dir)
        if not (run_dir / "scenario.toml").is_file() or not (run_dir / "events.parquet").is_file():
            raise RunDirError(
                f"'{run_dir}' is not a run directory (no scenario.toml and events.parquet); "
                "pass a folder written by 'netsim run'"
            )
        try:
            stored = load_run(run_dir)  # a damaged run is named now, not after the replay
        except FileNotFoundError as exc:
            raise RunDirError(f"{exc}; pass a folder written by 'netsim run'") from None
        rounds = len(stored.rounds)
        if not 0 <= round_index < rounds:
            raise RunDirError(f"--round {round_index}: the run has rounds 0 to {rounds - 1}")
        n_pius = population(stored.scenario.topology)[0]
        bad = [k for k in pius if not 0 <= k < n_pius]
        if bad:
            raise RunDirError(f"--piu {bad}: the run has PIUs 0 to {n_pius - 1}")
        overrides = [
            f'attack.method="{method}"',
            f'attack.position="{position}"',
            f"attack.ap={ap}",
            f"attack.pius={list(pius)}",
            f"attack.rounds=[{round_index}]",
            f"protocol.rounds={round_index + 1}",  # replay only up to the attacked round
        ]
        for key, value in (
            ("restarts", restarts),
            ("iterations", iterations),
            ("time_budget_s", time_budget_s),
        ):
            if value is not None:
                overrides.append(f"attack.{key}={value}")
        self.run_dir = run_dir
        self.pius = list(pius)
        self.round_index = round_index
        self.method = method
        self.position = position
        self.stored: RunData = stored
        self.scenario: Scenario = load_scenario(run_dir / "scenario.toml", overrides)

    def run(
        self,
        *,
        on_built: Callable[[], None] | None = None,
        on_round: Callable[[RoundRecord], None] | None = None,
        on_attack: Callable[[int, int], None] | None = None,
    ) -> ReplayedAttack:
        """Replay up to the round, check it against the stored event log, attack.

        on_built: called once the replay's :class:`~netsim.sim.Simulation` is built, before
        it runs; on_round: with each replayed round's record (as ``Simulation``'s);
        on_attack: with (uploads attacked, uploads captured) before each attack and after
        the last. Nothing is written (:meth:`ReplayedAttack.write` does).

        Raises :class:`~netsim.rundir.RunDirError` when the replay does not reproduce the
        stored event log up to the round, or when no upload of the PIUs in the round
        reached the attacker."""
        sim = Simulation(self.scenario, on_round=on_round)
        if on_built is not None:
            on_built()
        assert isinstance(sim.attacker, Attacker)  # a gradient-inversion method (above)
        sim.attacker.on_progress = on_attack
        result = sim.run()  # the attacks run at the end of the (replayed) run
        end = float(result.rounds["t_end_s"].iloc[-1])

        def upto(events: pd.DataFrame) -> pd.DataFrame:
            keep = (events["round"] <= self.round_index) & (events["t_s"] <= end)
            return events[keep].reset_index(drop=True)

        if log_digest(upto(self.stored.events)) != log_digest(upto(result.events)):
            raise RunDirError(
                f"replaying '{self.run_dir}' up to round {self.round_index} does not reproduce its "
                "event log (another netsim version or other data files?); nothing was attacked"
            )
        assert result.attacks is not None
        if result.attacks.rows.empty:
            raise RunDirError(
                f"no upload of PIU(s) {self.pius} in round {self.round_index} reached the "
                f"{self.position} (not selected, lost, late, or served by another AP); "
                "nothing was attacked"
            )
        return ReplayedAttack(self.run_dir, result.attacks, result)

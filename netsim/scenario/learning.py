"""[learning] and [attack]: data, model, optimiser, partition, and the attacker."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from netsim.scenario.base import FilePath, NonNegativeFloat, PositiveFloat, _Frozen
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- learning


# The registries live with the implementations (netsim.learn.datasets.DATASETS,
# netsim.models.MODELS); the schema knows only their names, so it imports neither (a test
# keeps the two in step). Whether a model fits a data set's images, and whether data_path
# is a folder, is checked when the world is built.
DATASET_NAMES = ("mnist5k", "digits", "mnist", "cifar10", "file")
DATASETS_READ_FROM_PATH = ("mnist", "cifar10")
MODEL_NAMES = ("mlp", "linear", "lenet5", "lenet5_sigmoid", "lenet_dlg", "resnet18")


class IIDPartition(_Frozen):
    """Shuffle and split the training set evenly; with ``samples_per_piu`` each PIU instead
    draws that many samples of its own (PIUs may share samples: cohorts larger than the data
    set)."""

    kind: Literal["iid"] = "iid"
    samples_per_piu: int | None = Field(None, ge=1)


class ShardPartition(_Frozen):
    """Each PIU gets samples of ``classes_per_piu`` classes (AFC-FL: one class per PIU)."""

    kind: Literal["shards"]
    classes_per_piu: int = Field(1, ge=1)


class DirichletPartition(_Frozen):
    """Label proportions per PIU ~ Dirichlet(alpha); small alpha = strongly non-IID. With
    ``size_beta``, sizes too: PIU shares ~ Dirichlet(size_beta) (small = very unequal)."""

    kind: Literal["dirichlet"]
    alpha: PositiveFloat = 0.5
    size_beta: PositiveFloat | None = None


class QuantityPartition(_Frozen):
    """Quantity skew: IID samples, sizes by a power law (Zipf): the PIU of rank r holds a
    share proportional to ``r^-exponent`` (ranks drawn at random)."""

    kind: Literal["quantity"]
    exponent: PositiveFloat = 1.0


Partition = Annotated[
    IIDPartition | ShardPartition | DirichletPartition | QuantityPartition,
    Field(discriminator="kind"),
]


class OptimizerConfig(_Frozen):
    """Local optimizer of every PIU; its state is fresh each round."""

    name: Literal["sgd", "adam", "adadelta", "rmsprop"] = "sgd"
    lr: PositiveFloat = 0.05
    momentum: NonNegativeFloat = 0.0  # sgd and rmsprop
    weight_decay: NonNegativeFloat = 0.0


class LearningConfig(_Frozen):
    """The data set, its split and partition over the PIUs, the model, the optimiser and
    the local training (steps, batch size, device, sequential or batched trainer).

    algorithm: "fedavg"; "fedprox" (Li et al. 2020: local steps minimise the loss plus
    ``prox_mu / 2 ||w - w_global||^2``); "fednova" (Wang et al. 2020: the server
    normalises each update by its local steps, ``w + tau_eff sum p_k delta_k / a_k``;
    local SGD, with or without momentum); "scaffold" (Karimireddy et al. 2020, option II:
    control variates correct each local step, ``g - c_k + c``; the downlink carries c and
    the uplink Delta c_k too, twice the bits; plain local SGD).
    """

    dataset: str = "mnist5k"
    data_path: FilePath | None = None  # folder of "mnist" (IDX) or "cifar10" (pickle) files
    test_fraction: float = Field(0.2, gt=0, lt=1)
    model: str = "lenet5"
    partition: Partition = IIDPartition()
    optimizer: OptimizerConfig = OptimizerConfig()
    local_steps: int = Field(20, ge=1)  # mini-batch steps per round
    batch_size: int = Field(32, ge=1)
    device: str = "cpu"
    # "sequential": one job after another; "batched": vmap over up to batch_clients clients
    # (faster for many PIUs with small mini-batches; same weights up to float32 rounding);
    # "auto": as many as fit a bounded working set (netsim.learn.batched.auto_chunk_size).
    trainer: Literal["sequential", "batched"] = "sequential"
    batch_clients: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    # dataset = "file": a user's CSV / Parquet / NPZ (netsim/learn/tables.py) at data_path
    label: str = "label"
    client_id: str | None = None  # its natural partition: one PIU per client id
    task: Literal["classification", "regression"] = "classification"
    # per-PIU evaluation: every eval_every global rounds (and after the last) the global
    # model is scored on each PIU's own held-out share (holdout_fraction of its samples,
    # not trained on); None: off, and the PIUs train on all their samples
    eval_every: int | None = Field(None, ge=1)
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    algorithm: Literal["fedavg", "fedprox", "fednova", "scaffold"] = "fedavg"
    prox_mu: NonNegativeFloat = 0.01

    @model_validator(mode="after")
    def _known_names(self) -> LearningConfig:
        if self.dataset not in DATASET_NAMES:
            raise _FieldError("dataset", self.dataset, f"one of {sorted(DATASET_NAMES)}")
        if self.model not in MODEL_NAMES:
            raise _FieldError("model", self.model, f"one of {sorted(MODEL_NAMES)}")
        if self.dataset == "file" and self.data_path is None:
            raise _FieldError("data_path", None, "the CSV, Parquet or NPZ file of the data")
        if self.task == "regression" and self.dataset != "file":
            raise _FieldError("task", "regression", "'classification' unless dataset = 'file'")
        if self.client_id is not None and self.dataset != "file":
            raise _FieldError("client_id", self.client_id, "unset unless dataset = 'file'")
        if self.dataset in DATASETS_READ_FROM_PATH and self.data_path is None:
            raise _FieldError("data_path", None, f"the folder holding the {self.dataset} files")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise _FieldError("device", self.device, "'cpu', 'cuda' or 'cuda:N'")
        if self.algorithm in ("fednova", "scaffold") and self.optimizer.name != "sgd":
            raise _FieldError(
                "algorithm",
                self.algorithm,
                f"used with optimizer.name = 'sgd', not {self.optimizer.name!r} (it works on "
                "the steps of local SGD)",
            )
        return self


class AttackConfig(_Frozen):
    """An attacker in the run (``netsim/privacy/``).

    method: "none"; a gradient inversion of observed uploads: "dlg", "idlg" or "ig"
    (Inverting Gradients); or "gan": a malicious PIU's GAN attack (Hitaj et al. 2017).

    Gradient inversion: position "server" (an honest-but-curious server: sees every decoded
    update) or "ap" (an eavesdropper at access point ``ap``: sees the uplinks that reach
    it, and only the superposition over the air). pius, rounds: whose uploads in which
    rounds are captured and attacked (rounds default [0]). restarts, iterations (optimizer
    steps per restart), time_budget_s (wall clock per restart), lr (None: the method's
    own), tv_weight (IG), max_samples (reconstructed per update), mask_aware (match only the
    entries a sparse payload carried).

    GAN: pius = [the malicious PIU]; rounds: the rounds it attacks in (default: all);
    victim_class, fake_class: the imitated class and the label of the injected samples;
    iterations: generator steps per round; lr: their Adam step (None: 1e-3); max_samples:
    samples injected per round (and scored); keep_victim_class: leave the adversary its own
    samples of the victim class (Hitaj's adversary has none: false); critic: also train a
    real/fake critic on the adversary's own samples (mGAN-AI's multitask discriminator,
    Wang et al. 2019; false: Hitaj's global model as the only discriminator). position is
    unused.
    """

    method: Literal["none", "dlg", "idlg", "ig", "gan"] = "none"
    position: Literal["server", "ap"] = "server"
    ap: int = Field(0, ge=0)
    pius: Annotated[tuple[int, ...], Strict(False)] = (0,)
    rounds: Annotated[tuple[int, ...], Strict(False)] | None = None
    restarts: int = Field(3, ge=1)
    iterations: int = Field(100, ge=1)
    time_budget_s: PositiveFloat = 60.0
    lr: PositiveFloat | None = None
    tv_weight: NonNegativeFloat = 1e-4
    max_samples: int = Field(8, ge=1)
    mask_aware: bool = True
    victim_class: int | None = Field(None, ge=0)
    fake_class: int | None = Field(None, ge=0)
    keep_victim_class: bool = False
    critic: bool = False

    @property
    def attacked_rounds(self) -> tuple[int, ...] | None:
        """Rounds attacked: as given, else round 0 for an inversion and all for the GAN."""
        if self.rounds is not None or self.method == "gan":
            return self.rounds
        return (0,)


class DPConfig(_Frozen):
    """Differential privacy (``netsim/fl/dp.py``). level "none", or "client": DP-FedAvg
    (McMahan et al. 2018): the server clips each update to L2 norm ``clip_norm`` C, adds
    Gaussian noise of standard deviation ``noise_multiplier`` z x C to their sum and divides
    by the round's selected count; Opacus's ``accountant`` ("rdp" or "prv") composes the
    rounds (sampling rate: selected / PIUs in the federation) and the rounds table gets
    epsilon at ``delta`` after each round. Synchronous digital FedAvg with uniform
    selection only (the accounting assumes a uniform sample).
    "sample": DP-SGD in local training (Abadi et al. 2016): each step's per-sample
    gradients clipped to C, summed, ``N(0, z^2 C^2 I)`` added, divided by the batch size;
    each PIU's steps are composed at sampling rate B / n_k when the server receives its
    update, and the rounds table gets the largest epsilon of any PIU. Synchronous digital
    rounds.
    adaptive_clipping (client level, Andrew et al. 2021): the clip norm follows the
    ``target_quantile`` of the update norms, ``C <- C exp(-clip_lr (b - gamma))`` with b
    the noised fraction of updates within C (count noise max(m / 20, z) for m selected);
    the updates' noise multiplier is raised so that the overall one stays
    ``noise_multiplier``.
    Over the air (client level, ``ota.enabled``): each PIU clips its own update to C and
    scales it by the data-independent ``C / sqrt(n)``, the APs send equal-weight sums with
    their receiver-noise variance, and the server adds ``N(0, z^2 C^2)``; with
    ``count_ota_noise`` it adds only what the receiver noise lacks of ``z C`` per entry
    and accounts at ``max(z, receiver noise / C)`` (valid under the assumptions in
    netsim/fl/dp.py: trusted APs and server, thermal noise of known variance, perfect
    channel knowledge, honest clipping). ``ota_power = "private"`` (with
    count_ota_noise): each AP lowers its PIUs' transmit power until its receiver noise
    alone gives ``z^2 C^2 / A`` per entry (A APs; Liu & Simeone 2020)."""

    level: Literal["none", "client", "sample"] = "none"
    noise_multiplier: NonNegativeFloat = 1.0
    clip_norm: PositiveFloat = 1.0
    delta: float = Field(1e-5, gt=0, lt=1)
    accountant: Literal["rdp", "prv"] = "rdp"
    adaptive_clipping: bool = False
    target_quantile: float = Field(0.5, gt=0, lt=1)
    clip_lr: PositiveFloat = 0.2
    count_ota_noise: bool = False
    ota_power: Literal["full", "private"] = "full"

    @model_validator(mode="after")
    def _client_level_options(self) -> DPConfig:
        for name, value, used in (
            ("adaptive_clipping", self.adaptive_clipping, self.adaptive_clipping),
            ("count_ota_noise", self.count_ota_noise, self.count_ota_noise),
            ("ota_power", self.ota_power, self.ota_power != "full"),
        ):
            if used and self.level != "client":
                raise _FieldError(name, value, "its default unless level = 'client'")
        if self.ota_power == "private" and not self.count_ota_noise:
            raise _FieldError("ota_power", "private", "'full' unless count_ota_noise = true")
        return self

"""A run's settings: one dataclass, checked in full before anything is written, and its command-line form.

Every field of :class:`SearchConfig` carries its command-line flag, help
and accepted range in its metadata; :func:`add_arguments` builds the
``argparse`` options from them and :meth:`SearchConfig.check` checks every
value, so the command line, the benchmark scripts and the config file a
resume reads back share one definition.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from ..families.base import is_number
from ..search.objectives import PROXY_NAMES

__all__ = [
    "SearchConfig",
    "ConfigError",
    "add_arguments",
    "config_from_args",
    "at_least",
    "ENGINES",
    "default_strategy",
    "default_rerank",
    "DEFAULT_RERANK",
    "fraction",
]

#: How evaluations are spread: ``auto`` is SCOOP under ``python -m scoop``, else serial.
ENGINES = ("auto", "serial", "scoop", "dask")
AUGMENT_NAMES = ("auto", "crop_flip", "flip", "none")
CPU_AMP = {"on": True, "off": False, "auto": "auto"}
#: Zero-cost proxies (deap_cnn.training.proxies): the objectives of that name, one list for both.
PROXY_CHOICES = PROXY_NAMES


def default_strategy(objectives, halving: bool) -> str:
    """The strategy of a run that names none: aging evolution, which found the best picks at equal compute
    (docs/benchmarks.md, "Search quality at equal compute"); NSGA-II for several objectives; CNN-GA's
    loop with halving. ``objectives`` ``None``: the family's (one objective)."""
    if len(objectives or ()) > 1:
        return "nsga2"
    return "ga" if halving else "aging"


#: Distinct genomes a single-objective run retrains to choose its pick, unless --rerank says otherwise.
DEFAULT_RERANK = 3


def default_rerank(objectives) -> int:
    """The ``--rerank`` of a run that names none: the 3 best distinct genomes for one objective (a search's best
    score is partly its luckiest training, docs/strategies.md), none for several (the result is a front);
    ``objectives`` ``None``: the family's (one objective)."""
    return DEFAULT_RERANK if len(objectives or ()) <= 1 else 0


class ConfigError(ValueError):
    """A setting is out of range; the message names the option, the value and what is accepted."""


def _opt(flag=None, help="", **checks):
    """Metadata of a field: its flag (``None``: not on the command line), help text and checks."""
    return {"flag": flag, "help": help, **checks}


def help_text(f) -> str:
    """A field's help text (some are computed: ``--strategy``'s lists the registered strategies)."""
    text = f.metadata.get("help", "")
    return text() if callable(text) else text


def setting(default, flag=None, help="", **checks):
    return field(default=default, metadata=_opt(flag, help, **checks))


@dataclass
class SearchConfig:
    """Settings of a search run; ``None`` means the family's (or the training's) default."""

    family: str = setting(
        "cnn-ga", "--family", "genome family: cnn-ga, devol, dense, transfer, nats (deap-cnn families)"
    )
    hyper: bool = setting(False, "--hyper", "add hyperparameter genes to the family (cnn-ga, devol)")
    strategy: str | None = setting(
        None,
        "--strategy",
        lambda: _strategy_help(),
    )
    inherit: bool = setting(False, "--inherit", "ga, aging: children start from their parent's trained weights")
    sample_size: int | None = setting(
        None,
        "--sample-size",
        "aging, surrogate: members sampled to pick each parent (default population/2, at least 2)",
        low=1,
    )
    prefer_cheaper: float = setting(
        0.0,
        "--prefer-cheaper",
        "aging: the probability that the cheaper of two tournament winners is the parent (a double tournament "
        "against networks that cost more without scoring more; 0: off, 0.7 is the usual setting)",
        low=0,
        high=1,
    )
    objectives: tuple | None = setting(
        None,
        "--objectives",
        "what to optimise: accuracy, last_accuracy, loss (minimised), parameters, flops, latency "
        "(minimised; latency is measured after training); several for nsga2, e.g. accuracy parameters (default: the family's, accuracy; transfer: loss)",
        nargs="+",
    )
    max_latency: float | None = setting(
        None,
        "--max-latency",
        "a limit in ms on each trained candidate's measured inference latency, any strategy: a candidate over it is "
        "infeasible (status too_slow, the worst fitness, never the winner)",
        low=0,
        open=True,
    )
    latency_batch: int | None = setting(
        None, "--latency-batch", "--objectives ... latency, --max-latency: batch size latency is measured at (default 1)",
        low=1,
    )  # fmt: skip
    fitness: str | None = setting(
        None,
        "--fitness",
        "score each candidate by a zero-cost proxy of its untrained network instead of training it: "
        + ", ".join(PROXY_CHOICES),
        choices=PROXY_CHOICES,
    )
    proxy_batch: int = setting(64, "--proxy-batch", "--fitness, --proxy-warmup: images the proxies read", low=2)
    proxy_warmup: int = setting(
        0,
        "--proxy-warmup",
        "aging, surrogate: score K random genomes by --warmup-proxy (no training) and start from the best",
        low=0,
    )
    warmup_proxy: str = setting("synflow", "--warmup-proxy", "--proxy-warmup: the proxy", choices=PROXY_CHOICES)
    surrogate_proxies: tuple | None = setting(
        None,
        "--surrogate-proxies",
        "surrogate: proxies of each untrained network added to the model's features, e.g. synflow",
        nargs="+",
        choices=PROXY_CHOICES,
    )
    halving: bool = setting(False, "--halving", "successive halving: train candidates short first, the best longer")
    halving_continue: bool = setting(
        False, "--halving-continue", "halving: promoted candidates train on from their last rung (extra epochs only)"
    )
    halving_eta: float = setting(1 / 3, "--halving-eta", "fraction promoted to the next rung", low=0, high=1, open=True)
    rerank: int | None = setting(
        None,
        "--rerank",
        "retrain the K best distinct genomes from scratch, longer, and pick the best of them "
        f"(0: off; default {DEFAULT_RERANK} for one objective)",
        low=0,
    )
    rerank_epochs: int | None = setting(
        None, "--rerank-epochs", "epochs of each --rerank training (default 2 x --epochs)", low=1
    )
    lookup: str | None = setting(
        None, "--lookup", "a benchmark table (CSV: architecture, score) to look each fitness up in instead of training"
    )
    lookup_column: str | None = setting(
        None, "--lookup-column", "--lookup: the table's score column (default: its only numeric column)"
    )
    fidelity: tuple | None = setting(
        None,
        "--fidelity",
        "--lookup: EPOCHS=COLUMN, the table's score after that many epochs of training; repeat it for each length "
        "(--fidelity 12=COL12 --fidelity 200=COL200): the search reads the shortest, reranking the longest",
        repeat=True,
    )
    truth_column: str | None = setting(
        None, "--truth-column", "--lookup: the column a pick is judged by and reported with (e.g. test accuracy)"
    )
    lookup_noise: float = setting(
        0.0,
        "--lookup-noise",
        "--lookup: sd of seeded Gaussian noise added to each lookup, as a short training's",
        low=0,
        finite=True,
    )
    data: str = setting(
        "sample", "--data", "sample, digits, cifar10, cifar100, mnist, fashion-mnist, a .npz or a folder"
    )
    data_dir: str | None = setting(None, "--data-dir", "folder that holds (or receives) torchvision's data sets")
    download: bool = setting(False, "--download", "download missing data (and backbone weights); needs internet")
    population: int = setting(20, "--population", "individuals per generation (batch size of random/tpe)", low=1)
    generations: int = setting(20, "--generations", "generations after the initial population", low=0)
    trainings: int | None = setting(
        None,
        "--trainings",
        "candidates trained by aging, local, surrogate, random, tpe (default population x (generations+1))",
        low=1,
    )
    budget_epochs: int | None = setting(
        None,
        "--budget-epochs",
        "aging, local, surrogate, random, tpe: the whole budget in training epochs, reranking included; the search's "
        "trainings, population (a quarter of its trainings) and reranking are sized from it (docs/strategies.md)",
        low=1,
    )
    seconds: float | None = setting(
        None,
        "--seconds",
        "aging, local, surrogate, random, tpe: stop proposing after this many seconds",
        low=0,
        open=True,
    )
    cxpb: float = setting(0.9, "--cxpb", "crossover probability", low=0, high=1)
    mutpb: float = setting(0.2, "--mutpb", "mutation probability", low=0, high=1)
    widths: tuple | None = setting(None, "--widths", "cnn-ga skip unit widths / devol feature maps", nargs="+", low=1)
    max_skip_units: int | None = setting(None, "--max-skip-units", "cnn-ga: most skip units in a genome", low=1)
    max_layers: int | None = setting(None, "--max-layers", "devol: conv layers; dense: hidden layers", low=1)
    units: tuple | None = setting(
        None, "--units", "devol/dense: units of a dense layer to choose from", nargs="+", low=1
    )
    cell_channels: int | None = setting(
        None, "--cell-channels", "nats: channels of the first stage (default 16)", low=1
    )
    cells_per_stage: int | None = setting(None, "--cells-per-stage", "nats: cells in each stage (default 5)", low=1)
    backbone: str | None = setting(None, "--backbone", "transfer: torchvision backbone (densenet121, resnet18, ...)")
    weights: str | None = setting(None, "--weights", "transfer: a local state_dict file of the backbone")
    allow_random: bool = setting(False, "--allow-random", "transfer: start from random backbone weights if none load")
    epochs: int = setting(10, "--epochs", "training epochs per candidate", low=1)
    batch_size: int | None = setting(None, "--batch-size", "training batch size (default 128)", low=1)
    lr: float | None = setting(None, "--lr", "learning rate (default 0.05 for SGD)", low=0, finite=True)
    time_budget: float | None = setting(None, "--time-budget", "seconds of training per candidate", low=0, open=True)
    max_batches: int | None = setting(None, "--max-batches", "cap on batches per epoch (quick runs)", low=1)
    augment: str | None = setting(None, "--augment", "auto, crop_flip, flip or none", choices=AUGMENT_NAMES)
    cpu_amp: str = setting("auto", "--cpu-amp", "bf16 on CPU: on, off or auto", choices=tuple(CPU_AMP))
    tensorboard: bool = setting(False, "--tensorboard", "also log curves and the genome/fitness table for TensorBoard")
    candidate_limit: float = setting(
        1800.0, "--candidate-limit", "warn when the largest candidate would train longer (seconds; 0: no check)", low=0
    )
    final_epochs: int = setting(
        30, "--final-epochs", "epochs to retrain the best on all training data (0: skip)", low=0
    )
    seed: int = setting(0, "--seed", "seed of the search and of every training")
    out: str = setting("runs/search", "--out", "run folder")
    device: str | None = setting(None, "--device", "cpu, cuda or cuda:N (default: CUDA when available)")
    engine: str = setting(
        "auto", "--engine", "auto (SCOOP under python -m scoop, else serial), serial, scoop, dask", choices=ENGINES
    )
    scheduler: str | None = setting(None, "--scheduler", "dask: address of a running scheduler (tcp://host:8786)")
    workers: int | None = setting(None, "--workers", "dask: local worker processes (default: GPUs, else cores)", low=1)

    @property
    def family_name(self) -> str:
        return f"{self.family}+hyper" if self.hyper else self.family

    def family_options(self) -> dict:
        """What the family's space and builder read (``widths``, ``max_layers``, ``backbone``, ...)."""
        names = (
            "widths", "max_skip_units", "max_layers", "units", "cell_channels", "cells_per_stage", "backbone",
            "weights", "allow_random", "download",
        )  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def train_settings(self, family=None, epochs=None):
        """The :class:`~deap_cnn.training.settings.TrainSettings` of a candidate: the family's defaults, then ours."""
        from ..training.settings import TrainSettings

        given = {
            "epochs": self.epochs if epochs is None else epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "time_budget": self.time_budget,
            "max_batches_per_epoch": self.max_batches,
            "augment": self.augment,
            "seed": self.seed,
            "cpu_amp": CPU_AMP[self.cpu_amp],
            "latency_batch": (self.latency_batch or 1) if self.measures_latency else None,
        }
        defaults = dict(family.train_defaults) if family is not None else {}
        settings = {**defaults, **{k: v for k, v in given.items() if v is not None}}
        if epochs is not None:
            settings["max_batches_per_epoch"] = None  # the final training uses every batch
            settings["time_budget"] = None
        return TrainSettings(**settings)

    @property
    def measures_latency(self) -> bool:
        """Whether each candidate's latency is measured: the ``latency`` objective or ``--max-latency``."""
        return "latency" in (self.objectives or ()) or self.max_latency is not None

    @property
    def long_epochs(self) -> int:
        """Epochs of each reranking: ``--rerank-epochs``, else the longest ``--fidelity``, else 2 x ``--epochs``."""
        if self.rerank_epochs:
            return self.rerank_epochs
        if self.fidelity:
            from ..lookup.evaluator import parse_fidelities

            return parse_fidelities(self.fidelity)[-1][0]
        return 2 * self.epochs

    def budget_plan(self):
        """The :class:`~deap_cnn.search.fidelity.BudgetPlan` of ``--budget-epochs`` (``None`` without it)."""
        if self.budget_epochs is None:
            return None
        from ..search.fidelity import plan_budget

        try:
            return plan_budget(self.budget_epochs, self.epochs, self.long_epochs, rerank=self.rerank)
        except ValueError as error:
            raise ConfigError(f"--budget-epochs: {error}") from None

    def _check_fidelities(self):
        """--fidelity, --truth-column and --budget-epochs fit together and with the rest."""
        if self.lookup is None and (self.fidelity or self.truth_column):
            raise ConfigError("--fidelity and --truth-column describe a --lookup table: add --lookup TABLE.csv")
        if self.fidelity:
            from ..lookup.evaluator import parse_fidelities

            try:
                epochs = [e for e, _ in parse_fidelities(self.fidelity)]
            except ValueError as error:
                raise ConfigError(f"--fidelity: {error}") from None
            if self.lookup_column is not None:
                raise ConfigError("--fidelity names the score columns: drop --lookup-column")
            if self.halving:
                raise ConfigError("--halving with --fidelity is not supported: drop --halving (reranking reads "
                                  "the longer fidelity)")  # fmt: skip
            if self.epochs not in epochs:
                if self.epochs != SearchConfig.epochs:
                    raise ConfigError(
                        f"--epochs {self.epochs}: the table's fidelities are {', '.join(map(str, epochs))} epochs; "
                        f"give one of them (the search reads that column)"
                    )
                self.epochs = epochs[0]  # the default: the shortest fidelity
        if self.budget_epochs is not None:
            if self.trainings is not None:
                raise ConfigError("--budget-epochs sizes the trainings itself: give --trainings or --budget-epochs")
            if self.strategy in ("ga", "nsga2"):
                raise ConfigError(f"--budget-epochs sizes a search by trainings, not generations: --strategy "
                                  f"{self.strategy} takes --population and --generations")  # fmt: skip

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> SearchConfig:
        """A config from ``values`` (a saved ``config.json``); unknown keys are an error, tuples come back as tuples."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown settings {unknown}; known ones are {sorted(names)}")
        config = cls(**values)
        for f in dataclasses.fields(cls):
            value = getattr(config, f.name)
            if (f.metadata.get("nargs") or f.metadata.get("repeat")) and isinstance(value, list):
                setattr(config, f.name, tuple(value))
        return config

    def check(self) -> SearchConfig:
        """Check every setting; raise :class:`ConfigError` naming the first bad option. Returns ``self``."""
        for f in dataclasses.fields(self):
            _check_field(f, getattr(self, f.name))
        if self.strategy is None:
            self.strategy = default_strategy(self.objectives, self.halving)
        self._check_fidelities()
        if self.prefer_cheaper and self.strategy != "aging":
            raise ConfigError(f"--prefer-cheaper chooses aging evolution's parents; --strategy {self.strategy} has "
                              "no tournament: drop it or use --strategy aging")  # fmt: skip
        if self.rerank is None and self.budget_epochs is not None and len(self.objectives or ()) <= 1:
            self.rerank = self.budget_plan().rerank
        if self.rerank is None:
            self.rerank = default_rerank(self.objectives)
        if self.inherit and self.strategy not in (inheriting := _strategies_that("inherits_weights")):
            raise ConfigError(
                f"--inherit works with --strategy {' or '.join(inheriting)}, not {self.strategy}: "
                "the others have no parents"
            )
        if self.halving_continue and not self.halving:
            raise ConfigError("--halving-continue continues successive halving's rungs: add --halving")
        if self.halving_continue and _asynchronous(self.strategy):
            raise ConfigError(
                f"--halving-continue works with the generational strategies; --strategy {self.strategy} promotes "
                "each candidate on its own: use --halving alone"
            )
        if self.inherit and self.halving:
            raise ConfigError("--inherit and --halving together are not supported: drop one of them")
        if self.lookup is None and (self.lookup_column is not None or self.lookup_noise):
            raise ConfigError("--lookup-column and --lookup-noise describe a --lookup table: add --lookup TABLE.csv")
        if self.lookup is not None and self.inherit:
            raise ConfigError("--inherit passes trained weights on, but a --lookup run trains nothing: drop --inherit")
        if self.lookup is not None and self.halving_continue:
            raise ConfigError(
                "--halving-continue continues trainings, but a --lookup run trains nothing: use --halving alone"
            )
        if self.objectives is not None:
            from ..search.objectives import ObjectiveError, check_objectives

            try:
                check_objectives(self.objectives)
            except ObjectiveError as error:
                raise ConfigError(f"--objectives: {error}") from None
        _check_proxies(self)
        _check_latency(self)
        if self.rerank and len(self.objectives or ()) > 1:
            raise ConfigError(
                "--rerank picks one best genome, but several --objectives make a Pareto front: drop --rerank"
            )
        return self


def _check_latency(config):
    """The latency objective, ``--max-latency`` and ``--latency-batch`` against the other settings."""
    asked = "--objectives ... latency" if "latency" in (config.objectives or ()) else "--max-latency"
    if config.latency_batch is not None and not config.measures_latency:
        raise ConfigError(
            "--latency-batch sets how latency is measured, but nothing measures it: add --objectives ... latency "
            "or --max-latency MS"
        )
    if config.measures_latency and config.lookup is not None:
        raise ConfigError(f"{asked}: a --lookup table holds no measured latency; drop it, or search by training")
    if config.measures_latency and config.fitness is not None:
        raise ConfigError(f"{asked} measures trained networks, but --fitness {config.fitness} trains none: drop one")


def _check_proxies(config):
    """``--fitness`` and ``--proxy-warmup`` against the other settings."""
    if config.fitness is not None:
        if config.lookup is not None:
            raise ConfigError("--fitness scores untrained networks, --lookup a table's trained ones: drop one of them")
        if config.halving or config.inherit:
            raise ConfigError(
                f"--fitness {config.fitness} trains nothing, so there is no {'--halving' if config.halving else '--inherit'}"
                ": drop it"
            )
        from ..search.objectives import SIZE_OBJECTIVES

        others = [name for name in config.objectives or () if name not in PROXY_CHOICES + SIZE_OBJECTIVES]
        if others:
            raise ConfigError(
                f"--fitness {config.fitness} trains nothing, so --objectives {' '.join(others)} cannot be scored: "
                f"name proxies ({', '.join(PROXY_CHOICES)}) and sizes only"
            )
        if config.objectives and config.fitness not in config.objectives:
            raise ConfigError(
                f"--objectives {' '.join(config.objectives)} leaves out --fitness {config.fitness}: name it among them"
            )
    elif any(name in PROXY_CHOICES for name in config.objectives or ()):
        proxy = next(name for name in config.objectives if name in PROXY_CHOICES)
        raise ConfigError(
            f"--objectives {proxy} is a zero-cost proxy of the untrained network: add --fitness {proxy} "
            "(a trained network's record carries no proxy scores)"
        )
    if config.surrogate_proxies and config.strategy != "surrogate":
        raise ConfigError(f"--surrogate-proxies extends the surrogate's features: it needs --strategy surrogate, "
                          f"not {config.strategy}")  # fmt: skip
    if config.surrogate_proxies and config.lookup is not None and set(config.surrogate_proxies) != {"synflow"}:
        raise ConfigError("--surrogate-proxies: a --lookup run has no images, so only synflow (data-free) fits")
    if config.proxy_warmup:
        if config.strategy not in (warming := _strategies_that("takes_warmup")):
            raise ConfigError(
                f"--proxy-warmup seeds the initial population of --strategy {' or '.join(warming)}, "
                f"not {config.strategy}"
            )
        if config.lookup is not None and config.warmup_proxy != "synflow":
            raise ConfigError(
                f"--warmup-proxy {config.warmup_proxy} reads images, and a --lookup run has none: use synflow"
            )


def _strategies_that(attribute: str) -> tuple:
    """The registered strategies whose ``attribute`` (``inherits_weights``, ``takes_warmup``) is true."""
    from ..search.strategies import get_strategy, strategy_names

    return tuple(name for name in strategy_names() if getattr(get_strategy(name), attribute))


def _strategy_help() -> str:
    """``--strategy``'s help: the registered strategies, the default first."""
    from ..search.strategies import strategy_names

    names = sorted(strategy_names(), key=lambda name: name != default_strategy(None, False))
    return f"search strategy: {', '.join(names)} (default: aging; nsga2 for several --objectives, ga with --halving)"


def _asynchronous(strategy) -> bool:
    """Whether ``strategy`` is registered as asynchronous (an unknown name is compose's to refuse)."""
    from ..search.strategies import StrategyError, get_strategy

    try:
        return get_strategy(strategy).asynchronous
    except StrategyError:
        return False


def _flag(f) -> str:
    return f.metadata.get("flag") or f.name


def _check_field(f, value):
    meta = f.metadata
    flag = _flag(f)
    if value is None:
        return
    values = value if meta.get("nargs") or meta.get("repeat") else (value,)
    if (meta.get("nargs") or meta.get("repeat")) and (not isinstance(value, (tuple, list)) or not value):
        raise ConfigError(f"{flag} takes one or more values, got {value!r}")
    for item in values:
        if f.type in ("bool",) and not isinstance(item, bool):
            raise ConfigError(f"{flag} must be true or false, got {item!r}")
        if "choices" in meta and item not in meta["choices"]:
            raise ConfigError(f"{flag} {item}: not one of {', '.join(map(str, meta['choices']))}")
        if "low" in meta or "high" in meta or meta.get("finite"):
            if not is_number(item):
                raise ConfigError(f"{flag} {item}: must be a finite number{_range_text(meta)}")
            low, high, open_ = meta.get("low"), meta.get("high"), meta.get("open", False)
            if low is not None and (item < low or (open_ and item == low)):
                raise ConfigError(f"{flag} {item}: out of range, {_range_text(meta).strip(' ,')}")
            if high is not None and (item > high or (open_ and item == high)):
                raise ConfigError(f"{flag} {item}: out of range, {_range_text(meta).strip(' ,')}")


def _range_text(meta) -> str:
    low, high, open_ = meta.get("low"), meta.get("high"), meta.get("open", False)
    if low is not None and high is not None:
        return f", accepted: {'(' if open_ else '['}{low}, {high}{')' if open_ else ']'}"
    if low is not None:
        return f", accepted: {'>' if open_ else '>='} {low}"
    return ""


def _parse_number(kind):
    def parse(text):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None

    parse.__name__ = kind.__name__
    return parse


def at_least(low, kind=int):
    """An ``argparse`` type: a ``kind`` number no smaller than ``low`` (the scripts' own options use it)."""
    parse_number = _parse_number(kind)

    def parse(text):
        value = parse_number(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{text}: out of range, accepted: >= {low}")
        return value

    parse.__name__ = kind.__name__
    return parse


def fraction(text: str) -> float:
    """An ``argparse`` type: a fraction strictly between 0 and 1, written ``1/3`` or ``0.5`` (the scripts' ``--eta``)."""
    from fractions import Fraction

    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a fraction like 1/3 or 0.5, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text}: out of range, accepted: strictly between 0 and 1")
    return value


def add_arguments(parser: argparse.ArgumentParser, defaults: SearchConfig | None = None, skip=()):
    """Add one option per :class:`SearchConfig` field that has a flag; ``defaults`` overrides the defaults."""
    defaults = defaults or SearchConfig()
    for f in dataclasses.fields(SearchConfig):
        flag = f.metadata.get("flag")
        if flag is None or f.name in skip:
            continue
        default = getattr(defaults, f.name)
        kwargs = {"dest": f.name, "default": default, "help": help_text(f)}
        if f.type == "bool":
            kwargs["action"] = "store_true"
        else:
            number = {"int": int, "int | None": int, "float": float, "float | None": float}.get(f.type)
            if f.name in ("widths", "units"):
                number = int
            if number is not None:
                kwargs["type"] = _parse_number(number)
            if f.metadata.get("nargs"):
                kwargs["nargs"] = f.metadata["nargs"]
            if f.metadata.get("repeat"):
                kwargs["action"] = "append"
        parser.add_argument(flag, **kwargs)
    return parser


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    """The :class:`SearchConfig` of parsed arguments (lists become tuples), checked."""
    names = {f.name for f in dataclasses.fields(SearchConfig)}
    values = {key: value for key, value in vars(args).items() if key in names}
    return SearchConfig.from_dict(values).check()

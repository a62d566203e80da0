"""A whole search in a run folder: compose family, data, evaluator and strategy; run; retrain the best.

:func:`run_search` is what ``deap-cnn search``, ``deap-cnn resume`` and the
benchmark scripts run. Composition happens in :func:`compose`, which user
code can call too (it returns the pieces a strategy needs).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from functools import partial

from ..families import get_family
from ..search.strategies import Budget, SearchContext, get_strategy
from .config import ConfigError, SearchConfig, default_strategy
from .folder import RunFolder, RunFolderError
from .interrupts import stop_on_signals
from .store import ResultsStore

__all__ = ["Composition", "compose", "run_search", "open_engine"]


@dataclass
class Composition:
    """The pieces of one search: what :func:`compose` builds from a :class:`SearchConfig`."""

    family: object
    strategy: object
    source: object
    dataset: object
    space: object
    evaluator: object
    evaluate: object
    weights: tuple
    fingerprint: str
    objectives: object


def _check_data_kind(family, dataset, config):
    vectors = getattr(dataset, "x_train", None) is not None and dataset.x_train.ndim == 2
    if family.data == "vectors" and not vectors:
        raise RunFolderError(
            f"family {family.name!r} trains on feature vectors, but --data {config.data} holds images; "
            "use --data digits (or another vector data set), or an image family such as cnn-ga"
        )
    if family.data == "images" and vectors:
        raise RunFolderError(
            f"family {family.name!r} trains on images, but --data {config.data} holds feature vectors; "
            "use --family dense, or image data such as --data sample"
        )


def _check_device(device):
    """Refuse a device this machine does not have before anything is written (``None``: the default)."""
    from ..training.devices import select_device

    try:
        select_device(device)
    except (ValueError, RuntimeError) as error:
        raise ConfigError(f"--device {device}: {error}") from None


#: The images a --lookup run's space is made for: a table scores networks trained elsewhere, so the shapes only
#: size the networks (parameters, FLOPs); these are NATS-Bench's CIFAR-10 ones.
LOOKUP_IMAGES = ((3, 32, 32), 10)


def _lookup_evaluator(config, family):
    """The space and :class:`~deap_cnn.lookup.LookupEvaluator` of a ``--lookup`` run; the table checked first."""
    from ..lookup import LookupEvaluator, LookupSettings

    space = family.space(*LOOKUP_IMAGES, config.family_options())
    settings = LookupSettings(
        column=config.lookup_column, noise=config.lookup_noise, noise_epochs=config.epochs, epochs=config.epochs,
        seed=config.seed, fidelities=config.fidelity or (), truth=config.truth_column,
    )  # fmt: skip
    evaluator = LookupEvaluator(config.lookup, space, settings)
    evaluator.table.check_covers(space)
    return space, evaluator


def _proxy_evaluator(config, source, space, builder, objectives=None, proxy=None):
    """The :class:`~deap_cnn.training.proxy_evaluator.ProxyEvaluator` of ``--fitness`` (or of ``proxy``, a warm-up).

    For ``--fitness`` it computes the fitness proxy and every other proxy the objectives name.
    """
    from ..training.proxy_evaluator import ProxyEvaluator, ProxySettings

    names = [proxy or config.fitness]
    names += [name for name in (objectives.names if objectives is not None else ()) if name not in names]
    names = [name for name in names if name in ("synflow", "nwot", "jacov", "snip", "grad_norm")]
    settings = ProxySettings(proxies=tuple(names), batch_size=config.proxy_batch, seed=config.seed)
    return ProxyEvaluator(source, space, settings, device=config.device, builder=builder)


class _WarmupScorer:
    """A warm-up's scorer: one proxy of the untrained network, each score a line of ``warmup.jsonl``."""

    def __init__(self, evaluator, path):
        self.evaluator = evaluator
        self.path = path

    def __call__(self, genome) -> float:
        import json

        record = self.evaluator.record(genome)
        name = self.evaluator.settings.proxies[0]
        with open(self.path, "a", encoding="utf-8") as handle:
            line = {"genome": record.genome, "proxy": name, "score": record.fitness[0], "status": record.status,
                    "seconds": round(record.seconds, 4), "macs": record.macs}  # fmt: skip
            handle.write(json.dumps(line) + "\n")
        return record.fitness[0]


def _warmup(config, folder, parts, verbose):
    """The :class:`~deap_cnn.search.warmup.Warmup` of ``--proxy-warmup`` (``None`` without one, or on a resume)."""
    if not config.proxy_warmup or folder.checkpoint_file.exists():
        return None
    from ..search.warmup import Warmup

    builder = getattr(parts.evaluator, "builder", None)
    if parts.dataset is None:  # a table lookup: no images, so the space's own builder and a batch of noise
        builder = parts.space.network_builder
    evaluator = _proxy_evaluator(config, parts.source, parts.space, builder, proxy=config.warmup_proxy)
    path = folder.file("warmup.jsonl")
    if path.exists():
        path.unlink()  # a run that stopped before its first checkpoint scores again
    if verbose:
        print(f"warm-up: scoring {config.proxy_warmup} random genomes by {config.warmup_proxy} (no training); "
              f"the best {_budget(config).population} start the search", flush=True)  # fmt: skip
    return Warmup(_WarmupScorer(evaluator, str(path)), config.proxy_warmup)


class _ProxyScore:
    """``f(genome) -> float``: one proxy's score of the untrained network (a surrogate's feature); pickles small."""

    def __init__(self, evaluator):
        self.evaluator = evaluator

    def __repr__(self):
        return f"_ProxyScore({self.evaluator.settings.proxies[0]})"

    def __call__(self, genome) -> float:
        return self.evaluator.record(genome).fitness[0]


def _surrogate_features(config, parts):
    """The ``--surrogate-proxies`` scorers (``None`` without any)."""
    if not config.surrogate_proxies:
        return None
    builder = parts.space.network_builder if parts.dataset is None else parts.evaluator.builder
    return [_ProxyScore(_proxy_evaluator(config, parts.source, parts.space, builder, proxy=name))
            for name in config.surrogate_proxies]  # fmt: skip


def compose(config: SearchConfig) -> Composition:
    """Family, strategy, data, space and evaluator for ``config``; checks that they fit before any training.

    A ``--lookup`` run has no data (``source`` and ``dataset`` are ``None``):
    its evaluator looks fitness up in the table.
    """
    from ..search.objectives import Objectives

    family = get_family(config.family_name)
    names = config.objectives or ((config.fitness,) if config.fitness else family.objectives)
    objectives = Objectives(names, max_latency=config.max_latency)
    strategy = get_strategy(config.strategy or default_strategy(objectives, config.halving))
    if config.lookup is None or config.device is not None:  # a lookup trains nothing: no torch to import
        _check_device(config.device)
    strategy.check(family, len(objectives), config.halving)
    if config.lookup is not None:
        source = dataset = None
        space, evaluator = _lookup_evaluator(config, family)
    else:
        from ..training.evaluator import Evaluator
        from ..training.sources import DataSource, load_data

        source = DataSource(config.data, root=config.data_dir, download=config.download)
        dataset = load_data(source)
        _check_data_kind(family, dataset, config)
        options = config.family_options()
        space = family.space(dataset.input_shape, dataset.n_classes, options)
        builder = family.network_builder(space, options)
        if config.fitness is not None:
            evaluator = _proxy_evaluator(config, source, space, builder, objectives)
        else:
            evaluator = Evaluator(source, space, config.train_settings(family), device=config.device, builder=builder)
    scorer = objectives.wrap(evaluator)
    return Composition(
        family,
        strategy,
        source,
        dataset,
        space,
        evaluator,
        scorer.record,
        objectives.weights,
        scorer.fingerprint(),
        objectives,
    )


#: Settings a resume takes from the command, not from the folder: they change how, not what, is searched.
RUNTIME_SETTINGS = ("out", "engine", "scheduler", "workers", "device")


def _report_differences(saved, given, verbose):
    """Say which given settings differ from the saved run's, and that the saved ones are kept."""
    kept = [
        f"{name}={getattr(given, name)!r} (saved {getattr(saved, name)!r})"
        for name in saved.to_dict()
        if name not in RUNTIME_SETTINGS + ("generations",) and getattr(saved, name) != getattr(given, name)
    ]
    if kept and verbose:
        print(f"note: resuming with the run's saved settings; ignored: {', '.join(kept)}", flush=True)
    if given.generations > saved.generations and verbose:
        print(f"note: the run grows from {saved.generations} to {given.generations} generations", flush=True)
    elif given.generations < saved.generations and verbose:
        print(
            f"note: --generations {given.generations} is fewer than the saved {saved.generations}; "
            f"the run goes on to {saved.generations}",
            flush=True,
        )
    changed = [
        f"{name}={getattr(given, name)!r}"
        for name in RUNTIME_SETTINGS
        if name != "out" and getattr(saved, name) != getattr(given, name)
    ]
    if changed and verbose:
        print(f"note: taken from this command, not the folder: {', '.join(changed)}", flush=True)


def _check_saved_state(folder: RunFolder):
    """Raise :class:`StoreError` or :class:`~deap_cnn.search.checkpoint.CheckpointError` for a damaged file."""
    from .checkpoint import load_checkpoint

    if folder.store_file.exists() and folder.store_file.stat().st_size > 0:  # opening writes an empty one's schema
        store = ResultsStore(folder.store_file)
        try:
            store.check()
        finally:
            store.close()
    if folder.checkpoint_file.exists():
        return load_checkpoint(folder.checkpoint_file)
    return None


#: Settings that may differ between ``config.json`` and the settings the run started with (results.sqlite's).
MAY_CHANGE = RUNTIME_SETTINGS + ("generations",)


def _saved_settings(folder: RunFolder) -> dict:
    """The settings the store holds (what the run started with; ``{}`` without a store)."""
    if not folder.store_file.exists():
        return {}
    import sqlite3

    try:
        with sqlite3.connect(f"file:{folder.store_file}?mode=ro", uri=True) as connection:
            rows = connection.execute("SELECT key, value FROM settings").fetchall()
    except sqlite3.Error:
        return {}  # an old or damaged store: _check_saved_state speaks of it
    import json

    return {key: json.loads(value) for key, value in rows}


def check_integrity(folder: RunFolder, config: SearchConfig, parts, checkpoint, run_id):
    """Refuse a resume whose folder does not hold one consistent run, with one line naming what is wrong.

    The store must hold at least the evaluations the checkpoint counted and
    belong to this run (its id); a checkpoint the store says was written must
    exist; the settings and the data the evaluations depend on (the
    fingerprint: the table, the data set, the evaluation settings) must be the
    ones the run started with.
    """
    saved = _saved_settings(folder)
    rows = folder.evaluation_count() if folder.store_file.exists() else 0
    store = folder.store_file
    if checkpoint is not None:
        if checkpoint.get("run_id") not in (None, run_id):
            raise RunFolderError(
                f"{folder.checkpoint_file} belongs to another run than {folder.path} (run id "
                f"{checkpoint['run_id']}, the folder's is {run_id}): restore this run's checkpoint, or start a new run "
                "with another --out"
            )
        counted = checkpoint.get("evaluations")
        if counted != 0 and (not store.exists() or rows == 0):
            raise RunFolderError(
                f"{store} is {'missing' if not store.exists() else 'empty'}, but the checkpoint counts "
                f"{counted or 'earlier'} evaluation(s): resuming would lose them; restore results.sqlite from a copy, "
                "or start a new run with another --out"
            )
        if counted is not None and rows < counted:
            raise RunFolderError(
                f"{store} holds {rows} evaluation(s), fewer than the {counted} the checkpoint counts: it is not the "
                "store this run wrote (or lost rows); restore it from a copy, or start a new run with another --out"
            )
    elif "checkpointed" in saved:
        raise RunFolderError(
            f"{folder.checkpoint_file} is missing, but the run wrote one: resuming from the seed would repeat the "
            "search over the stored results; restore checkpoint.json from a copy, or start a new run with another --out"
        )
    if saved.get("run_id") not in (None, run_id):
        raise RunFolderError(
            f"{store} belongs to another run (run id {saved['run_id']}, this folder's is {run_id}): put this run's "
            "store back, or start a new run with another --out"
        )
    check_settings_unchanged(folder, config, saved)
    if saved.get("fingerprint") not in (None, parts.fingerprint):
        if saved.get("table_digest") is not None and saved["table_digest"] != _table_digest(parts):
            what = f"the table {config.lookup} changed since the run started (its contents differ)"
        elif config.lookup is not None:
            what = f"the evaluation of table {config.lookup} changed since the run started"
        else:
            what = f"the data set ({config.data}) or the evaluation settings changed since the run started"
        raise RunFolderError(
            f"{what}: its results would mix with the stored ones; put the original back, or start a new run with "
            "another --out"
        )


def check_settings_unchanged(folder: RunFolder, config: SearchConfig, saved=None):
    """Refuse a ``config.json`` whose search settings differ from those the run started with (the store's)."""
    saved = (_saved_settings(folder) if saved is None else saved).get("config") or {}
    changed = [
        f"{name} {saved[name]!r} -> {value!r}"
        for name, value in config.to_dict().items()
        if name in saved and name not in MAY_CHANGE and _differs(saved[name], value)
    ]
    if changed:
        raise RunFolderError(
            f"{folder.config_file} differs from the settings the run started with ({'; '.join(changed)}): a resume "
            "goes on with the same search; restore config.json, or start a new run with these settings and another "
            "--out"
        )


def _differs(saved, given) -> bool:
    import json

    return json.loads(json.dumps(saved, default=str)) != json.loads(json.dumps(given, default=str))


def _table_digest(parts):
    table = getattr(parts.evaluator, "table", None)
    return None if table is None else table.digest


def _convert_pickle_checkpoint(folder: RunFolder, trust: bool):
    """A folder of deap_cnn before 0.2 holds ``checkpoint.pkl``: refused unless trusted; then converted once."""
    from .checkpoint import CheckpointError, convert_pickle_checkpoint

    if folder.checkpoint_file.exists() or not folder.pickle_checkpoint_file.exists():
        return
    if not trust:
        raise CheckpointError(
            f"{folder.pickle_checkpoint_file} is a pickle checkpoint (deap_cnn before 0.2): loading a pickle can run "
            "any code, so it is not loaded; if you made this run yourself, resume with --trust-pickle-checkpoint, "
            "which converts it to checkpoint.json once"
        )
    convert_pickle_checkpoint(folder.pickle_checkpoint_file, folder.checkpoint_file)


def open_engine(config: SearchConfig):
    """The engine ``config.engine`` names (``auto``: SCOOP under ``python -m scoop``, else serial)."""
    from ..engines import make_engine

    if config.engine == "dask":
        return make_engine("dask", scheduler=config.scheduler, n_workers=config.workers)
    return make_engine(config.engine)


def run_search(
    config: SearchConfig, resume: bool = False, map_function=None, verbose: bool = True, trust_pickle: bool = False
) -> dict:
    """Run (or resume) the search ``config`` describes in its run folder; return the summary (``best.json``).

    The process holds the folder's lock (:class:`~deap_cnn.runs.folder.FolderLock`)
    from before it changes anything until it returns: a second writer is
    refused. ``trust_pickle`` lets a resume convert a pickle checkpoint of
    deap_cnn before 0.2 (only for a folder you made yourself).
    """
    config.check()
    folder = RunFolder(config.out)
    if resume:
        saved = SearchConfig.from_dict(folder.claim(config.to_dict(), resume=True))
        _report_differences(saved, config, verbose)
        for name in RUNTIME_SETTINGS:  # how to run the rest, not what is searched
            setattr(saved, name, getattr(config, name))
        saved.generations = max(saved.generations, config.generations)
        config = saved.check()
        check_settings_unchanged(folder, config)  # before compose: an edited family or table is named as such
    else:
        folder.check_out()  # before anything is made: never another's files
        folder.refuse_a_run()  # before the lock too: a resume arriving now must not find it taken
    parts = compose(config)  # data, family and options are checked before the folder is claimed
    engine = None
    try:
        with stop_on_signals():  # opened before the lock: a scheduler that cannot be reached leaves no folder
            engine = open_engine(config) if map_function is None else None
        with folder.lock():
            run_id = _prepare(folder, config, parts, resume, trust_pickle)
            from .checkpoint import stamp_checkpoints

            with stamp_checkpoints(folder.checkpoint_file, run_id, folder.store_file):
                return _run_claimed(config, folder, parts, map_function, verbose, engine, run_id)
    finally:
        if engine is not None:
            engine.close()


def _prepare(folder, config, parts, resume, trust_pickle) -> str:
    """In the locked ``folder``: check a resume's files (or claim the folder for a new run); return the run's id."""
    folder.remove_temporaries()  # the lock is ours: any temporary file is a killed writer's
    if not resume:
        folder.refuse_a_run()  # again under the lock: before the marker is written
        run_id = folder.write_marker()
        folder.claim(config.to_dict())
        return run_id
    run_id = folder.run_id()
    if run_id is None:  # a folder of deap_cnn before 0.2, or a lost marker: the store's id, else a new one
        run_id = folder.write_marker(_saved_settings(folder).get("run_id"))
    _convert_pickle_checkpoint(folder, trust_pickle)
    state = _check_saved_state(folder)  # a damaged store or checkpoint is refused before the folder changes
    check_integrity(folder, config, parts, state, run_id)
    folder.write_config(config.to_dict())
    return run_id


def _run_claimed(config, folder, parts, map_function, verbose, engine=None, run_id=None) -> dict:
    """:func:`_run` in the claimed ``folder``; ``status.json`` says so when the run is interrupted or fails."""
    try:
        with stop_on_signals():
            if engine is None:
                return _run(config, folder, parts, map_function, 1, verbose, run_id=run_id)
            return _run(config, folder, parts, engine.map, engine.workers, verbose, engine, run_id=run_id)
    except KeyboardInterrupt as interrupt:  # RunInterrupted (a signal) or a bare Ctrl-C from user code
        folder.set_status("interrupted", str(interrupt) or "interrupted", evaluations=folder.evaluation_count())
        raise
    except BaseException as error:
        folder.set_status("failed", f"{type(error).__name__}: {error}", evaluations=folder.evaluation_count())
        raise


def _largest_and_probe(parts):
    """The space's most expensive genome, and a cheaper one to time in its stead (or ``None``)."""
    import random

    rng = random.Random(0)
    individual = parts.family.individual()
    drawn = [parts.family.init(individual, parts.space, rng=rng) for _ in range(8)]
    cost = getattr(parts.space, "cost", None)
    if cost is None:
        from ..training.models import count_parameters

        def size(genome):
            return count_parameters(parts.evaluator.builder(genome, parts.space.input_shape, parts.space.n_classes))

        return max(drawn, key=size), None
    largest = getattr(parts.space, "largest_genome", None)
    largest = largest() if largest is not None else max(drawn, key=cost)
    return largest, sorted(drawn, key=cost)[len(drawn) // 2]


def check_candidate_time(config, parts, verbose=True):
    """Time the largest candidate briefly; warn when it would train longer than ``--candidate-limit``."""
    if not config.candidate_limit or parts.dataset is None or config.fitness:  # a lookup or a proxy trains nothing
        return None
    from ..training.estimate import estimate_training_seconds

    largest, probe = _largest_and_probe(parts)
    estimate = estimate_training_seconds(
        largest,
        parts.source,
        parts.space,
        parts.evaluator.settings,
        config.device,
        parts.evaluator.builder,
        probe=probe,
        cost=getattr(parts.space, "cost", None),
    )
    if estimate.seconds > config.candidate_limit:
        print(
            f"warning: the largest candidate of this space ({estimate.genome}) would train for about "
            f"{_duration(estimate.seconds)} on {estimate.device} ({estimate.steps} steps at "
            f"{estimate.step_seconds:.2f} s), over --candidate-limit {config.candidate_limit:g} s; shrink it with "
            "--widths, --max-skip-units (or --max-layers, --units), --max-batches or --time-budget",
            file=sys.stderr,
            flush=True,
        )
    elif verbose:
        print(f"largest candidate: about {_duration(estimate.seconds)} of training on {estimate.device}", flush=True)
    return estimate


def _expect_evaluations(engine, config, estimate, epochs):
    """Fit ``engine``'s lost-worker limit to evaluations of ``epochs`` epochs, from the largest candidate's ``estimate``.

    The estimate is of ``config.epochs`` epochs; ``--time-budget`` cuts every
    training short. Nothing to do without an engine or an estimate.
    """
    if engine is None or estimate is None:
        return
    seconds = estimate.seconds * epochs / config.epochs
    if config.time_budget:
        seconds = min(seconds, config.time_budget)
    engine.expect(seconds, config.candidate_limit)


def _rerank_epochs(config) -> int:
    """Epochs of each ``--rerank`` training: ``--rerank-epochs``, else the longest fidelity, else twice the search's."""
    return config.long_epochs


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _budget(config) -> Budget:
    """The strategy's :class:`Budget`: the settings', or what ``--budget-epochs`` plans."""
    plan = config.budget_plan()
    if plan is None:
        return Budget(config.population, config.generations, config.trainings, config.seconds)
    return Budget(plan.population, config.generations, plan.trainings, config.seconds)


def _run(config, folder, parts, map_function, workers, verbose, engine=None, run_id=None) -> dict:
    folder.set_status("running", family=parts.family.name, strategy=config.strategy, **_objective_details(parts))
    if verbose:
        print(
            f"{parts.family.name} / {config.strategy} on {_describe_data(parts, config)}; population "
            f"{config.population}, {config.generations} generations, {_per_candidate(config)}, "
            f"{workers} worker(s); run folder {config.out}",
            flush=True,
        )
    _warn_population_over_space(config, parts)
    estimate = check_candidate_time(config, parts, verbose)
    _expect_evaluations(engine, config, estimate, config.epochs)
    tensorboard = None
    if config.tensorboard:
        from .tensorboard import TensorBoardLog

        tensorboard = TensorBoardLog(folder.path)
    store = ResultsStore(folder.store_file, fingerprint=parts.fingerprint)
    identity = {"config": config.to_dict()}  # the settings as given: a resume compares config.json with them
    if run_id:
        identity["run_id"] = run_id
    if _table_digest(parts) is not None:
        identity["table_digest"] = _table_digest(parts)
    store.set_settings({**config.to_dict(), "fingerprint": parts.fingerprint, **_objective_details(parts), **identity})
    halving = rungs = None
    if config.halving and parts.strategy.asynchronous:  # asynchronous successive halving: rungs per candidate
        from ..search.halving import async_rungs

        rungs = async_rungs(parts.objectives.wrap(parts.evaluator), eta=config.halving_eta,
                            store=partial(ResultsStore, folder.store_file))  # fmt: skip
    elif config.halving:
        from ..search.halving import SuccessiveHalving

        halving = SuccessiveHalving(
            parts.objectives.wrap(parts.evaluator), eta=config.halving_eta, store=partial(ResultsStore, folder.store_file),
            continue_training=config.halving_continue, state_dir=folder.file("halving-state"),
        )  # fmt: skip
    weights_folder = None
    if config.inherit:  # trained weights live in the run folder, so they survive a resume
        weights_folder = str(folder.file("weights"))
        parts.evaluator.weights_dir = weights_folder
    warmup = _warmup(config, folder, parts, verbose)
    started = time.perf_counter()
    try:
        outcome = parts.strategy.run(
            parts.family,
            parts.space,
            parts.evaluate,
            _budget(config),
            SearchContext(
                store=store,
                checkpoint=str(folder.checkpoint_file),
                map_function=map_function,
                engine=engine,
                callback=_after_generation(folder, config, parts, tensorboard),
                weights=parts.weights,
                evaluate_population=halving,
                rungs=rungs,
                seed=config.seed,
                verbose=verbose,
                cxpb=config.cxpb,
                mutpb=config.mutpb,
                weights_folder=weights_folder,
                sample_size=config.sample_size,
                cheaper=config.prefer_cheaper,
                warmup=warmup,
                features=_surrogate_features(config, parts),
            ),
        )
    finally:
        for closing in (halving, rungs):
            if closing is not None:
                closing.close()
        if tensorboard is not None:
            tensorboard.update()
            tensorboard.close()
    search_seconds = time.perf_counter() - started
    _check_feasible(config, store)
    best, reranked = outcome.best[0], {}
    if config.rerank and getattr(parts.evaluator, "deterministic", False):
        if verbose:
            print("reranking skipped: this evaluation scores a genome the same every time", flush=True)
    elif config.rerank:
        _expect_evaluations(engine, config, estimate, _rerank_epochs(config))
        best, reranked = rerank_best(config, parts, store, map_function, verbose)
    summary = _write_outputs(folder, config, parts, outcome, store, search_seconds, best)
    summary.update(reranked)
    if warmup is not None and warmup.scored:  # what the warm-up cost: not trainings, but seconds of the search's
        summary["warmup"] = {"proxy": config.warmup_proxy, "scored": len(warmup.scored),
                             "seconds": round(warmup.seconds, 2)}  # fmt: skip
    store.close()
    if not _final_training(folder, config, parts, best, summary, verbose):
        folder.write_json("best.json", summary)
    folder.set_status("finished", f"best {summary['genome']}", family=parts.family.name, strategy=config.strategy,
                      **_objective_details(parts))  # fmt: skip
    write_card_quietly(folder)  # before the page, which shows it
    write_report_quietly(folder)
    if verbose:
        line = f"best architecture: {summary['genome']} (validation fitness {summary['validation_fitness']:.4f}"
        if "test_accuracy" in summary:
            line += f", test accuracy {summary['test_accuracy']:.4f} after {config.final_epochs} epochs"
        if summary.get("rerank"):
            line += f", {summary['rerank'][0]['rerank_fitness']:.4f} reranked at {summary['rerank_epochs']} epochs"
        if "noise_free_fitness" in summary:
            line += (
                f", {'truth' if config.truth_column else 'noise-free'} {summary['noise_free_fitness']:.4f} in the table"
            )
        if summary["duplicates"]:
            line += f"; {summary['duplicates']} duplicate result(s) dropped, the store kept one row each"
        print(line + f"); results in {config.out}", flush=True)
    return summary


def _check_feasible(config, store):
    """Raise :class:`~deap_cnn.search.objectives.InfeasibleError` when ``--max-latency`` left no candidate standing."""
    if config.max_latency is None:
        return
    rows = store.records()
    if any(row.get("status") == "ok" for row in rows):
        return
    from ..search.objectives import InfeasibleError

    measured = [row["latency_ms"] for row in rows if row.get("latency_ms") is not None]
    fastest = f"the fastest of {len(rows)} measured {min(measured):.3g} ms" if measured else "none was measured"
    raise InfeasibleError(
        f"no candidate met --max-latency {config.max_latency:g} ms ({fastest}): raise the limit, or search smaller "
        "networks (--widths, --units, --max-layers)"
    )


def _per_candidate(config) -> str:
    """What each candidate costs, for the run's first line."""
    if config.fitness:
        return f"no training ({config.fitness} of the untrained network)"
    return f"{config.epochs} epochs per candidate"


def _warn_population_over_space(config, parts):
    """Warn when the population holds more individuals than the space has genomes (an enumerable space only)."""
    size = getattr(parts.space, "size", None)
    size = size() if callable(size) else size
    if isinstance(size, int) and config.population > size:
        print(
            f"warning: --population {config.population} is larger than the space, which holds {size:,} genomes: "
            "a population repeats genomes (cache hits); a smaller --population searches the same space",
            file=sys.stderr,
            flush=True,
        )


def _describe_data(parts, config) -> str:
    """What the candidates are scored on, for the run's first line."""
    if parts.dataset is None:
        table = parts.evaluator.table
        noise = f", noise sd {config.lookup_noise:g}" if config.lookup_noise else ""
        return f"table {table.path} ({len(table):,} architectures, column {table.column}{noise})"
    dataset = parts.dataset
    return (
        f"{dataset.name}: {len(dataset.x_train)} training examples {dataset.input_shape}, {dataset.n_classes} classes"
    )


def _objective_details(parts) -> dict:
    """How ``status.json``, ``best.json`` and the store's settings name the run's objectives (the report reads them)."""
    return {"objectives": list(parts.objectives.names), "directions": list(parts.objectives.directions)}


#: Seconds at least between two rewrites of ``report.html`` while a run goes on. The asynchronous strategies
#: call back after every evaluation, and a table lookup takes milliseconds where rendering the page takes 10 to
#: 700 ms: rewriting it every time would make the page the run's main work. ``run_search`` writes the final page.
REPORT_SECONDS = 5.0


def _after_generation(folder, config, parts, tensorboard=None, clock=time.monotonic, report_seconds=REPORT_SECONDS):
    """What a run does after every generation (or batch, or evaluation): save the logbook, refresh status and report.

    The logbook and ``status.json`` are written every time (a live report,
    ``deap-cnn report RUN --serve``, renders from them and the store, and
    re-renders when they change); ``report.html`` is rewritten at the first
    call and then only once ``report_seconds`` of ``clock`` have passed since
    the last rewrite ended.
    """
    written = None  # clock() when the last rewrite ended

    def after(generation, population, halloffame, logbook):
        nonlocal written
        if logbook is not None:
            folder.write_logbook(logbook)
        folder.set_status(
            "running",
            f"generation {generation} done",
            family=parts.family.name,
            strategy=config.strategy,
            **_objective_details(parts),
        )
        if written is None or clock() - written >= report_seconds:
            write_report_quietly(folder)
            written = clock()
        if tensorboard is not None:
            tensorboard.update()

    return after


def write_report_quietly(folder):
    """Rewrite ``report.html``; a report that cannot be written is a warning, never the end of a run."""
    from .report import write_report

    try:
        write_report(folder.path)
    except Exception as error:  # noqa: BLE001 - the page is a view; the store and checkpoint are the run
        print(f"warning: report.html not written: {type(error).__name__}: {error}", file=sys.stderr)


def write_card_quietly(folder):
    """Write ``model-card.md`` (:mod:`deap_cnn.runs.card`); a card that cannot be written is a warning."""
    from .card import write_model_card
    from .winner import load_winner

    try:
        write_model_card(load_winner(folder.path))
    except Exception as error:  # noqa: BLE001 - the card describes the run; best.json and best.pt are the run
        print(f"warning: model-card.md not written: {type(error).__name__}: {error}", file=sys.stderr)


def rerank_best(config, parts, store, map_function=map, verbose=True):
    """The ``--rerank`` best distinct genomes of the store, trained again from scratch; the best of them.

    Returns ``(best, summary)``: the chosen individual, carrying its search
    fitness, and for ``best.json`` the epochs and one row per genome
    retrained (best first). See :mod:`deap_cnn.search.rerank` for why.
    """
    from ..families.registry import as_individual
    from ..search.rerank import rerank, rerank_evaluator, top_distinct

    sign = parts.weights[0]
    fitness = {}  # genome text -> its best search fitness (with inheritance a genome can have several)
    found = {}  # genome text -> the first generation that stored it
    for row in store.records():
        if row.get("status", "ok") != "ok":
            continue
        values, known = tuple(row["fitness"]), fitness.get(row["genome"])
        if known is None or sign * values[0] > sign * known[0]:
            fitness[row["genome"]] = values
        generation = row.get("generation") or 0
        found[row["genome"]] = min(found.get(row["genome"], generation), generation)
    # Ties go to the earlier generation, then the text: never to whichever worker happened to finish first,
    # so serial, SCOOP and Dask runs (and a resumed run) pick the same genome.
    order = sorted(fitness, key=lambda text: (found[text], text))
    texts = top_distinct(((text, fitness[text][0]) for text in order), config.rerank, sign=sign)
    epochs = _rerank_epochs(config)
    evaluator = rerank_evaluator(parts.evaluator, epochs)
    kind = parts.family.individual(parts.weights)
    genomes = [as_individual(kind, parts.family.genome_class.from_string(text)) for text in texts]
    if verbose:
        print(
            f"reranking the {len(genomes)} best distinct genomes: {epochs} epochs each from scratch, "
            f"training seed {evaluator.settings.seed}",
            flush=True,
        )
    ranked = rerank(genomes, parts.objectives.wrap(evaluator).record, map_function, sign=sign)
    table = []
    for genome, record in ranked:
        table.append({"genome": str(genome), "search_fitness": fitness[str(genome)][0],
                      "rerank_fitness": record.fitness[0], "status": record.status})  # fmt: skip
        if verbose:
            print(f"  {genome}: search fitness {fitness[str(genome)][0]:.4f}, "
                  f"rerank fitness {record.fitness[0]:.4f} ({record.status})", flush=True)  # fmt: skip
    best = ranked[0][0]
    best.fitness.values = fitness[str(best)]
    return best, {"rerank": table, "rerank_epochs": epochs}


def duplicate_results(logbook) -> int:
    """Results dropped because their genome was stored already (an engine ran it twice), from the logbook."""
    return sum(int(row.get("duplicates") or 0) for row in logbook)


def _write_outputs(folder, config, parts, outcome, store, search_seconds, best) -> dict:
    from .plots import plot_fitness, plot_front

    folder.write_logbook(outcome.logbook)
    objectives = parts.objectives
    if len(outcome.logbook):
        primary = objectives[0]
        label = f"fitness ({primary.name}, {primary.direction}d)"
        plot_fitness(outcome.logbook, folder.file("fitness.png"), ylabel=label, minimise=primary.weight < 0)
    if len(objectives) > 1:
        store.save_front(outcome.best, objectives.names)
        plot_front(outcome.best, objectives, folder.file("front.png"), evaluated=store.records())
    summary = {
        "family": parts.family.name,
        "strategy": config.strategy,
        "genome": str(best),
        "validation_fitness": best.fitness.values[0],
        "fitness": list(best.fitness.values),
        **_objective_details(parts),
        "evaluations": len(store),
        "trainings": outcome.trainings,
        "duplicates": duplicate_results(outcome.logbook),
        "stopped": outcome.stopped,
        "search_seconds": round(search_seconds, 1),
        "classes": list(parts.dataset.classes) if parts.dataset is not None else [],
        "input_shape": list(parts.space.input_shape),
        "n_classes": parts.space.n_classes,
        "family_options": config.family_options(),
    }
    row = store.lookup(str(best))
    if row is not None and row.get("noise_free_fitness") is not None:  # a noisy lookup: the table's own value too
        summary["noise_free_fitness"] = row["noise_free_fitness"]
    if row is not None and row.get("latency_ms") is not None:  # measured (latency objective, --max-latency)
        summary.update(latency_ms=row["latency_ms"], latency_batch=config.latency_batch or 1)
    if len(objectives) > 1:
        summary["front"] = [
            {"genome": str(ind), **dict(zip(objectives.names, ind.fitness.values, strict=True))} for ind in outcome.best
        ]
    return summary


def _final_training(folder, config, parts, best, summary, verbose) -> bool:
    """Retrain ``best`` on the whole training set and test it once; save ``best.pt`` and ``best.json``.

    Adds the test accuracy to ``summary``; returns whether it trained.
    """
    if config.final_epochs <= 0 or parts.dataset is None:  # a lookup's pick is scored by the table
        return False
    from ..training.final import train_and_test
    from ..training.models import save_network
    from .winner import normalisation_of

    if verbose:
        print(f"retraining {best} on the whole training set for {config.final_epochs} epochs", flush=True)
    final = train_and_test(
        best,
        parts.source,
        parts.space,
        config.train_settings(parts.family, epochs=config.final_epochs),
        device=config.device,
        builder=parts.evaluator.builder,
    )
    summary.update(test_accuracy=final["test_accuracy"], final_epochs=config.final_epochs)
    summary.update(test_images=len(parts.dataset.y_test), normalisation=normalisation_of(parts.dataset))
    details = {k: v for k, v in summary.items() if k not in ("family", "genome", "input_shape", "n_classes")}
    save_network(
        final["model"],
        folder.file("best.pt"),
        best,
        parts.space.input_shape,
        parts.space.n_classes,
        family=parts.family.name,
        **details,
    )
    return True

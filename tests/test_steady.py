"""The asynchronous strategies' shared loop, local search, surrogate-assisted evolution and the GA's fresh offspring."""

from __future__ import annotations

import pickle
import random
from concurrent.futures import Future
from functools import partial

import pytest

from deap_cnn.families import Family, get_family
from deap_cnn.families.nats import OPERATIONS
from deap_cnn.search.aging import AgingProposer
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.ga import vary_cnn_ga
from deap_cnn.search.local import LocalSearchProposer
from deap_cnn.search.steady import MAX_FRUITLESS_PROPOSALS, Rungs, fitness_stats, steady_state
from deap_cnn.search.strategies import Budget, SearchContext, StrategyError, get_strategy
from deap_cnn.search.surrogate import SurrogateProposer
from deap_cnn.training.lineage import evaluation_key

NATS = get_family("nats")
#: Per-edge values of a smooth landscape: its single optimum is a 3x3 convolution on every edge.
VALUE = {"none": 0.0, "skip_connect": 1.0, "avg_pool_3x3": 1.5, "nor_conv_1x1": 2.0, "nor_conv_3x3": 3.0}
OPTIMUM = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def smooth(genome):
    """A fitness without training: each edge's operation adds its value, later edges weigh more."""
    return (sum(VALUE[op] * (edge + 1) for edge, op in enumerate(genome)) / 63.0,)


def flat(genome):
    return (0.5,)


def space_of(operations=OPERATIONS):
    return NATS.space((3, 32, 32), 10, {}).__class__(operations=operations)


def toolbox_for(evaluate=smooth, space=None):
    return NATS.toolbox(space or space_of(), evaluate)


def local(space, initial=4):
    return LocalSearchProposer(initial, partial(NATS.neighbours, space=space))


def run(proposer, trainings, evaluate=smooth, space=None, checkpoint=None, **options):
    space = space or space_of()
    return steady_state(
        proposer, toolbox_for(evaluate, space), trainings, stats=fitness_stats(), seed=5, checkpoint=checkpoint,
        cache=options.pop("cache", EvaluationCache()), **options,
    )  # fmt: skip


def test_local_search_climbs_a_smooth_landscape_to_its_optimum():
    space = space_of()
    result = run(local(space), 200, space=space)
    assert str(result.halloffame[0]) == OPTIMUM
    assert result.proposer.moves >= 1 and result.trained <= 200
    keys = [key for key, _ in result.history]
    assert len(keys) == len(set(keys)) == result.trained  # every proposal new: nothing trained twice, no cache hits


def test_local_search_restarts_at_a_local_optimum_and_stops_when_the_space_is_exhausted():
    space = space_of(("none", "nor_conv_3x3"))  # 64 cells
    result = run(local(space), 1000, evaluate=flat, space=space)  # every neighbour ties: each climb stops at once
    assert result.proposer.restarts >= 2
    assert result.stopped == "exhausted" and result.trained == 64


def test_every_neighbour_of_a_local_optimum_was_scored_before_the_restart():
    space = space_of(("none", "skip_connect", "nor_conv_3x3"))
    proposer = local(space, initial=3)
    scored = []

    def recorded(genome):
        scored.append(str(genome))
        return smooth(genome)

    run(proposer, 80, evaluate=recorded, space=space)
    assert OPTIMUM in scored
    optimum = space.parse(OPTIMUM)
    if proposer.restarts:  # the climb from the optimum ended: all its neighbours were looked at
        assert {str(n) for n in NATS.neighbours(optimum, space)} <= set(scored)


def test_surrogate_evolution_trains_the_models_choice_and_keeps_no_model_in_its_checkpoint():
    space = space_of()
    proposer = SurrogateProposer(6, 3, encode=partial(NATS.encode, space=space), candidates=4)
    result = run(proposer, 40, space=space)
    assert proposer.chosen > 0 and proposer.model is not None and len(proposer.targets) == 40
    restored = pickle.loads(pickle.dumps(proposer))
    assert restored.model is None and restored.fitted_on == proposer.fitted_on
    assert result.halloffame[0].fitness.values[0] == max(f[0] for _, f in result.history)


def test_surrogate_needs_an_encoding():
    bare = Family(name="bare", genome_class=NATS.genome_class, make_space=NATS.make_space, init=NATS.init,
                  mate=NATS.mate, mutate=NATS.mutate)  # fmt: skip
    with pytest.raises(StrategyError, match="encoding"):
        get_strategy("surrogate").check(bare, 1)
    get_strategy("local").check(bare, 1)  # local search samples mutants without neighbours


class Killed(BaseException):
    """Stands for a SIGKILL in the middle of an evaluation."""


@pytest.mark.parametrize("kind", ["local", "surrogate", "aging"])
def test_a_killed_steady_run_resumes_to_the_uninterrupted_result(tmp_path, kind):
    space = space_of()

    def proposer():
        if kind == "local":
            return local(space)
        if kind == "surrogate":
            return SurrogateProposer(4, 2, encode=partial(NATS.encode, space=space))
        return AgingProposer(4)

    whole = run(proposer(), 25, space=space, checkpoint=str(tmp_path / "whole.pkl"))
    calls = {"n": 0}

    def dies_at_the_twelfth(genome):
        calls["n"] += 1
        if calls["n"] == 12:
            raise Killed()
        return smooth(genome)

    cache = EvaluationCache()
    with pytest.raises(Killed):
        run(proposer(), 25, evaluate=dies_at_the_twelfth, space=space, checkpoint=str(tmp_path / "part.pkl"),
            cache=cache)  # fmt: skip
    resumed = run(proposer(), 25, space=space, checkpoint=str(tmp_path / "part.pkl"), cache=cache)
    assert resumed.history == whole.history and resumed.trained == whole.trained == 25


def test_a_checkpoint_of_another_steady_strategy_is_refused(tmp_path):
    from deap_cnn.runs.checkpoint import CheckpointError

    space = space_of()
    run(AgingProposer(4), 6, space=space, checkpoint=str(tmp_path / "c.pkl"))
    with pytest.raises(CheckpointError, match="another strategy"):
        run(local(space), 6, space=space, checkpoint=str(tmp_path / "c.pkl"))


def cheap(genome):
    """A low rung: the fitness blurred by a seeded, genome-dependent error."""
    error = random.Random(str(genome)).gauss(0.0, 0.05)
    return (smooth(genome)[0] + error,)


def test_rungs_promote_the_best_fraction_and_only_the_top_rung_makes_parents_and_the_pick():
    space = space_of()
    rungs = Rungs(evaluate=[cheap, smooth], caches=[EvaluationCache()], eta=1 / 3, epochs=[1, 3])
    proposer = AgingProposer(6)
    told = []
    tell = proposer.tell

    def spy(individual, top=True):
        told.append((str(individual), top, individual.rung))
        tell(individual, top)

    proposer.tell = spy
    result = run(proposer, 30, space=space, rungs=rungs)
    assert result.trained == 30  # the budget counts candidates, not their promotions
    assert 0 < result.promoted <= 30
    assert all(member.rung == 1 for member in proposer.population)  # parents come from the top rung only
    for member in result.halloffame:
        assert member.fitness.values == smooth(member)  # the pick is scored at the top rung
    assert {top for _, top, _ in told} == {True, False} and all(top == (rung == 1) for _, top, rung in told)
    # The first result of a rung is always promoted: nothing to rank it against yet.
    assert told and len(rungs.caches[0]) == 30


def test_a_proposer_that_only_proposes_known_genomes_stops_as_exhausted():
    class Repeats(AgingProposer):
        def propose(self, toolbox, known):
            individual = toolbox.individual()
            individual[:] = space_of().parse(OPTIMUM)
            return individual, None

    result = run(Repeats(3), 10)
    assert result.stopped == "exhausted" and result.trained == 1 and result.hits == MAX_FRUITLESS_PROPOSALS


class TwoWorkers:
    """An engine that keeps two evaluations out and finishes the older one first."""

    workers = 2

    def submit(self, func, *args):
        future = Future()
        future.set_result(func(*args))
        return future

    def as_completed(self, futures, timeout=None):
        yield from futures


def test_local_search_keeps_several_workers_busy():
    space = space_of()
    result = run(local(space), 60, space=space, engine=TwoWorkers())
    assert result.trained == 60 and str(result.halloffame[0]) == OPTIMUM


def test_the_ga_varies_repeated_children_again_so_a_converged_population_keeps_proposing_new_cells():
    space = space_of()
    toolbox = toolbox_for(smooth, space)
    random.seed(3)
    converged = []
    for _ in range(10):
        individual = toolbox.individual()
        individual[:] = space.parse(OPTIMUM)
        individual.fitness.values = smooth(individual)
        converged.append(individual)
    known_keys = {OPTIMUM} | {str(n) for n in NATS.neighbours(converged[0], space)[:20]}
    offspring = vary_cnn_ga(converged, toolbox, cxpb=0.9, mutpb=0.2, known=lambda g: evaluation_key(g) in known_keys)
    texts = [str(child) for child in offspring]
    assert len(set(texts)) == len(texts) and not set(texts) & known_keys
    assert all(not child.fitness.valid for child in offspring) and all(space.is_valid(child) for child in offspring)
    plain = vary_cnn_ga(converged, toolbox, cxpb=0.9, mutpb=0.2)  # CNN-GA as published: repeats are allowed
    assert any(str(child) == OPTIMUM for child in plain)


class StoredRecords(EvaluationCache):
    """A cache whose records carry the generation they were stored in, as a results store's do."""

    def __init__(self, generations):
        super().__init__()
        self._memory = {text: {"fitness": (0.5,), "generation": gen} for text, gen in generations.items()}


def test_the_ga_counts_as_known_only_what_earlier_generations_stored_so_a_resumed_generation_varies_alike():
    from deap_cnn.search.ga import _evaluated_before

    space = space_of()
    older = space.parse(OPTIMUM)
    same, unknown = NATS.neighbours(older, space)[:2]
    cache = StoredRecords({str(older): 1, str(same): 2})
    # Generation 2 was cut short by a kill: what it stored before the checkpoint must not steer its variation again.
    assert _evaluated_before(cache, older, generation=2)
    assert not _evaluated_before(cache, same, generation=2) and not _evaluated_before(cache, unknown, generation=2)
    assert _evaluated_before(cache, same, generation=3)
    memory = EvaluationCache()
    memory.put(str(unknown), {"fitness": (0.1,)})  # an in-memory record has no generation: known
    assert _evaluated_before(memory, unknown, generation=1)


def test_every_single_objective_strategy_runs_on_the_cell_family():
    space = space_of()
    for name in ("ga", "random", "aging", "local", "surrogate", "tpe"):
        outcome = get_strategy(name).run(
            NATS, space, smooth, Budget(population=6, generations=3), SearchContext(seed=2)
        )
        assert outcome.best and 0 < outcome.trainings <= 24, name
        best = outcome.best[0]
        assert best.fitness.values == smooth(best), name  # the pick carries its own genome's fitness
        if outcome.history:
            assert best.fitness.values[0] == max(fitness[0] for _, fitness in outcome.history), name

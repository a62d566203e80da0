"""Aging (regularized) evolution, asynchronous and steady-state (Real et al. 2019, "Regularized Evolution").

The population is a queue ordered by age. Each time any evaluation
finishes, the finished individual joins the population at the young end, the
oldest member dies when the population exceeds its size, and one child is
bred to take the freed worker: ``sample_size`` members drawn at random, the
best of them cloned and mutated (no crossover, as in the paper). A child
that was evaluated already, or is being evaluated, is mutated afresh (up to
:data:`MAX_TRIES` times): on a small or converged space the budget then
buys new architectures rather than cache hits.

:class:`AgingProposer` is the strategy; :func:`~deap_cnn.search.steady.steady_state`
runs it (engines, cache, checkpoints, resume, successive halving's rungs);
:func:`aging_evolution` puts the two together.
"""

from __future__ import annotations

import random
from collections import deque
from functools import partial

from .steady import Proposer, mutant, steady_state

__all__ = ["MAX_TRIES", "default_sample_size", "breed_aging_child", "AgingProposer", "aging_evolution", "fresh"]

#: Variations tried for a child the search has not seen before it settles for a known one.
MAX_TRIES = 50


def default_sample_size(population_size: int) -> int:
    """Half the population, at least two.

    Measured on NAS-Bench-201's CIFAR-10 table (``benchmarks/nas_bench.py``) a
    tournament of half the population found the optimum far more often than
    the paper's quarter, and as well on Fashion-MNIST trainings (docs/benchmarks.md).
    """
    return max(2, population_size // 2)


def fresh(make, known, tries=MAX_TRIES):
    """``make()`` until it gives a genome ``known`` does not hold (at most ``tries`` times; then the last one)."""
    for _ in range(tries - 1):
        candidate = make()
        if not known(candidate):
            return candidate
    return make()


def breed_aging_child(population, toolbox, sample_size, rng=random, known=None, cheaper=0.0):
    """One child: the best of ``sample_size`` members drawn without replacement, cloned and mutated.

    With ``known`` (a predicate) a child it holds is bred again from the same
    parent, up to :data:`MAX_TRIES` times. With ``cheaper`` > 0 a second
    tournament is held, and when its winner is another member that costs
    less (``ind.cost``: the forward FLOPs the loop records), it is the
    parent with probability ``cheaper``: a double tournament (Luke and
    Panait 2002), which breaks near-ties between good members towards the
    cheaper one and leaves a clear winner alone (both tournaments find it).
    Returns ``(child, parent)``; the child's fitness is deleted.
    """

    def tournament():
        sample = rng.sample(list(population), min(sample_size, len(population)))
        return max(sample, key=lambda ind: ind.fitness)

    parent = tournament()
    if cheaper:
        other = tournament()
        if other is not parent and _cost(other) < _cost(parent) and rng.random() < cheaper:
            parent = other

    make = partial(mutant, toolbox, parent)
    return (make() if known is None else fresh(make, known)), parent


def _cost(individual) -> float:
    """What training ``individual`` cost (its forward FLOPs); unknown costs count as equal."""
    cost = getattr(individual, "cost", None)
    return cost if isinstance(cost, (int, float)) and cost > 0 else float("inf")


class AgingProposer(Proposer):
    """Aging evolution's decisions: random individuals first, then mutants of tournament winners.

    ``population`` holds the members oldest first (``born`` the count of
    final results when each joined); only top-rung results join. With
    ``warmup`` (a :class:`~deap_cnn.search.warmup.Warmup`) the first
    individuals are the best of its pre-scored random genomes, best first
    (selected at the first proposal; checkpoints keep the selection, not the
    scorer).
    """

    name = "aging"
    description = "aging (regularized) evolution: a child as soon as any evaluation finishes"
    inherits_weights = True
    takes_warmup = True

    def __init__(self, population_size: int, sample_size: int | None = None, warmup=None, cheaper: float = 0.0):
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 1:
            raise ValueError(f"population_size must be an integer >= 1, got {population_size!r}")
        sample_size = default_sample_size(population_size) if sample_size is None else sample_size
        if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 1:
            raise ValueError(f"sample_size must be an integer >= 1, got {sample_size!r}")
        self.population_size = population_size
        self.sample_size = sample_size
        if isinstance(cheaper, bool) or not isinstance(cheaper, (int, float)) or not 0 <= cheaper <= 1:
            raise ValueError(f"cheaper must be a probability in [0, 1], got {cheaper!r}")
        self.cheaper = cheaper
        self.population = deque()
        self.born = deque()
        self.bred = 0  # individuals proposed
        self.told = 0
        self.warmup = warmup
        self.seeds = deque()  # the warm-up's picks not proposed yet

    @classmethod
    def build(cls, family, space, budget, context) -> AgingProposer:
        """``budget.population`` members; ``context``'s ``sample_size`` (default half of them), ``warmup``, ``cheaper``."""
        return cls(budget.population, context.sample_size, context.warmup, context.cheaper)

    def propose(self, toolbox, known):
        self.bred += 1
        if self.bred <= self.population_size or not self.population:
            if getattr(self, "warmup", None) is not None:
                self.seeds = deque(self.warmup.select(toolbox.individual, self.population_size, known))
                self.warmup = None  # used once; a checkpoint keeps the picks only
            seeds = getattr(self, "seeds", None)  # absent in checkpoints written before warm-ups
            while seeds:
                seed = seeds.popleft()
                if not known(seed):
                    return seed, None
            return fresh(toolbox.individual, known), None
        cheaper = getattr(self, "cheaper", 0.0)  # absent in checkpoints written before it
        return breed_aging_child(self.population, toolbox, self.sample_size, known=known, cheaper=cheaper)

    def tell(self, individual, top=True):
        self.told += 1
        if not top:
            return
        self.population.append(individual)
        self.born.append(self.told - 1)
        if len(self.population) > self.population_size:
            self.population.popleft()
            self.born.popleft()

    def members(self) -> list:
        return list(self.population)


def aging_evolution(
    toolbox,
    population_size,
    trainings,
    engine=None,
    sample_size=None,
    seconds=None,
    cache=None,
    halloffame=None,
    stats=None,
    checkpoint=None,
    seed=None,
    weights_folder=None,
    verbose=False,
    callback=None,
    rungs=None,
    warmup=None,
    cheaper=0.0,
):
    """Run aging evolution until ``trainings`` candidates were trained (or ``seconds`` passed).

    ``toolbox`` needs ``individual``, ``mutate``, ``clone`` and ``evaluate``
    (a family's toolbox has them). The first ``population_size`` individuals
    are random; after that every final result frees a worker for a child of
    :func:`breed_aging_child` (``sample_size`` defaults to
    :func:`default_sample_size`); ``warmup`` (a
    :class:`~deap_cnn.search.warmup.Warmup`) picks the first ones from
    pre-scored random genomes instead; ``cheaper`` is
    :func:`breed_aging_child`'s. The other arguments are
    :func:`~deap_cnn.search.steady.steady_state`'s.

    Returns ``(population, logbook, run)``: the final population (oldest
    first), a logbook with one row per ``population_size`` final results and
    the :class:`~deap_cnn.search.steady.SteadyRun` (``history``, ``trained``,
    ``halloffame``, ``stopped``).
    """
    proposer = AgingProposer(population_size, sample_size, warmup, cheaper)
    run = steady_state(
        proposer, toolbox, trainings, engine=engine, seconds=seconds, cache=cache, halloffame=halloffame,
        stats=stats, checkpoint=checkpoint, seed=seed, weights_folder=weights_folder, verbose=verbose,
        callback=callback, rungs=rungs, row_size=population_size,
    )  # fmt: skip
    return run.proposer.members(), run.logbook, run

"""Baselines for the genetic search: random search and TPE, proposers on the same loop as every other strategy.

Whether the genetic search is worth having depends on what simpler methods
find for the same compute. Both baselines here are
:class:`~deap_cnn.search.steady.Proposer` subclasses, so
:func:`~deap_cnn.search.steady.steady_state` gives them what it gives every
strategy: engines, the evaluation cache and its store, the budget of
candidate trainings (and seconds), checkpoints and resume, successive
halving's rungs and the one give-up rule
(:data:`~deap_cnn.search.steady.MAX_FRUITLESS_PROPOSALS` proposals in a row
that bring nothing new). They differ only in the way they propose
architectures:

- :class:`RandomProposer` draws genomes with the family's ``init``, the
  genetic strategies' own initialiser, so it samples exactly the space they
  start from;
- :class:`TPEProposer` lets Optuna's TPE sampler propose them, a batch of
  trials at a time, through the family's ``suggest`` encoding (e.g.
  :func:`~deap_cnn.families.cnn_ga.suggest.suggest_genome`).
"""

from __future__ import annotations

import random
from collections import deque
from functools import partial

from ..families.registry import as_individual
from .steady import Proposer

__all__ = ["RandomProposer", "TPEProposer", "default_startup_trials"]


class RandomProposer(Proposer):
    """Random search: genomes drawn by the family's ``init`` from a private generator seeded by the run's seed.

    A genome drawn again is proposed again: the loop answers it from the
    cache, free, and stops the search when only such repeats come. ``draw``
    is ``init`` with the individual type and space bound; ``state`` the
    generator's state (what a checkpoint keeps); ``recent`` the last
    ``population`` results (the logbook's statistics).
    """

    name = "random"
    description = "random search at the same number of trainings"

    def __init__(self, draw, population: int = 20, seed=None):
        self.draw = draw
        self.state = random.Random(seed).getstate()
        self.recent = deque(maxlen=max(1, population))

    @classmethod
    def build(cls, family, space, budget, context) -> RandomProposer:
        return cls(partial(family.init, family.individual(context.weights), space), budget.population, context.seed)

    def propose(self, toolbox, known):
        rng = random.Random()
        rng.setstate(self.state)
        genome = self.draw(rng=rng)
        self.state = rng.getstate()
        return genome, None

    def tell(self, individual, top=True):
        self.recent.append(individual)

    def members(self) -> list:
        return list(self.recent)


def default_startup_trials(trainings: int) -> int:
    """Random trials before TPE models: Optuna's 10, fewer for small budgets so that TPE gets to model at all."""
    return min(10, max(2, trainings // 3))


class TPEProposer(Proposer):
    """TPE (Optuna's ``TPESampler``) over a family's genome encoding (``suggest``).

    Trials are asked ``batch`` at a time (the sampler's constant liar keeps a
    batch from proposing one point over and over) and the study is told the
    batch's results once all of it is back: until then the proposer waits.
    A trial whose genome an earlier batch scored is told that fitness at
    once and does not count towards the batch (the loop answers it from the
    cache, free). ``startup`` random trials come first
    (:func:`default_startup_trials` of the budget).

    The study itself never goes into a checkpoint: ``events`` (every ask and
    every tell, in order) does, and a resumed run replays them through a
    fresh sampler with the same seed, which makes the same study again.
    Needs ``optuna`` (an install requirement of deap_cnn).
    """

    name = "tpe"
    description = "Optuna's TPE over the genome encoding"
    needs_suggest = True

    def __init__(self, suggest, individual, batch: int = 20, seed=None, startup: int = 10, weight: float = 1.0):
        self.suggest = suggest
        self.individual = partial(as_individual, individual)  # a function: checkpoints hold no types
        self.batch = max(1, batch)
        self.seed = seed
        self.startup = startup
        self.maximize = weight > 0
        self.events = []  # ["ask"] or ["tell", trial number, value], in order: the study, replayed on resume
        self.seen = {}  # genome text -> fitness value of the batches told so far
        self.asked = []  # [trial number, genome text, repeat] of the current batch, in order
        self.results = {}  # trial number -> value heard for the current batch

    @classmethod
    def build(cls, family, space, budget, context) -> TPEProposer:
        return cls(
            partial(family.suggest, space=space), family.individual(context.weights), budget.population, context.seed,
            default_startup_trials(budget.training_count), context.weights[0],
        )  # fmt: skip

    def __getstate__(self):
        state = dict(vars(self))
        state.pop("_study", None)
        state.pop("_trials", None)
        return state

    def _live(self):
        """The study (rebuilt from ``events`` after a resume) and its trials by number."""
        if getattr(self, "_study", None) is None:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.startup, constant_liar=True)
            self._study = optuna.create_study(direction="maximize" if self.maximize else "minimize", sampler=sampler)
            self._trials = {}
            for event in self.events:
                if event[0] == "ask":
                    trial = self._study.ask()
                    self.suggest(trial)
                    self._trials[trial.number] = trial
                else:
                    self._study.tell(self._trials[event[1]], event[2])
        return self._study, self._trials

    def _tell(self, number, value):
        study, trials = self._live()
        study.tell(trials[number], value)
        self.events.append(["tell", number, value])

    def propose(self, toolbox, known):
        study, trials = self._live()
        if sum(1 for _, _, repeat in self.asked if not repeat) >= self.batch:
            return None  # the batch is out: wait until all of it is told
        trial = study.ask()
        genome = self.suggest(trial)
        trials[trial.number] = trial
        self.events.append(["ask"])
        key = str(genome)
        self.asked.append([trial.number, key, key in self.seen])
        return as_individual(self.individual, genome), None

    def tell(self, individual, top=True):
        key = str(individual)
        value = individual.fitness.values[0]
        entry = next(e for e in self.asked if e[1] == key and e[0] not in self.results)
        if entry[2]:  # scored by an earlier batch: told at once, as Optuna's own loop would
            self.asked.remove(entry)
            self._tell(entry[0], self.seen[key])
            return
        self.results[entry[0]] = value
        if len(self.results) == len(self.asked) >= self.batch:
            for number, text, _ in self.asked:
                self.seen.setdefault(text, self.results[number])
            for number, text, _ in self.asked:
                self._tell(number, self.seen[text])
            self.asked, self.results = [], {}

"""Local search with restarts: climb from the best of a random start through one-edit neighbours.

White, Nolen, Ramasubramanian and Yu (2020, "Local search is state of the art
for neural architecture search benchmarks") found this plain loop hard to
beat on NAS-Bench-101 and -201. A (re)start evaluates ``initial`` random
architectures and climbs from the best of them: its one-edit neighbours
(the family's ``neighbours``, in random order; a family without them gets
``sample`` fresh mutants instead) are proposed one after another, and as
soon as one scores better the climb moves there (first improvement). When
every neighbour has scored and none was better, the climb is at a local
optimum and a new random start begins. Neighbours evaluated before (by an
earlier climb) are compared from memory, not proposed again.

:class:`LocalSearchProposer` is the strategy; :func:`~deap_cnn.search.steady.steady_state`
runs it with every engine, checkpoint and resume, and successive halving's
rungs (only top-rung results move the climb).
"""

from __future__ import annotations

import random
from functools import partial

from .aging import fresh
from .steady import Proposer, mutant, primary_score

__all__ = ["LocalSearchProposer"]


class LocalSearchProposer(Proposer):
    """First-improvement local search with random restarts.

    Parameters
    ----------
    initial:
        Random architectures evaluated at each (re)start; the climb starts
        from the best of them.
    neighbours:
        ``neighbours(genome) -> list`` of every genome one edit away (a
        family's ``neighbours`` bound to its space), or ``None``: the
        neighbourhood is then ``sample`` fresh mutants of the current genome.
    sample:
        Size of a sampled neighbourhood (default ``2 * initial``).
    """

    name = "local"
    description = "local search: first-improvement climbs through one-edit neighbours, random restarts"

    def __init__(self, initial: int, neighbours=None, sample: int | None = None):
        if isinstance(initial, bool) or not isinstance(initial, int) or initial < 1:
            raise ValueError(f"initial (random architectures per start) must be an integer >= 1, got {initial!r}")
        self.initial = initial
        self.neighbours = neighbours
        self.sample = 2 * initial if sample is None else sample
        self.current = None  # the individual the climb is at (None: a start is being sampled)
        self.queue = []  # neighbours of current not yet proposed (genomes); sampled ones are made on demand
        self.sampled = 0  # sampled neighbours proposed from current
        self.pending = set()  # texts proposed from the current start or neighbourhood, not yet told
        self.start = []  # told results of the current start
        self.start_left = initial
        self.results = {}  # text -> fitness of every top-rung result told
        self.restarts = 0
        self.moves = 0

    @classmethod
    def build(cls, family, space, budget, context) -> LocalSearchProposer:
        """``budget.population`` random genomes per start; the family's ``neighbours``, else sampled mutants."""
        return cls(budget.population, partial(family.neighbours, space=space) if family.neighbours else None)

    _score = staticmethod(primary_score)

    def _climb_from(self, individual):
        self.current = individual
        self.pending = set()
        self.sampled = 0
        if self.neighbours is not None:
            self.queue = list(self.neighbours(individual))
            random.shuffle(self.queue)

    def _restart(self):
        self.current, self.queue, self.start, self.start_left = None, [], [], self.initial
        self.restarts += 1

    def _next_neighbour(self, toolbox, known):
        """An unproposed neighbour of ``current`` as an individual, or ``None`` when none is left."""
        if self.neighbours is None:
            if self.sampled >= self.sample:
                return None
            self.sampled += 1
            child = fresh(partial(mutant, toolbox, self.current), known)
            return None if known(child) else child
        while self.queue:
            genome = self.queue.pop()
            child = toolbox.clone(self.current)
            child[:] = genome
            del child.fitness.values
            remembered = self.results.get(str(child))
            if remembered is not None:  # scored before (an earlier climb): compare from memory
                child.fitness.values = remembered
                if self._score(child) > self._score(self.current):
                    self.moves += 1
                    self._climb_from(child)
                continue
            if not known(child):
                return child
        return None

    def propose(self, toolbox, known):
        if self.current is None:
            if self.start_left == 0:
                return None  # wait for the start's results
            self.start_left -= 1
            child = fresh(toolbox.individual, known)
            self.pending.add(str(child))
            return child, None
        child = self._next_neighbour(toolbox, known)
        if child is None:
            if self.pending:
                return None  # the neighbourhood's last results are still out
            self._restart()  # a local optimum: every neighbour scored, none better
            return self.propose(toolbox, known)
        self.pending.add(str(child))
        return child, self.current

    def tell(self, individual, top=True):
        text = str(individual)
        self.pending.discard(text)
        if top:
            self.results[text] = individual.fitness.values
        if self.current is None:
            if top:
                self.start.append(individual)
            if self.start_left == 0 and not self.pending:
                if self.start:
                    self._climb_from(max(self.start, key=self._score))
                else:
                    self._restart()  # nothing of the start reached the top rung: sample again
            return
        if top and self._score(individual) > self._score(self.current):
            self.moves += 1
            self._climb_from(individual)  # first improvement: climb on from here at once

    def members(self) -> list:
        return [self.current] if self.current is not None else list(self.start)

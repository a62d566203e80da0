"""Surrogate-assisted evolution: a model of the evaluated genomes chooses which mutant to train.

In the spirit of BANANAS (White et al. 2021) and NPENAS (Wei et al. 2022):
aging evolution as in :mod:`deap_cnn.search.aging`, except that a winner
of the tournament gets ``candidates`` distinct mutants instead of one, a
regression model fitted to every genome trained so far (encoded by the
family's ``encode``) predicts their fitness, and only the mutant it ranks
best is trained. Training is the expensive step; the model and the
mutations cost milliseconds.

The model is scikit-learn's: by default a bootstrap ensemble of ridge
regressions on the encoding and its pairwise products (:func:`default_model`),
refitted whenever the results grew by a tenth since the last fit; the mutant
trained is the best in the eyes of one member drawn at random (Thompson
sampling), so the search follows the model where its members agree and
explores where they do not. The model is not saved in checkpoints: a resumed run fits it again
from the results.
"""

from __future__ import annotations

import math
import random
from functools import partial

from .aging import MAX_TRIES, AgingProposer, breed_aging_child
from .steady import Proposer, mutant, primary_score

__all__ = ["SurrogateProposer", "ExtendedEncoding", "default_model", "DEFAULT_CANDIDATES"]

#: Mutants the model chooses among for each child.
DEFAULT_CANDIDATES = 4


def default_model(seed: int):
    """A bootstrap ensemble of ridge regressions on the encoding and its pairwise products (scikit-learn).

    Linear in pairs of features, so two genes that only matter together
    (an operation on one edge with another on the next) can be learnt; the
    members, each fitted to a bootstrap sample of the results, disagree
    where the data are thin: what Thompson sampling draws from.
    """
    from sklearn.ensemble import BaggingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    return make_pipeline(
        PolynomialFeatures(2, interaction_only=True, include_bias=False),
        BaggingRegressor(Ridge(alpha=1.0), n_estimators=10, random_state=seed),
    )


class ExtendedEncoding:
    """``encode(genome)`` followed by one number per ``extra`` scorer: a family's encoding plus, say, proxy scores.

    Each ``extra`` is ``scorer(genome) -> float`` (a zero-cost proxy of the
    untrained network, ``deap-cnn search --surrogate-proxies``); a value that
    is not a finite number becomes 0. Scores are kept per genome text, so a
    mutant scored for one child costs nothing when it comes up again. It is
    pickled with the proposer into checkpoints: the scorers must pickle
    (an evaluator's ``record``-backed scorer does).
    """

    def __init__(self, encode, extra):
        self.encode = encode
        self.extra = tuple(extra)
        self.known = {}

    def __repr__(self):
        return f"ExtendedEncoding({self.encode!r}, {self.extra!r})"

    def __call__(self, genome) -> list:
        text = str(genome)
        if text not in self.known:
            values = []
            for scorer in self.extra:
                try:
                    value = float(scorer(genome))
                except (TypeError, ValueError):
                    value = 0.0
                values.append(value if math.isfinite(value) else 0.0)
            self.known[text] = values
        return list(self.encode(genome)) + self.known[text]


class SurrogateProposer(Proposer):
    """Aging evolution whose children are the model's choice among ``candidates`` mutants.

    Parameters
    ----------
    population_size, sample_size:
        Aging evolution's (:class:`~deap_cnn.search.aging.AgingProposer`).
    encode:
        ``encode(genome) -> list of floats`` (a family's ``encode`` bound to its space).
    candidates:
        Mutants per child (at least 1; 1 is plain aging evolution).
    make_model:
        ``make_model(seed) -> regressor`` with scikit-learn's ``fit`` and
        ``predict`` (default :func:`default_model`); a module-level function,
        since the proposer is pickled into checkpoints.
    warmup:
        A :class:`~deap_cnn.search.warmup.Warmup` choosing the initial
        individuals (as :class:`~deap_cnn.search.aging.AgingProposer`'s).
    """

    name = "surrogate"
    description = "surrogate-assisted aging evolution: a model picks which of several mutants to train"
    needs_encode = True
    takes_warmup = True

    def __init__(self, population_size, sample_size=None, encode=None, candidates=DEFAULT_CANDIDATES,
                 make_model=default_model, warmup=None):  # fmt: skip
        if encode is None:
            raise ValueError("surrogate-assisted evolution needs encode(genome) -> numbers (a family's encode)")
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ValueError(f"candidates must be an integer >= 1, got {candidates!r}")
        self.aging = AgingProposer(population_size, sample_size, warmup)
        self.encode = encode
        self.candidates = candidates
        self.make_model = make_model
        self.features, self.targets = [], []  # every top-rung result told: its encoding and weighted fitness
        self.model, self.fitted_on = None, 0
        self.chosen = 0  # children the model chose

    @classmethod
    def build(cls, family, space, budget, context) -> SurrogateProposer:
        """Over the family's ``encode``, extended by ``context.features`` (scorers, e.g. zero-cost proxies)."""
        encode = partial(family.encode, space=space)
        if context.features:  # more numbers per genome for the model: proxy scores, say
            encode = ExtendedEncoding(encode, context.features)
        return cls(
            budget.population, context.sample_size, encode=encode,
            candidates=context.candidates or DEFAULT_CANDIDATES, warmup=context.warmup,
        )  # fmt: skip

    def __getstate__(self):
        # A resume refits on the same rows with the same seed: checkpoints hold no scikit-learn objects.
        return {**self.__dict__, "model": None}

    def _fitted_model(self, rows: int):
        """The model fitted to the first ``rows`` results (seeded by ``rows``, so a resume fits it again alike)."""
        model = self.make_model(rows)
        model.fit(self.features[:rows], self.targets[:rows])
        return model

    def _fit(self):
        """Refit when the results grew by a tenth since the last fit; after a resume, refit the last fit first."""
        if self.model is None and self.fitted_on:
            self.model = self._fitted_model(self.fitted_on)
        if self.model is not None and len(self.targets) - self.fitted_on < max(1, math.ceil(len(self.targets) / 10)):
            return
        self.model = self._fitted_model(len(self.targets))
        self.fitted_on = len(self.targets)

    def _acquisition(self, features):
        """Thompson sampling where the model is an ensemble (one member, drawn at random, ranks the mutants: a bold
        guess as often as the members disagree), else the model's prediction."""
        model = self.model
        if hasattr(model, "steps"):  # a scikit-learn pipeline: its last step regresses on the others' output
            features, model = model[:-1].transform(features), model[-1]
        members = getattr(model, "estimators_", None)
        if not members:
            return list(model.predict(features))
        member = random.randrange(len(members))
        columns = model.estimators_features_[member]
        return list(members[member].predict(features[:, columns]))

    def propose(self, toolbox, known):
        aging = self.aging
        if aging.bred < aging.population_size or not aging.population or len(self.targets) < 2:
            return aging.propose(toolbox, known)
        aging.bred += 1
        child, parent = breed_aging_child(aging.population, toolbox, aging.sample_size, known=known)
        mutants = [child]
        tries = 0
        while len(mutants) < self.candidates and tries < MAX_TRIES:
            tries += 1
            other = mutant(toolbox, parent)
            if not known(other) and all(str(other) != str(m) for m in mutants):
                mutants.append(other)
        if len(mutants) > 1:
            self._fit()
            scores = self._acquisition([self.encode(m) for m in mutants])
            child = mutants[max(range(len(mutants)), key=lambda i: scores[i])]
            self.chosen += 1
        return child, parent

    def tell(self, individual, top=True):
        self.aging.tell(individual, top)
        if top and individual.fitness.valid:
            self.features.append(list(self.encode(individual)))
            self.targets.append(primary_score(individual))

    def members(self) -> list:
        return self.aging.members()

"""How a search splits a budget between short evaluations and the long ones that choose its pick.

A short training is a biased fitness, not only a noisy one: it favours
networks that learn fast over networks that end best, and a search that
selects on it converges on the short training's favourites. So the default
search keeps a share of its budget (:data:`RERANK_SHARE`) for evaluating its
best distinct candidates again at a longer fidelity (reranking, from
scratch), and the pick is the best of those. :func:`plan_budget` sizes the
whole search from the budget: how many candidates are reranked (none when
fewer than two fit: reranking one candidate chooses nothing), how many
short evaluations are left for the search, and a population that those
evaluations can turn over several times (a search of 20 trainings is not a
population of 20).

Every evaluation is charged its epochs: the search's short ones and the
reranking's long ones share one budget. The share and the population rule
were chosen on NATS-Bench's two-fidelity CIFAR-10 table and on Fashion-MNIST
trainings (docs/nas-bench.md, docs/benchmarks.md). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RERANK_SHARE", "MIN_POPULATION", "TURNOVER", "BudgetPlan", "plan_budget"]

#: The share of a budget spent on reranking at the long fidelity.
RERANK_SHARE = 1 / 3

#: The smallest population a planned search gets (aging's tournament needs a few members to choose from).
MIN_POPULATION = 4

#: Short evaluations per member of the population: a population is turned over about this many times
#: (a quarter of the evaluations: on the two-fidelity table it beat a fifth capped at 20 and a third at 1,800
#: and 3,600 epochs, docs/nas-bench.md).
TURNOVER = 4


@dataclass(frozen=True)
class BudgetPlan:
    """Where a budget of ``budget`` epochs goes.

    ``trainings`` short evaluations of ``epochs`` each by a search of
    ``population``, then ``rerank`` of its best distinct candidates
    evaluated again for ``rerank_epochs`` each (0: the pick is the search's
    best short score).
    """

    budget: float
    epochs: int
    trainings: int
    population: int
    rerank: int
    rerank_epochs: int

    @property
    def spent(self) -> float:
        """The epochs the plan spends: at most ``budget``."""
        return self.trainings * self.epochs + self.rerank * self.rerank_epochs


def plan_budget(budget: float, epochs: int, rerank_epochs: int, population: int | None = None,
                share: float = RERANK_SHARE, rerank: int | None = None,
                turnover: float = TURNOVER) -> BudgetPlan:  # fmt: skip
    """The :class:`BudgetPlan` of ``budget`` epochs: search at ``epochs``, rerank at ``rerank_epochs``.

    Reranking gets ``floor(share * budget / rerank_epochs)`` candidates, or
    none if that is fewer than two or the long fidelity is no longer than the
    short one; the search the rest, in evaluations of ``epochs``; its
    population is a :data:`TURNOVER`-th of its evaluations (at least
    :data:`MIN_POPULATION`; at most ``population`` where one is given).
    ``rerank`` fixes the candidates reranked instead (0: none); ``share``
    and ``turnover`` replace :data:`RERANK_SHARE` and :data:`TURNOVER`.

    >>> plan = plan_budget(1800, 12, 200)
    >>> plan.trainings, plan.population, plan.rerank
    (100, 25, 3)
    >>> plan_budget(20, 1, 2).population, plan_budget(20, 1, 2).rerank
    (4, 3)
    """
    checked = [("epochs", epochs), ("rerank_epochs", rerank_epochs)]
    if population is not None:
        checked.append(("population", population))
    for name, value in checked:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= epochs:
        raise ValueError(f"the budget ({budget!r} epochs) must pay for one evaluation of {epochs} epochs at least")
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share!r}")
    if rerank is None:
        rerank = int(share * budget // rerank_epochs) if rerank_epochs > epochs else 0
        rerank = rerank if rerank >= 2 else 0
    elif isinstance(rerank, bool) or not isinstance(rerank, int) or rerank < 0:
        raise ValueError(f"rerank must be an integer >= 0, got {rerank!r}")
    trainings = int((budget - rerank * rerank_epochs) // epochs)
    if trainings < 1:
        raise ValueError(
            f"a budget of {budget:g} epochs pays for no search after reranking {rerank} x {rerank_epochs} epochs: "
            "raise the budget or rerank fewer"
        )
    if not turnover >= 1:
        raise ValueError(f"turnover must be at least 1, got {turnover!r}")
    planned = max(MIN_POPULATION, int(trainings // turnover))
    planned = planned if population is None else min(population, planned)
    return BudgetPlan(budget, epochs, trainings, planned, rerank, rerank_epochs)

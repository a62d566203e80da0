"""Reranking the pick: the best distinct genomes trained again, from scratch, longer, with another seed."""

import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deap_cnn.search.objectives import Objectives
from deap_cnn.search.rerank import rerank, rerank_cost, rerank_evaluator, top_distinct
from deap_cnn.training.settings import TrainSettings


def test_top_distinct_counts_a_genome_once_with_its_best_score():
    scored = [("S8", 0.5), ("S16", 0.7), ("S8", 0.9), ("S32", 0.6), ("S16", 0.1)]
    assert top_distinct(scored, 2) == ["S8", "S16"]
    assert top_distinct(scored, 10) == ["S8", "S16", "S32"]


def test_top_distinct_skips_failures_keeps_the_first_of_ties_and_takes_a_sign():
    scored = [("A", 0.5), ("B", float("nan")), ("C", 0.5), ("D", None), ("E", 0.2)]
    assert top_distinct(scored, 2) == ["A", "C"]
    assert top_distinct(scored, 1, sign=-1) == ["E"]
    with pytest.raises(ValueError, match="k >= 1"):
        top_distinct(scored, 0)


@given(st.lists(st.tuples(st.sampled_from("ABCDEFG"), st.floats(0, 1)), max_size=30), st.integers(1, 8))
def test_top_distinct_is_the_k_best_by_best_score(scored, k):
    top = top_distinct(scored, k)
    best = {}
    for genome, score in scored:
        best[genome] = max(best.get(genome, -math.inf), score)
    assert len(top) == len(set(top)) == min(k, len(best))
    values = [best[g] for g in top]
    assert values == sorted(values, reverse=True)
    assert all(best[g] <= min(values) for g in set(best) - set(top))


def record(fitness, status="ok"):
    return SimpleNamespace(fitness=(fitness,), status=status)


def test_rerank_orders_by_the_new_fitness_and_puts_failures_last():
    again = {"S8": record(0.6), "S16": record(0.0, "failed"), "S32": record(0.8), "S64": record(0.6)}
    ranked = rerank(["S8", "S16", "S32", "S64"], again.__getitem__)
    assert [genome for genome, _ in ranked] == ["S32", "S8", "S64", "S16"]
    assert rerank(["S8", "S32"], again.__getitem__, sign=-1)[0][0] == "S8"


def test_rerank_uses_the_map_function_given():
    calls = []

    def mapper(function, items):
        calls.append(list(items))
        return [function(item) for item in calls[-1]]

    rerank(["a", "b"], lambda genome: record(0.5), map_function=mapper)
    assert calls == [["a", "b"]]


def test_rerank_cost_counts_multiply_adds_times_images_times_epochs():
    assert rerank_cost([2e6, 4e6], images=100, epochs=3) == pytest.approx((1e6 + 2e6) * 100 * 3)


def test_rerank_evaluator_trains_longer_from_scratch_with_the_next_seed():
    evaluator = SimpleNamespace(settings=TrainSettings(epochs=1, seed=4), weights_dir="runs/x/weights")
    again = rerank_evaluator(evaluator, epochs=3)
    assert (again.settings.epochs, again.settings.seed, again.weights_dir) == (3, 5, None)
    assert (evaluator.settings.epochs, evaluator.settings.seed, evaluator.weights_dir) == (1, 4, "runs/x/weights")
    with pytest.raises(ValueError, match="at least 1"):
        rerank_evaluator(evaluator, epochs=0)


def test_rerank_evaluator_keeps_the_objectives_of_a_wrapped_evaluator():
    inner = SimpleNamespace(settings=TrainSettings(epochs=1, seed=4), weights_dir="w", record=lambda genome: None)
    again = rerank_evaluator(Objectives("loss").wrap(inner), epochs=3)
    assert again.objectives == Objectives("loss") and again.weights == (-1.0,)
    assert (again.evaluator.settings.epochs, again.evaluator.settings.seed, again.evaluator.weights_dir) == (3, 5, None)
    assert inner.settings.epochs == 1 and inner.weights_dir == "w"

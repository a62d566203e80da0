"""Objectives: the registry, the fitness of a record, the wrapped evaluator, fingerprints, errors, old spellings."""

import pickle
import warnings

import pytest
from deap import base
from hypothesis import given
from hypothesis import strategies as st

from deap_cnn.families import get_family
from deap_cnn.families.devol.fitness import devol_objective
from deap_cnn.runs.config import ConfigError, SearchConfig
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.objectives import (
    FAILED_LOSS,
    OBJECTIVES,
    SIZE_OBJECTIVES,
    WORST_SIZE,
    WORST_VALUE,
    MultiObjective,
    Objective,
    ObjectiveError,
    ObjectiveEvaluator,
    Objectives,
    check_objectives,
    get_objective,
    objective_names,
    objective_weights,
    register_objective,
)
from deap_cnn.training.settings import EvaluationRecord, TrainSettings


def record(status="ok", val_accuracy=(0.4, 0.7, 0.6), val_loss=(1.5, 0.9, 1.1), parameters=1000, flops=70000):
    return EvaluationRecord(
        genome="g", fitness=(0.0,), val_accuracy=list(val_accuracy), val_loss=list(val_loss),
        parameters=parameters, flops=flops, status=status, latency_ms=flops / 1e5,
    )  # fmt: skip


class FakeEvaluator:
    """The same record for every genome; picklable (module level)."""

    def __init__(self, status="ok", settings=TrainSettings(epochs=1)):
        self.status, self.settings = status, settings

    def record(self, genome):
        return record(self.status)

    def fingerprint(self):
        return self.settings.fingerprint()


class Lookup:
    """A table lookup: accuracy only, no loss, no settings (the contract of a NAS-Bench lookup)."""

    def record(self, genome):
        return EvaluationRecord(genome=str(genome), fitness=(0.8,), val_accuracy=[0.8], parameters=10)

    def fingerprint(self):
        return "lookup"


def accuracy_per_parameter(record):
    return record.val_accuracy[-1] / record.parameters


def half_accuracy(accuracy, loss):
    return accuracy / 2


RATIO = Objective("ratio", "maximise", accuracy_per_parameter)


# --- the built-in objectives ------------------------------------------------------------------------


def test_the_built_in_objectives_score_a_record():
    assert Objectives(OBJECTIVES).values(record()) == (0.7, 0.6, 0.9, 1000.0, 70000.0, 0.7)
    assert Objectives(OBJECTIVES).directions == ("maximise", "maximise", "minimise", "minimise", "minimise", "minimise")
    assert objective_weights(OBJECTIVES) == (1.0, 1.0, -1.0, -1.0, -1.0, -1.0)
    assert objective_names()[: len(OBJECTIVES)] == list(OBJECTIVES)


def test_a_failed_record_gets_each_objectives_worst_value():
    assert Objectives(OBJECTIVES).values(record("oom")) == (0.0, 0.0, FAILED_LOSS, WORST_SIZE, WORST_SIZE, WORST_SIZE)
    assert Objective("mine", "maximise", accuracy_per_parameter).worst == -WORST_VALUE
    assert Objective("mine", "minimise", accuracy_per_parameter).worst == WORST_VALUE


finite = st.floats(0.0, 1.0, allow_nan=False)


@given(
    names=st.lists(st.sampled_from(OBJECTIVES), min_size=1, max_size=6, unique=True).filter(
        lambda names: names[0] not in SIZE_OBJECTIVES
    ),
    accuracy=st.lists(finite, min_size=1, max_size=5),
    loss=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=5),
    parameters=st.integers(0, 10**12),
)
def test_a_failure_is_never_better_than_a_trained_candidate(names, accuracy, loss, parameters):
    objectives = Objectives(names)
    trained = objectives.values(record("ok", accuracy, loss, parameters, parameters * 100))
    failed = objectives.values(record("failed", accuracy, loss, parameters, parameters * 100))
    assert len(trained) == len(objectives) == len(names)
    # As DEAP compares them: every trained candidate is at least as good as a failure, in every objective.
    assert all(w * t >= w * f for w, t, f in zip(objectives.weights, trained, failed, strict=True))
    fitness = type("F", (base.Fitness,), {"weights": objectives.weights})
    assert not fitness(failed).dominates(fitness(trained))


def test_a_table_lookup_scores_accuracy_but_has_no_loss():
    assert Objectives("accuracy", "parameters").values(Lookup().record("x")) == (0.8, 10.0)
    with pytest.raises(ObjectiveError, match="objective 'loss' needs the record's val_loss.*choose another objective"):
        Objectives("loss").values(Lookup().record("x"))


# --- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names, message",
    [
        (("depth",), "unknown objective 'depth': choose from accuracy, last_accuracy, loss, parameters, flops"),
        (("parameters", "accuracy"), "the first, parameters, is a size.*e.g. accuracy parameters"),
        (("flops",), "the first, flops, is a size.*e.g. accuracy flops"),
        (("accuracy", "parameters", "parameters"), "parameters named twice; name each objective once"),
        ((), "name at least one objective"),
    ],
)
def test_bad_objectives_are_refused_with_the_fix(names, message):
    with pytest.raises(ObjectiveError, match=message):
        Objectives(names)
    with pytest.raises(ValueError, match=message):
        check_objectives(names)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("", "maximise", accuracy_per_parameter), "name must be a non-empty string"),
        (("x", "maximize", accuracy_per_parameter), "direction must be 'maximise' or 'minimise', got 'maximize'"),
        (("x", "maximise", "accuracy"), "function must be callable"),
        (("x", "maximise", accuracy_per_parameter, float("nan")), "worst must be a finite number"),
    ],
)
def test_a_bad_objective_is_refused(arguments, message):
    with pytest.raises(ObjectiveError, match=message):
        Objective(*arguments)


def test_a_non_finite_value_names_the_objective():
    zero = record(parameters=0)
    with pytest.raises(ZeroDivisionError):
        Objectives(RATIO).values(zero)
    nan = Objective("nan", "maximise", lambda record: float("nan"))
    with pytest.raises(ObjectiveError, match="objective 'nan' gave nan for g: an objective's value must be a finite"):
        nan.value(record())


def test_the_registry_takes_users_objectives_once():
    mine = Objective("accuracy_per_parameter", "maximise", accuracy_per_parameter)
    try:
        assert register_objective(mine) is get_objective("accuracy_per_parameter")
        assert register_objective(mine) is mine  # the same again is fine
        with pytest.raises(ObjectiveError, match="registered already; pass replace=True"):
            register_objective(Objective("accuracy_per_parameter", "minimise", accuracy_per_parameter))
        assert Objectives("accuracy_per_parameter", "flops").weights == (1.0, -1.0)
    finally:
        from deap_cnn.search import objectives

        objectives._OBJECTIVES.pop("accuracy_per_parameter", None)
    with pytest.raises(ObjectiveError, match="register an Objective"):
        register_objective("accuracy")


# --- the wrapped evaluator ---------------------------------------------------------------------------


def test_the_wrapped_evaluator_puts_the_fitness_in_the_record():
    scorer = Objectives("loss", "parameters").wrap(FakeEvaluator())
    assert isinstance(scorer, ObjectiveEvaluator) and scorer.weights == (-1.0, -1.0)
    assert scorer.record("x").fitness == (0.9, 1000.0) == scorer("x")
    assert Objectives("accuracy").wrap(FakeEvaluator("nan"))("x") == (0.0,)
    twin = pickle.loads(pickle.dumps(scorer))
    assert twin("x") == scorer("x") and twin.fingerprint() == scorer.fingerprint()
    with pytest.raises(TypeError, match="record"):
        Objectives("accuracy").wrap(lambda genome: (0.5,))


def test_fingerprints_tell_fitness_definitions_apart():
    evaluator = FakeEvaluator()
    prints = {
        Objectives(spec).wrap(evaluator).fingerprint()
        for spec in (
            "accuracy", "last_accuracy", "loss", ("accuracy", "parameters"), ("accuracy", "flops"), RATIO,
            Objective("ratio", "minimise", accuracy_per_parameter), devol_objective(half_accuracy),
        )
    }  # fmt: skip
    assert len(prints) == 8
    # The evaluator's own fitness adds nothing: stores written before objectives existed keep their cache.
    assert Objectives("accuracy").wrap(evaluator).fingerprint() == evaluator.fingerprint()
    with pytest.warns(DeprecationWarning):
        last = FakeEvaluator(settings=TrainSettings(epochs=1, fitness="last_val_acc"))
    assert Objectives("last_accuracy").wrap(last).fingerprint() == last.fingerprint()
    assert Objectives("accuracy").wrap(last).fingerprint() != last.fingerprint()


def test_a_store_keeps_the_fitness_a_plain_tuple(tmp_path):
    scorer = Objectives("accuracy", "parameters").wrap(FakeEvaluator())
    with ResultsStore(tmp_path / "r.sqlite", fingerprint=scorer.fingerprint()) as store:
        store.add(scorer.record("x"))
        assert store.lookup("g")["fitness"] == (0.7, 1000.0)


# --- where a run declares them --------------------------------------------------------------------


def test_a_run_takes_the_familys_objectives_unless_it_names_its_own():
    assert get_family("cnn-ga").objectives == ("accuracy",) == get_family("devol+hyper").objectives
    assert get_family("transfer").objectives == ("loss",)
    config = SearchConfig().check()
    assert config.objectives is None and config.strategy == "aging"
    assert SearchConfig(objectives=("loss",)).check().strategy == "aging"
    assert SearchConfig(objectives=("loss", "flops")).check().strategy == "nsga2"


def test_compose_declares_the_objectives_once_for_the_whole_run(tmp_path):
    from deap_cnn.runs.runner import compose

    parts = compose(SearchConfig(out=str(tmp_path)).check())
    assert parts.objectives == Objectives("accuracy") and parts.weights == (1.0,)
    assert parts.fingerprint == parts.evaluator.fingerprint()  # as before objectives: old stores resume
    parts = compose(SearchConfig(objectives=("loss", "flops"), out=str(tmp_path)).check())
    assert parts.objectives.names == ("loss", "flops") and parts.weights == (-1.0, -1.0)
    assert parts.evaluate.__self__.objectives is parts.objectives
    assert parts.fingerprint == parts.objectives.wrap(parts.evaluator).fingerprint() != parts.evaluator.fingerprint()


def test_the_config_refuses_bad_objectives_in_one_line():
    with pytest.raises(ConfigError, match="^--objectives: unknown objective 'depth'"):
        SearchConfig(objectives=("depth",)).check()
    with pytest.raises(ConfigError, match="^--objectives: objectives flops loss: the first, flops, is a size.*"):
        SearchConfig(objectives=("flops", "loss")).check()


# --- old spellings -----------------------------------------------------------------------------------


def test_multi_objective_still_works_and_says_what_replaces_it():
    with pytest.warns(DeprecationWarning, match=r"use Objectives\('accuracy', 'flops'\)\.wrap\(evaluator\)"):
        old = MultiObjective(FakeEvaluator(), ("accuracy", "flops"))
    assert old("x").fitness == (0.0, 70000.0)  # accuracy was the evaluator's own fitness; calling gave the record
    assert old.weights == (1.0, -1.0)
    assert pickle.loads(pickle.dumps(old)).fingerprint() == old.fingerprint()


def test_train_settings_fitness_still_works_and_says_what_replaces_it():
    for fitness, objective in (("last_val_acc", "last_accuracy"), ("neg_val_loss", "loss")):
        with pytest.warns(DeprecationWarning, match=rf"Objectives\('{objective}'\).*--objectives {objective}"):
            assert TrainSettings(fitness=fitness).fitness == fitness
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TrainSettings(fitness="best_val_acc")  # the default, said out loud: nothing to warn about

"""Weight inheritance: which tensors a child takes over, lineage in the cache and the store, the bounded weights folder."""

from __future__ import annotations

import random
import sqlite3

import pytest
import torch

from deap_cnn.families import get_family
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.evaluation import evaluate_population
from deap_cnn.search.ga import vary_cnn_ga
from deap_cnn.search.inheritance import WeightsFolder, set_parent
from deap_cnn.training.evaluator import Evaluator, build_model, resolve_builder
from deap_cnn.training.inheritance import inherit, load_weights, save_weights
from deap_cnn.training.lineage import (
    evaluation_key,
    split_key,
    weights_key,
    weights_path,
)
from deap_cnn.training.settings import TrainSettings

SHAPE = (1, 28, 28)
TINY = TrainSettings(epochs=1, batch_size=32, max_batches_per_epoch=2, cpu_amp=False)


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch):
    monkeypatch.setenv("DEAP_CNN_DEVICE", "cpu")


def cnn_space():
    return get_family("cnn-ga").space(SHAPE, 10, {"widths": (4, 8)})


def network(space, text, seed):
    return build_model(space.parse(text), SHAPE, 10, seed=seed, builder=resolve_builder(space))


def individual(family_name, space, text, parent=None):
    family = get_family(family_name)
    ind = family.individual((1.0,))(space.parse(text))
    ind.parent = parent
    return ind


@pytest.mark.parametrize(
    "parent_text, child_text, kept_layers",
    [
        ("S4-Pmax-S8", "S4-Pmax-S4", {"0.body.0", "0.body.1", "0.body.3", "0.body.4", "0.shortcut"}),  # unit 3 narrower
        ("S4-Pmax-S8", "S4-Pmax-S8-S8", None),  # a unit appended: every layer of the parent is kept but the head
    ],
)
def test_inherited_layers_carry_the_parents_tensors_and_changed_layers_do_not(parent_text, child_text, kept_layers):
    space = cnn_space()
    # "Trained" parent: every float tensor moved off its initial value, so no inherited tensor equals a fresh one.
    parent = {name: tensor + torch.rand_like(tensor) + 0.5 if tensor.is_floating_point() else tensor + 7
              for name, tensor in network(space, parent_text, seed=1).state_dict().items()}  # fmt: skip
    child_model = network(space, child_text, seed=2)
    fresh = {name: tensor.clone() for name, tensor in child_model.state_dict().items()}
    copied = inherit(child_model, parent)
    after = child_model.state_dict()
    inherited = {name for name in after if name in parent and parent[name].shape == after[name].shape
                 and torch.equal(after[name], parent[name]) and not torch.equal(fresh[name], parent[name])}  # fmt: skip
    untouched = {name for name in after if torch.equal(after[name], fresh[name])}
    assert copied > 0 and untouched | inherited == set(after)
    assert copied == len(inherited) and not inherited & untouched
    layers = {name.rpartition(".")[0] for name in inherited}
    if kept_layers is not None:
        assert layers == kept_layers
    else:  # every parent layer but the classifier at the end
        assert layers == {name.rpartition(".")[0] for name in parent} - {max(parent).rpartition(".")[0]}
    for name in untouched:  # a changed or new layer: fresh weights, not the parent's
        assert name not in parent or parent[name].shape != after[name].shape or layer_changed(name, parent, after)


def layer_changed(name, parent, after):
    """Whether some tensor of ``name``'s layer has another shape in the parent (so the layer is not kept whole)."""
    layer = name.rpartition(".")[0]
    return any(
        n.rpartition(".")[0] == layer and (n not in parent or parent[n].shape != t.shape) for n, t in after.items()
    )


def test_a_child_that_keeps_nothing_inherits_nothing():
    space = cnn_space()
    child_model = network(space, "S4", seed=2)
    before = {name: tensor.clone() for name, tensor in child_model.state_dict().items()}
    assert inherit(child_model, network(space, "S8", seed=1).state_dict()) == 0
    assert all(torch.equal(before[name], tensor) for name, tensor in child_model.state_dict().items())


def test_a_layer_is_taken_whole_or_not_at_all():
    space = cnn_space()
    parent = network(space, "S4-Pmax-S8", seed=1).state_dict()
    parent["0.body.1.running_var"] = torch.ones(5)  # one tensor of the first batch norm no longer fits
    child = network(space, "S4-Pmax-S8", seed=2)
    fresh = child.state_dict()["0.body.1.weight"].clone()
    inherit(child, parent)
    assert torch.equal(child.state_dict()["0.body.1.weight"], fresh)
    assert torch.equal(child.state_dict()["0.body.0.weight"], parent["0.body.0.weight"])


def test_saved_weights_load_back_and_a_missing_file_names_the_fix(tmp_path):
    model = network(cnn_space(), "S4", seed=3)
    save_weights(model, tmp_path / "w.pt")
    loaded = load_weights(tmp_path / "w.pt")
    assert all(torch.equal(loaded[name], tensor) for name, tensor in model.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]  # no temporary file left
    with pytest.raises(FileNotFoundError, match="train from scratch"):
        load_weights(tmp_path / "gone.pt")


def test_lineage_keys_tell_inherited_from_scratch_evaluations_apart():
    space = cnn_space()
    scratch, child = individual("cnn-ga", space, "S4-Pmax"), individual("cnn-ga", space, "S4-Pmax", parent="abc")
    assert evaluation_key(scratch) == "S4-Pmax" and evaluation_key(child) == "S4-Pmax@abc"
    assert split_key(evaluation_key(child)) == ("S4-Pmax", "abc") and split_key("S4-Pmax") == ("S4-Pmax", "")
    assert weights_key(scratch) != weights_key(child)


@pytest.mark.parametrize(
    "family_name, parent_text, child_text",
    [
        ("cnn-ga", "S4-Pmax-S8", "S4-Pmax-S8-S4"),
        ("devol", "C+8,relu,0.2,bn,mp|C+8,sigmoid,0.4,-,-|C+4,relu,0.4,bn,-|D+8,relu,0.5,bn|D+8,sigmoid,0.3,bn|adam",
         "C+8,relu,0.2,bn,mp|C+8,sigmoid,0.4,-,-|C+8,relu,0.4,bn,-|D+8,relu,0.5,bn|D+8,sigmoid,0.3,bn|adam"),
    ],
)  # fmt: skip
def test_the_evaluator_starts_a_child_from_its_parents_weights_and_the_store_records_the_lineage(
    tmp_path, family_name, parent_text, child_text
):
    options = {"widths": (4, 8), "units": (8,)}
    space = get_family(family_name).space(SHAPE, 10, options)
    parent_text, child_text = str(space.parse(parent_text)), str(space.parse(child_text))
    evaluator = Evaluator("sample", space, TINY, device="cpu", weights_dir=tmp_path / "weights")
    store = ResultsStore(tmp_path / "results.sqlite", fingerprint=evaluator.fingerprint())
    cache = EvaluationCache(store)
    toolbox = get_family(family_name).toolbox(space, evaluator.record)
    folder = WeightsFolder(tmp_path / "weights")

    parent = individual(family_name, space, parent_text)
    evaluate_population([parent], toolbox, cache, generation=0)
    assert folder.has(parent)
    child = set_parent(individual(family_name, space, child_text), parent, folder)
    scratch = individual(family_name, space, child_text)
    evaluate_population([child, scratch], toolbox, cache, generation=1)

    rows = {(genome, parent_key): inherited for genome, parent_key, inherited in sqlite3.connect(
        tmp_path / "results.sqlite").execute("SELECT genome, parent, inherited FROM evaluations")}  # fmt: skip
    assert rows[(parent_text, "")] == 0 and rows[(child_text, "")] == 0
    assert rows[(child_text, weights_key(parent))] > 0
    assert store.lookup(child_text)["parent"] == "" and store.lookup(child_text, weights_key(parent))["inherited"] > 0
    # The child's own weights start from the parent's in every layer it kept.
    grown = load_weights(weights_path(folder.path, weights_key(child)))
    assert set(grown) == set(network(space, child_text, seed=0).state_dict())

    # A new cache over the store serves each lineage its own record, never the other's.
    again = EvaluationCache(store)
    assert again.get(evaluation_key(child))["parent"] == weights_key(parent)
    assert again.get(child_text)["parent"] == ""
    store.close()


def test_an_evaluator_without_a_weights_folder_refuses_an_inheriting_genome():
    space = cnn_space()
    evaluator = Evaluator("sample", space, TINY, device="cpu")
    with pytest.raises(ValueError, match="weights_dir"):
        evaluator.record(individual("cnn-ga", space, "S4", parent="abc"))


def test_an_old_store_gains_the_lineage_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE evaluations (id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, genome TEXT NOT "
            "NULL, generation INTEGER, worker TEXT, fitness TEXT NOT NULL, val_accuracy TEXT, val_loss TEXT, parameters "
            "INTEGER, flops INTEGER, seconds REAL, epochs INTEGER, device TEXT, status TEXT, error TEXT, batch_size "
            "INTEGER, created_at REAL NOT NULL, UNIQUE (fingerprint, genome))"
        )
        db.execute("INSERT INTO evaluations (fingerprint, genome, fitness, created_at) VALUES ('f', 'S4', '[0.5]', 0)")
    with ResultsStore(path, fingerprint="f") as store:
        assert store.lookup("S4")["fitness"] == (0.5,) and store.lookup("S4")["parent"] == ""
        assert store.lookup("S4", "abc") is None
        store.add({"genome": "S8", "fitness": (0.25,)})
        assert [(r["genome"], r["parent"], r["inherited"]) for r in store.records()] == [("S4", "", 0), ("S8", "", 0)]
    with ResultsStore(path, fingerprint="f") as store:  # opening again migrates nothing twice
        assert len(store) == 2


def test_the_store_holds_one_row_per_genome_and_parent(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite", fingerprint="f") as store:
        store.add({"genome": "S4", "fitness": (0.5,)})
        store.add({"genome": "S4", "fitness": (0.6,), "parent": "abc", "inherited": 3})
        with pytest.raises(sqlite3.IntegrityError):
            store.add({"genome": "S4", "fitness": (0.7,), "parent": "abc"})
        assert store.lookup("S4")["fitness"] == (0.5,) and store.lookup("S4", "abc")["fitness"] == (0.6,)


def test_the_weights_folder_keeps_members_in_flight_genomes_and_their_parents_only(tmp_path):
    space = cnn_space()
    folder = WeightsFolder(tmp_path / "weights")
    member, dead, dead_parent, flying = (individual("cnn-ga", space, t) for t in ("S4", "S8", "S4-S4", "S8-S8"))
    for ind in (member, dead, dead_parent, flying):
        (tmp_path / "weights" / f"{weights_key(ind)}.pt").write_bytes(b"x")
    (tmp_path / "weights" / ".weights-123.tmp").write_bytes(b"x")  # a write under way is never touched
    child = individual("cnn-ga", space, "S4-S4-S4", parent=weights_key(dead_parent))
    gone = folder.keep_only([member], in_flight=[child])
    assert gone == [weights_key(dead), weights_key(flying)] or set(gone) == {weights_key(dead), weights_key(flying)}
    assert folder.keys() == {weights_key(member), weights_key(dead_parent)}
    assert (tmp_path / "weights" / ".weights-123.tmp").exists()
    # A parent whose weights are gone leaves its child to train from scratch.
    orphan = set_parent(individual("cnn-ga", space, "S8-Pmax"), dead, folder)
    assert orphan.parent is None and evaluation_key(orphan) == "S8-Pmax"


def test_varied_children_inherit_from_the_parent_they_were_cloned_from(tmp_path):
    family, space = get_family("cnn-ga"), cnn_space()
    toolbox = family.toolbox(space, lambda genome: (0.0,))
    folder = WeightsFolder(tmp_path / "weights")
    random.seed(3)
    population = toolbox.population(n=6)
    for position, ind in enumerate(population):
        ind.fitness.values = (position / 10,)
        (tmp_path / "weights" / f"{weights_key(ind)}.pt").write_bytes(b"x")
    keys = {weights_key(ind) for ind in population}
    offspring = vary_cnn_ga(population, toolbox, cxpb=0.5, mutpb=0.5, weights_folder=folder)
    varied = [child for child in offspring if not child.fitness.valid]
    kept = [child for child in offspring if child.fitness.valid]
    assert varied and all(child.parent in keys for child in varied)
    assert all(not getattr(child, "parent", None) for child in kept)  # an unvaried clone is its parent
    random.seed(3)
    population_again = toolbox.population(n=6)
    for position, ind in enumerate(population_again):
        ind.fitness.values = (position / 10,)
    plain = vary_cnn_ga(population_again, toolbox, cxpb=0.5, mutpb=0.5)
    assert [str(c) for c in plain] == [str(c) for c in offspring]  # inheritance draws no random numbers
    assert all(not getattr(child, "parent", None) for child in plain)

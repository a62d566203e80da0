"""Shared fixtures and hypothesis strategies for the deap_cnn tests.

Strategies
----------
``search_spaces()``
    Valid :class:`deap_cnn.SearchSpace` objects over several input shapes,
    width subsets, skip-unit bounds, pooling-kind subsets and mutation weights.
``genomes(space)``
    Valid genomes for ``space``: some built by ``random_genome`` from a seeded
    ``random.Random``, others drawn gene by gene so that edge genomes (fewest
    skip units, most skip units, most pooling units) come up often.
``space_and_genomes(n)``
    A space together with ``n`` genomes valid in it.

DEAP creator types ``FitnessMax``, ``FitnessMin``, ``Individual`` (maximising)
and ``IndividualMin`` are created here once, at import time.
"""

from __future__ import annotations

import os
import random

from deap import base, creator
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from deap_cnn import Genome, PoolGene, SearchSpace, SkipGene, random_genome
from deap_cnn.families.base import max_pool_units_for

# --- parallel workers (pytest-xdist) ---------------------------------------------
# Every xdist worker, and every process a test starts, trains on its share of the cores: the project's own
# knob (DEAP_CNN_LOCAL_WORKERS, training.devices.default_threads) set to the number of workers. Torch's threads
# otherwise oversubscribe the cores N times over, and a busy thread pool runs many times slower than one thread.
# A test that starts several workers of its own still sets the variable for them; one that tests the knob
# sets it with monkeypatch.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("DEAP_CNN_LOCAL_WORKERS", os.environ["PYTEST_XDIST_WORKER_COUNT"])
    from deap_cnn.training.devices import default_threads, use_threads

    use_threads(default_threads())  # the tests that use torch directly, not through an Evaluator

# --- hypothesis profile -----------------------------------------------------------
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")

# --- DEAP types -------------------------------------------------------------------
if not hasattr(creator, "FitnessMax"):
    creator.create("FitnessMax", base.Fitness, weights=(1.0,))
if not hasattr(creator, "FitnessMin"):
    creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "Individual"):
    creator.create("Individual", Genome, fitness=creator.FitnessMax)
if not hasattr(creator, "IndividualMin"):
    creator.create("IndividualMin", Genome, fitness=creator.FitnessMin)

# --- strategies -------------------------------------------------------------------
INPUT_SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8), (3, 4, 4), (1, 2, 2), (1, 1, 1), (3, 5, 9)]
WIDTH_POOL = [4, 8, 16, 64, 128, 256]


@st.composite
def mutation_probabilities(draw):
    """Four non-negative weights with a positive sum; single-type and zero weights are common."""
    one_hot = st.sampled_from([(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)])
    weights = st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=1.0, allow_nan=False)),
        min_size=4,
        max_size=4,
    ).filter(lambda ws: sum(ws) > 0)
    return tuple(draw(st.one_of(st.just((0.7, 0.1, 0.1, 0.1)), one_hot, weights)))


@st.composite
def search_spaces(draw, input_shapes=INPUT_SHAPES, widths=WIDTH_POOL, max_skip_cap=8):
    shape = draw(st.sampled_from(input_shapes))
    chosen_widths = draw(st.lists(st.sampled_from(widths), min_size=1, max_size=len(widths), unique=True))
    min_skip = draw(st.integers(1, 4))
    max_skip = draw(st.integers(min_skip, max(min_skip, max_skip_cap)))
    allowed = max_pool_units_for(shape[1], shape[2])
    max_pool = draw(st.one_of(st.none(), st.integers(0, allowed)))
    kinds = draw(st.sampled_from([("max",), ("mean",), ("max", "mean"), ("mean", "max")]))
    return SearchSpace(
        input_shape=shape,
        n_classes=draw(st.integers(2, 12)),
        widths=tuple(chosen_widths),
        min_skip_units=min_skip,
        max_skip_units=max_skip,
        max_pool_units=max_pool,
        pool_kinds=kinds,
        mutation_probabilities=draw(mutation_probabilities()),
    )


def seeded_genomes(space):
    """Genomes from ``random_genome`` with a ``random.Random`` seeded by hypothesis."""
    return st.integers(0, 2**32 - 1).map(lambda seed: Genome(random_genome(space, random.Random(seed))))


@st.composite
def drawn_genomes(draw, space):
    """Genomes drawn gene by gene, biased towards the bounds of the space."""
    n_skip = draw(
        st.one_of(
            st.just(space.min_skip_units),
            st.just(space.max_skip_units),
            st.integers(space.min_skip_units, space.max_skip_units),
        )
    )
    n_pool = draw(st.one_of(st.just(0), st.just(space.max_pool_units), st.integers(0, space.max_pool_units)))
    skips = [SkipGene(draw(st.sampled_from(space.widths))) for _ in range(n_skip)]
    pools = [PoolGene(draw(st.sampled_from(space.pool_kinds))) for _ in range(n_pool)]
    rest = draw(st.permutations(skips[1:] + pools))
    return Genome([skips[0], *rest])


def genomes(space):
    return st.one_of(seeded_genomes(space), drawn_genomes(space))


@st.composite
def space_and_genomes(draw, n=1, spaces=None):
    space = draw(spaces if spaces is not None else search_spaces())
    return space, [draw(genomes(space)) for _ in range(n)]


def as_individual(genome, cls=None, fitness=(1.5,)):
    """A creator individual holding ``genome``'s genes, with a set fitness."""
    ind = (cls or creator.Individual)(genome)
    if fitness is not None:
        ind.fitness.values = fitness
    return ind


def make_run(folder, family_name="devol", shape=(1, 28, 28), options=None, data="sample", classes=None):
    """A finished run folder as the final training leaves it (best.pt, best.json, config.json), without training."""
    import json

    import torch

    from deap_cnn.families import get_family
    from deap_cnn.runs.winner import normalisation_of
    from deap_cnn.training.datasets import FASHION_MNIST_CLASSES
    from deap_cnn.training.evaluator import resolve_builder
    from deap_cnn.training.loaders import load_sample
    from deap_cnn.training.models import save_network

    classes = list(classes or FASHION_MNIST_CLASSES)
    options = options or {"widths": (4,), "units": (8,)}
    family = get_family(family_name)
    space = family.space(shape, len(classes), options)
    random.seed(0)
    genome = family.init(family.genome_class, space)
    torch.manual_seed(0)
    network = resolve_builder(space, family.network_builder(space, options))(genome, shape, len(classes)).eval()
    folder.mkdir()
    details = {"classes": classes, "family_options": options, "strategy": "aging", "fitness": [0.5],
               "objectives": ["accuracy"], "test_accuracy": 0.75, "test_images": 1000, "final_epochs": 2,
               "trainings": 8, "evaluations": 8, "search_seconds": 12.5}  # fmt: skip
    if data == "sample":
        details["normalisation"] = normalisation_of(load_sample())
    save_network(network, folder / "best.pt", genome, shape, len(classes), family=family_name, **details)
    config = {"data": data, "family": family_name, "population": 4, "generations": 1, "epochs": 1, "seed": 3}
    (folder / "config.json").write_text(json.dumps(config))
    return folder

"""The NAS-Bench-201 / NATS-Bench topology cell: a public tabular benchmark's search space as a genome family.

Torch-free here: the genome (:mod:`.genome`: six edges, the benchmark's
architecture string as canonical text), the space (:mod:`.space`: allowed
operations, the network's channels and cells, parameter and multiply-add
counts), DEAP operators (:mod:`.operators`) and the numeric and Optuna
encodings (:mod:`.encoding`); the network is in :mod:`.network` (torch).
Evaluated by training (any image data) or by looking the cell up in the
benchmark's table (``deap-cnn search --family nats --lookup TABLE.csv``).
"""

from ..registry import Family
from .encoding import encode_cell, suggest_cell
from .genome import EDGES, OPERATIONS, CellGenome
from .operators import cell_neighbours, cx_cell, init_cell, mut_cell, random_cell
from .space import CellNetworkBuilder, NatsSpace

__all__ = [
    "FAMILY",
    "CellGenome",
    "CellNetworkBuilder",
    "EDGES",
    "NatsSpace",
    "OPERATIONS",
    "cell_neighbours",
    "cx_cell",
    "encode_cell",
    "init_cell",
    "mut_cell",
    "random_cell",
    "suggest_cell",
]


def make_space(input_shape, n_classes, options) -> NatsSpace:
    """The benchmark's space for these images: ``cell_channels`` (default 16) and ``cells_per_stage`` (default 5)."""
    defaults = NatsSpace.__dataclass_fields__
    return NatsSpace(
        input_shape=input_shape,
        n_classes=n_classes,
        cell_channels=options.get("cell_channels") or defaults["cell_channels"].default,
        cells_per_stage=options.get("cells_per_stage") or defaults["cells_per_stage"].default,
    )


FAMILY = Family(
    name="nats",
    genome_class=CellGenome,
    make_space=make_space,
    init=init_cell,
    mate=cx_cell,
    mutate=mut_cell,
    suggest=suggest_cell,
    encode=encode_cell,
    neighbours=cell_neighbours,
    description="NAS-Bench-201 / NATS-Bench topology cell: 6 edges of 5 operations (trained, or --lookup a table)",
)

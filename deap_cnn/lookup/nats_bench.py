"""Export the official NATS-Bench topology benchmark to a lookup table (needs the ``nats_bench`` package).

NATS-Bench ships its results as a file of its own, read by its API
(``pip install deap_cnn[nats]`` installs it; the file itself, e.g.
``NATS-tss-v1_0-3ffb9-simple``, comes from the benchmark's authors). A search
reads plain CSV tables, so the export is done once::

    deap-cnn nats-table NATS-tss-v1_0-3ffb9-simple --out nats-cifar10.csv
    deap-cnn search --family nats --lookup nats-cifar10.csv

One row per cell: its architecture string (the ``nats`` family's canonical
text) and the chosen metric averaged over the benchmark's training seeds.
"""

from __future__ import annotations

import csv
import os

from .table import TableError

__all__ = ["DATASETS", "METRICS", "export_topology_table", "column_name"]

#: The data sets NATS-Bench trained every cell on.
DATASETS = ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120")

#: The metrics of ``get_more_info`` a table can hold.
METRICS = ("test-accuracy", "valid-accuracy", "train-accuracy")


def column_name(dataset: str, metric: str, hp: str) -> str:
    """The score column's name, e.g. ``cifar10_test_accuracy_200_epochs``."""
    return f"{dataset.replace('-', '_')}_{metric.replace('-', '_')}_{hp}_epochs"


def _api(benchmark):
    try:
        from nats_bench import create
    except ImportError:
        raise TableError(
            "exporting NATS-Bench needs its nats_bench package: pip install deap_cnn[nats] (or pip install nats_bench)"
        ) from None
    if not os.path.exists(benchmark):
        raise TableError(f"no NATS-Bench file or folder at {benchmark}: give the path of the benchmark's topology file")
    return create(benchmark, "tss", fast_mode=True, verbose=False)


def export_topology_table(benchmark, out, dataset: str = "cifar10", metric="test-accuracy", hp="200",
                          api=None) -> int:  # fmt: skip
    """Write every topology cell of NATS-Bench at ``benchmark`` with its ``metric`` on ``dataset`` to CSV ``out``.

    ``hp`` is the training length (``"12"`` or ``"200"`` epochs); the metric
    is the mean over the benchmark's training seeds. ``metric`` and ``hp``
    may each be a list: the table then holds one column per (metric, length)
    pair, named by :func:`column_name`, so a search reads the short training
    (``--fidelity 12=...``), reranks by the long one and judges its pick by
    another (``--truth-column``). Returns the rows written. ``api`` may be
    given instead of ``benchmark`` (an object with NATS-Bench's ``__len__``,
    ``arch(index)`` and ``get_more_info(index, dataset, hp=..., is_random=False)``).
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    hps = [str(hp)] if isinstance(hp, (str, int)) else [str(h) for h in hp]
    if dataset not in DATASETS:
        raise TableError(f"unknown NATS-Bench data set {dataset!r}: choose one of {', '.join(DATASETS)}")
    for name in metrics:
        if name not in METRICS:
            raise TableError(f"unknown metric {name!r}: choose one of {', '.join(METRICS)}")
    api = api if api is not None else _api(os.fspath(benchmark))
    pairs = [(name, h) for h in hps for name in metrics]
    rows = []
    for index in range(len(api)):
        row = [api.arch(index)]
        for h in hps:
            info = api.get_more_info(index, dataset, hp=h, is_random=False)
            for name in metrics:
                if info.get(name) is None:
                    raise TableError(
                        f"NATS-Bench has no {name} for {dataset} after {h} epochs (cell {index}): choose another "
                        "--metric (cifar10's validation accuracy is under the data set cifar10-valid)"
                    )
                row.append(info[name])
        rows.append(row)
    partial = f"{os.fspath(out)}.partial"
    with open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["architecture", *(column_name(dataset, name, h) for name, h in pairs)])
        writer.writerows(rows)
    os.replace(partial, out)  # a table is whole or absent: an interrupted export leaves no half table
    return len(rows)

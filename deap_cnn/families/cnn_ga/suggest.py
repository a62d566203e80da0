"""CNN-GA genomes as Optuna parameters: what TPE searches over.

The variable-length genome becomes conditional parameters (see
:func:`suggest_genome`); :func:`encode_genome` and :func:`decode_params` map
between the two. Optuna is only needed by whoever calls ``suggest_genome``.
"""

from __future__ import annotations

from .genome import Genome, PoolGene, SkipGene

__all__ = ["suggest_genome", "encode_genome", "decode_params"]


def decode_params(params: dict, space) -> Genome:
    """The genome a TPE parameter set stands for; always valid in ``space``.

    See :func:`suggest_genome` for the parameters. Counts are clipped into
    the space's bounds, pooling positions into ``[1, skip_units]``, so any
    values decode to a valid genome.
    """
    n_skip = min(max(int(params["skip_units"]), space.min_skip_units), space.max_skip_units)
    n_pool = min(max(int(params.get("pool_units", 0)), 0), space.max_pool_units)
    widths = [int(params[f"width_{i}"]) for i in range(n_skip)]
    after = {}
    for j in range(n_pool):
        fraction = min(max(float(params[f"pool_{j}_at"]), 0.0), 1.0)
        position = min(n_skip, 1 + int(fraction * n_skip))
        after.setdefault(position, []).append(PoolGene(params[f"pool_{j}_kind"]))
    genes = []
    for i, width in enumerate(widths, start=1):
        genes.append(SkipGene(width))
        genes.extend(after.get(i, []))
    return space.validate(Genome(genes))


def suggest_genome(trial, space) -> Genome:
    """Ask an Optuna ``trial`` for a genome of ``space``.

    The variable-length genome becomes conditional parameters:

    - ``skip_units``: integer in ``[min_skip_units, max_skip_units]``;
    - ``width_i`` for ``i < skip_units``: categorical over ``space.widths``,
      the width of the ``i``-th skip unit;
    - ``pool_units``: integer in ``[0, max_pool_units]``;
    - ``pool_j_at`` for ``j < pool_units``: float in ``[0, 1]``, where the
      ``j``-th pooling unit goes: after skip unit ``1 + floor(at *
      skip_units)`` (clipped to the last), so every position has the same
      share of the interval whatever the skip count, and a pooling unit
      never comes first;
    - ``pool_j_kind``: categorical over ``space.pool_kinds``.

    Pooling units after the same skip unit keep the order of ``j``. Every
    valid genome has an encoding (:func:`encode_genome`), and every parameter
    set decodes to a valid genome (:func:`decode_params`). Several encodings
    can name one genome (pooling units of one kind in another order); a
    repeat is a free cache hit.
    """
    params = {"skip_units": trial.suggest_int("skip_units", space.min_skip_units, space.max_skip_units)}
    for i in range(params["skip_units"]):
        params[f"width_{i}"] = trial.suggest_categorical(f"width_{i}", list(space.widths))
    params["pool_units"] = trial.suggest_int("pool_units", 0, space.max_pool_units) if space.max_pool_units else 0
    for j in range(params["pool_units"]):
        params[f"pool_{j}_at"] = trial.suggest_float(f"pool_{j}_at", 0.0, 1.0)
        params[f"pool_{j}_kind"] = trial.suggest_categorical(f"pool_{j}_kind", list(space.pool_kinds))
    return decode_params(params, space)


def encode_genome(genome, space) -> dict:
    """The TPE parameters of ``genome`` (the inverse of :func:`decode_params`), e.g. to enqueue a known genome."""
    genome = space.validate(genome)
    n_skip = genome.skip_count
    params = {"skip_units": n_skip, "pool_units": genome.pool_count}
    skips_before, i, j = 0, 0, 0
    for gene in genome:
        if isinstance(gene, SkipGene):
            params[f"width_{i}"] = gene.width
            i += 1
            skips_before += 1
        else:
            params[f"pool_{j}_at"] = (skips_before - 0.5) / n_skip
            params[f"pool_{j}_kind"] = gene.kind
            j += 1
    return params

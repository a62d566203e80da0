"""``model-card.md``: what a run's winner is, how well it does, what it was trained on, how it was found, its limits.

Written next to ``best.json`` at the end of a run and again by ``deap-cnn
best``. Everything comes from the run folder (``best.json``,
``config.json``, ``best.pt``); the size, FLOPs and latency are measured on
the retrained network, the latency on this machine's CPU.
"""

from __future__ import annotations

import dataclasses
import shlex

__all__ = ["model_card", "write_model_card", "reproduce_command"]

CARD = "model-card.md"


def reproduce_command(config: dict) -> str:
    """The ``deap-cnn search`` command that runs ``config`` (a ``config.json``) again: every setting off its default."""
    from .config import SearchConfig

    defaults = SearchConfig()
    words = ["deap-cnn", "search"]
    for f in dataclasses.fields(SearchConfig):
        flag = f.metadata.get("flag")
        if flag is None or f.name not in config or f.name in ("engine", "scheduler", "workers", "device"):
            continue
        value, default = config[f.name], getattr(defaults, f.name)
        if isinstance(value, list):  # JSON's lists are the config's tuples
            value = tuple(value)
        if value is None or value == default:
            continue
        if value is True:
            words.append(flag)
        elif f.metadata.get("repeat"):
            for item in value:
                words += [flag, str(item)]
        elif isinstance(value, tuple):
            words += [flag, *map(str, value)]
        elif value is not False:
            words += [flag, str(value)]
    return shlex.join(words)


def _architecture(best: dict) -> list[str]:
    from .report.units import genome_units

    units = [f"{unit.title}{f' ({unit.detail})' if unit.detail else ''}" for unit in genome_units(best["genome"])]
    shape = "x".join(map(str, best["input_shape"]))
    return [f"input {shape}", *units, f"{best['n_classes']} classes"]


def _measured(winner) -> dict:
    """Parameters, FLOPs and CPU latency (batch 1 and 64) of the retrained network; empty without ``best.pt``."""
    if not winner.weights.exists():
        return {}
    import torch

    from ..training.latency import measure_latency
    from ..training.models import count_flops, count_parameters

    model = winner.network()
    shape = tuple(winner.best["input_shape"])
    return {
        "parameters": count_parameters(model),
        "flops": count_flops(model, shape),
        "latency_ms": {batch: measure_latency(model, shape, batch, device="cpu") for batch in (1, 64)},
        "threads": torch.get_num_threads(),
    }


def model_card(winner, measured: dict | None = None) -> str:
    """The card of ``winner`` (a :class:`~deap_cnn.runs.winner.Winner`) as Markdown."""
    best, config = winner.best, winner.config
    measured = _measured(winner) if measured is None else measured
    objectives = best.get("objectives", ["accuracy"])
    lines = [f"# Model card: {best.get('family', 'cnn-ga')} `{best['genome']}`", ""]
    lines += ["## Architecture", "", f"Family {best.get('family', 'cnn-ga')}, genome `{best['genome']}`:", ""]
    lines += ["```", " -> ".join(_architecture(best)), "```", ""]
    if measured:
        latency = measured["latency_ms"]
        lines += [
            f"- parameters: {measured['parameters']:,}",
            f"- FLOPs per input: {measured['flops']:,}",
            f"- latency (PyTorch, this machine's CPU, {measured['threads']} thread(s), median): "
            f"{latency[1]:.3g} ms at batch 1, {latency[64]:.3g} ms at batch 64",
            "",
        ]
    lines += ["## Accuracy", ""]
    fitness = ", ".join(f"{name} {value:.4g}" for name, value in zip(objectives, best.get("fitness", []), strict=False))
    lines.append(
        f"- validation: {fitness}, on a held-out 10% of the training set "
        f"after {config.get('epochs', '?')} epoch(s) of search training"
    )
    if "test_accuracy" in best:
        images = best.get("test_images")
        lines.append(
            f"- test accuracy: {best['test_accuracy']:.4f} on the test set ({images if images else 'all'} images), "
            f"after retraining {best.get('final_epochs')} epoch(s) on the whole training set"
        )
    else:
        lines.append("- test accuracy: not measured (no final training: --final-epochs 0 or a --lookup table)")
    lines += ["", "## Data", ""]
    shape = "x".join(map(str, best["input_shape"]))
    lines.append(f"- data: `{config.get('data', 'sample')}`, inputs {shape}, {best['n_classes']} classes")
    if best.get("classes"):
        lines.append(f"- classes (label order): {', '.join(map(str, best['classes']))}")
    stats = best.get("normalisation")
    if stats:
        lines.append(
            f"- normalisation (per {stats['per']}, the training set's; folded into exported files): mean "
            f"{stats['mean']}, std {stats['std']}; "
            + ("(x / 255 - mean) / std" if stats["per"] == "channel" else "(x - mean) / std")
        )
    lines += ["", "## Search", ""]
    lines += [
        f"- strategy {best.get('strategy')}, objectives {', '.join(objectives)}; population "
        f"{config.get('population')}, {config.get('generations')} generation(s)"
        + (f", budget {config['trainings']} trainings" if config.get("trainings") else ""),
        f"- seed {config.get('seed', 0)}; {best.get('trainings', '?')} training(s), {best.get('evaluations', '?')} "
        f"evaluation(s); search wall time {best.get('search_seconds', '?')} s (final training not counted)",
        "- reproduce:",
        "",
        "```",
        reproduce_command(config),
        "```",
        "",
    ]
    lines += ["## Limits", ""]
    lines += [
        f"- The search's fitness was {', '.join(objectives)} on the validation split after short trainings "
        f"({config.get('epochs', '?')} epoch(s)"
        + (f", at most {config['max_batches']} batches each" if config.get("max_batches") else "")
        + "): a ranking signal, not the network's final accuracy.",
        "- The test set was touched once, by the final training's one measurement; no choice was made on it.",
        "- The latency is this machine's; measure again on the target (deap-cnn best RUN --export, then time it).",
    ]
    return "\n".join(lines) + "\n"


def write_model_card(winner) -> str:
    """Write ``model-card.md`` into the winner's run folder; return its path."""
    path = winner.folder.file(CARD)
    path.write_text(model_card(winner))
    return str(path)

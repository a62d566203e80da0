"""The page's first section, what a report is opened for: the best architecture, how good it is, the run's state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from markupsafe import Markup

from ...families.base import finite_or_none
from .charts import genome_diagram
from .formatting import ago, count, duration, fitness_value
from .progress import Progress
from .run_data import RunData, best_evaluation

__all__ = ["Headline", "headline", "pick_best", "run_pick"]

#: States in which the run stopped before its end: the resume command is what to do next.
STOPPED_STATES = ("interrupted", "failed")


@dataclass
class Headline:
    """The best architecture and the run's state, as the first section shows them."""

    title: str
    genome: str = ""
    diagram: Markup | None = None
    #: ``(label, text)``: validation fitness, test accuracy, size, where it was found.
    facts: list = field(default_factory=list)
    state: str = "unknown"
    message: str = ""
    resume: str = ""
    resume_urgent: bool = False
    #: ``(label, text)``: strategy, family, objectives, evaluations, time, last update.
    run_facts: list = field(default_factory=list)
    front_size: int = 0
    #: What the best is the best by among the front's members (``"highest accuracy"``, ``"lowest loss"``).
    front_pick: str = ""
    has_status: bool = False
    problems: list = field(default_factory=list)


def run_pick(run: RunData) -> dict:
    """``best.json`` when it speaks for this run: once it has finished (or, in runs older than status.json, always).

    A run resumed after it finished is running again with the last finish's
    ``best.json`` beside it; until it ends, its best comes from the store.
    """
    return run.best if run.state in ("finished", "unknown") else {}


def pick_best(run: RunData) -> tuple[str, dict | None]:
    """``(genome, its evaluation row or None)``: the run's own pick (``best.json``) if it made one, else the top.

    The run's pick can differ from the top fitness: ``--rerank`` retrains the
    best few and keeps the one that scores best again. A multi-objective run
    with no scored row yet falls back on its saved front.
    """
    chosen = str(run_pick(run).get("genome") or "")
    top = best_evaluation(run.evaluations, chosen or None, run.sign)
    if chosen and (top is None or top["genome"] != chosen):
        return chosen, best_evaluation([row for row in run.evaluations if row["genome"] == chosen], sign=run.sign)
    if top is not None:
        return top["genome"], top
    if run.front:
        return run.front[0]["genome"], None
    return "", None


def headline(run: RunData, genome: str, row: dict | None, progress: Progress) -> Headline:
    """The first section's content for ``run``, whose best is ``genome`` (evaluated in ``row``, if stored)."""
    finished = run.state == "finished"
    view = Headline(
        title="Best architecture" if finished else "Best architecture so far",
        genome=genome,
        diagram=Markup(genome_diagram(genome)) if genome else None,
        state=run.state,
        message=str(run.status.get("message") or ""),
        has_status=bool(run.status),
        problems=list(run.problems),
        front_size=len(run.front),
        front_pick=f"{'lowest' if run.sign < 0 else 'highest'} {(run.objectives or ['first objective'])[0]}",
    )
    if genome:
        view.facts = _best_facts(run, genome, row)
    resume = str(run.status.get("resume") or "")
    if resume and not finished:
        view.resume, view.resume_urgent = resume, run.state in STOPPED_STATES
    view.run_facts = _run_facts(run, progress)
    return view


def _best_facts(run: RunData, genome: str, row: dict | None) -> list:
    """What is known of the best: validation fitness, test accuracy, reranking, size, where it was found.

    A ``--lookup`` run's candidates are scored by a benchmark table: instead
    of a test accuracy (nothing is trained) the facts name the table, and
    the table's own score (``noise_free_fitness``) stands beside the noisy fitness.
    """
    picked = run_pick(run) if run_pick(run).get("genome") == genome else {}
    facts = [("validation fitness", _validation_text(run, row, picked))]
    facts.append(("noise-free score in the table", _noise_free_text(row, picked)))
    if run.lookup:
        facts.append(("scored by", _lookup_text(run)))
    else:
        facts.append(("test accuracy", _test_text(run, picked)))
    facts.append(("reranked", _rerank_text(picked, genome, bool(run.lookup))))
    if row is not None:
        for label, name in (("parameters", "parameters"), ("FLOPs", "flops")):
            value = finite_or_none(row.get(name))
            facts.append((label, count(value) if value is not None else None))
        facts.append(("found at", _found_text(run, row)))
    return [(label, text) for label, text in facts if text]


def _validation_text(run: RunData, row: dict | None, picked: dict) -> str | None:
    values = row["fitness_values"] if row is not None else None
    if not values and isinstance(picked.get("fitness"), list):
        values = [v for v in (finite_or_none(v) for v in picked["fitness"]) if v is not None]
    if not values:
        return None
    names = run.objectives
    if len(values) > 1 and len(names) == len(values):
        return " · ".join(f"{name} {fitness_value(value)}" for name, value in zip(names, values, strict=True))
    return ", ".join(fitness_value(value) for value in values)


def _noise_free_text(row: dict | None, picked: dict) -> str | None:
    """The table's exact score of the best, where a noisy lookup recorded it (``best.json``, else its store row)."""
    for value in (picked.get("noise_free_fitness"), row.get("noise_free_fitness") if row is not None else None):
        number = None if isinstance(value, bool) else finite_or_none(value)
        if number is not None:
            return fitness_value(number)
    return None


def _lookup_text(run: RunData) -> str:
    """Which table scored a ``--lookup`` run, and that nothing was trained (so no test accuracy)."""
    settings = {**run.store_settings, **run.config}
    column = settings.get("lookup_column")
    noise = finite_or_none(settings.get("lookup_noise"))
    text = f"the table {run.lookup}" + (f" (column {column})" if column else "")
    if noise:
        text += f", with noise of sd {noise:g}"
    return text + "; nothing is trained, so no test accuracy"


def _test_text(run: RunData, picked: dict) -> str | None:
    """The test accuracy after the final training, or why there is none (yet)."""
    test = finite_or_none(picked.get("test_accuracy"))
    epochs = finite_or_none(picked.get("final_epochs", run.config.get("final_epochs")))
    if test is not None:
        trained = f" for {epochs:.0f} epoch{'s' if epochs != 1 else ''}" if epochs else ""
        return f"{test:.4f} (retrained on the whole training set{trained}, tested once)"
    if epochs == 0:
        return "not measured: the final training was off (final_epochs 0)"
    if run.state not in ("finished", "unknown") and epochs:
        return f"measured when the search ends (the best is retrained for {epochs:.0f} epochs)"
    return None


def _rerank_text(picked: dict, genome: str, lookup: bool = False) -> str | None:
    """The best's score when ``--rerank`` trained it (a lookup run: looked it up) again, and among how many."""
    table = picked.get("rerank")
    if not isinstance(table, list):
        return None
    mine = next((r for r in table if isinstance(r, dict) and r.get("genome") == genome), None)
    score = finite_or_none(mine.get("rerank_fitness")) if mine else None
    if score is None:
        return None
    epochs = finite_or_none(picked.get("rerank_epochs"))
    if lookup:  # the table's score again, with the noise of a longer evaluation
        again = "looked up again with fresh noise" + (f", as for a {epochs:.0f}-epoch training" if epochs else "")
    else:
        trained = f"for {epochs:.0f} epoch{'s' if epochs != 1 else ''} " if epochs else ""
        again = f"retrained {trained}from scratch"
    return f"{score:.4f} {again}, the best of the {len(table)} best distinct genomes"


def _found_text(run: RunData, row: dict) -> str:
    number = next(n for n, other in enumerate(run.evaluations, start=1) if other is row)
    generation = row.get("generation")
    where = f", generation {generation}" if isinstance(generation, int) else ""
    return f"evaluation {number} of {len(run.evaluations)}{where}"


def _run_facts(run: RunData, progress: Progress) -> list:
    """The run at a glance: strategy, family, objectives with their directions, evaluations, time spent, last update."""
    facts = []
    for key in ("strategy", "family"):
        value = run.status.get(key) or run.config.get(key)
        if value:
            facts.append((key, str(value)))
    labels = run.objective_labels
    if labels:
        facts.append(("objectives" if len(labels) > 1 else "objective", ", ".join(labels)))
    ok = sum(row["status"] == "ok" for row in run.evaluations)
    failed = len(run.evaluations) - ok
    facts.append(("evaluations", f"{len(run.evaluations)} ({ok} ok, {failed} failed)"))
    searched = finite_or_none(run_pick(run).get("search_seconds"))
    if searched is not None:
        facts.append(("search time", duration(searched)))
    elif progress.seconds:
        facts.append(("training time", f"{duration(progress.seconds[-1])} (summed over evaluations)"))
    updated = finite_or_none(run.status.get("updated"))
    if updated is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(updated))
        facts.append(("updated", f"{when} ({ago(time.time() - updated)})"))
    return facts

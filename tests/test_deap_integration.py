"""deap_cnn's operators inside DEAP's own algorithms, serially and across SCOOP workers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from deap import algorithms, base, creator, tools

from deap_cnn import (
    Genome,
    SearchSpace,
    cx_one_point,
    init_genome,
    mut_cnn_ga,
    sel_binary_tournament,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def cheap_fitness(genome):
    """Deterministic and torch-free: total width in thousands, minus a little per pooling unit."""
    genome = Genome.from_string(str(genome))
    return (sum(g.width for g in genome if hasattr(g, "width")) / 1000.0 - 0.01 * genome.pool_count,)


def make_toolbox(space, selector):
    toolbox = base.Toolbox()
    toolbox.register("individual", init_genome, creator.Individual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", cheap_fitness)
    toolbox.register("mate", cx_one_point, space=space)
    toolbox.register("mutate", mut_cnn_ga, space=space)
    toolbox.register("select", selector)
    return toolbox


def run_ea_simple(seed, selector):
    space = SearchSpace(input_shape=(1, 28, 28), widths=(4, 8, 16), max_skip_units=6)
    toolbox = make_toolbox(space, selector)
    random.seed(seed)  # eaSimple and the operators' default rng draw from the random module
    population = toolbox.population(n=6)
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    hof = tools.HallOfFame(2)
    final, logbook = algorithms.eaSimple(
        population, toolbox, cxpb=0.6, mutpb=0.6, ngen=2, stats=stats, halloffame=hof, verbose=False
    )
    return space, final, logbook, hof


@pytest.mark.parametrize(
    "selector",
    [sel_binary_tournament, lambda pop, k: tools.selTournament(pop, k, tournsize=2)],
    ids=["sel_binary_tournament", "selTournament"],
)
def test_ea_simple_runs_unchanged(selector):
    space, final, logbook, hof = run_ea_simple(7, selector)
    assert isinstance(logbook, tools.Logbook)
    assert len(logbook) == 3
    assert logbook.select("gen") == [0, 1, 2]
    assert logbook[0]["nevals"] == 6
    assert len(final) == 6
    for ind in final:
        assert type(ind) is creator.Individual
        assert space.violations(ind) == []
        assert ind.fitness.valid
        assert ind.fitness.values == cheap_fitness(ind)
    assert max(logbook.select("max")) == pytest.approx(hof[0].fitness.values[0])
    assert all(space.is_valid(ind) for ind in hof)


def test_ea_simple_is_reproducible_and_changes_the_population():
    _, first, log1, _ = run_ea_simple(11, sel_binary_tournament)
    _, second, log2, _ = run_ea_simple(11, sel_binary_tournament)
    assert [str(i) for i in first] == [str(i) for i in second]
    assert log1.select("max") == log2.select("max")
    # with cxpb and mutpb of 0.6 over two generations, some offspring were re-evaluated
    assert sum(log1.select("nevals")[1:]) > 0


# --- SCOOP ------------------------------------------------------------------------

SCOOP_GENOMES = [
    "S64",
    "S64-Pmax-S128",
    "S128-S256-Pmean",
    "S256-Pmax-S64-Pmean-S128",
    "S64-S64-S64-Pmax",
    "S128-Pmean-Pmax-S256-Pmax",
    "S256-S128-S64",
    "S64-Pmean-S64-S128-Pmax-S256",
]

SCOOP_SCRIPT = textwrap.dedent(
    """
    import json
    import os
    import time

    from deap import base, creator
    from scoop import futures

    from deap_cnn import Genome, SearchSpace

    creator.create("FitnessMax", base.Fitness, weights=(1.0,))
    creator.create("Individual", Genome, fitness=creator.FitnessMax)

    SPACE = SearchSpace()
    TEXTS = {texts!r}


    def evaluate(individual):
        SPACE.validate(individual)
        time.sleep(0.2)  # long enough that the root cannot take every task itself
        widths = sum(g.width for g in individual if hasattr(g, "width"))
        fitness = widths / 1000.0 - 0.01 * individual.pool_count
        return fitness, os.getpid(), type(individual).__name__


    if __name__ == "__main__":
        population = [creator.Individual.from_string(t) for t in TEXTS]
        results = list(futures.map(evaluate, population))
        print("RESULT " + json.dumps({{
            "root_pid": os.getpid(),
            "fitness": [r[0] for r in results],
            "pids": [r[1] for r in results],
            "types": [r[2] for r in results],
        }}), flush=True)
    """
)


def serial_fitness(text):
    genome = Genome.from_string(text)
    return sum(g.width for g in genome if hasattr(g, "width")) / 1000.0 - 0.01 * genome.pool_count


def test_scoop_map_matches_serial_evaluation(tmp_path):
    script = tmp_path / "scoop_eval.py"
    script.write_text(SCOOP_SCRIPT.format(texts=SCOOP_GENOMES))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoop", "-n", "2", str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a hang can be cleaned up completely
    )
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"scoop did not finish within 120 s\nstdout:\n{stdout}\nstderr:\n{stderr}")
    diagnostics = f"exit code {proc.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert proc.returncode == 0, diagnostics
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, diagnostics
    result = json.loads(lines[0][len("RESULT ") :])

    assert result["fitness"] == [serial_fitness(t) for t in SCOOP_GENOMES]
    assert result["types"] == ["Individual"] * len(SCOOP_GENOMES)
    # the map really was distributed: some task ran outside the root process
    assert any(pid != result["root_pid"] for pid in result["pids"]), diagnostics
    assert result["root_pid"] != os.getpid()

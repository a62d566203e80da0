"""Zero-cost proxies: finite, deterministic, data-free where they should be; the proxy evaluator, the warm-up, the CLI."""

from __future__ import annotations

import json
import math
import random
import warnings

import pytest
import torch
from torch import nn

from deap_cnn.families import get_family
from deap_cnn.runs.cli import main
from deap_cnn.search.objectives import PROXY_NAMES, Objectives
from deap_cnn.search.warmup import Warmup
from deap_cnn.training import proxies
from deap_cnn.training.evaluator import resolve_builder
from deap_cnn.training.proxies import PROXIES, WORST_SCORE, ProxyError, score
from deap_cnn.training.proxy_evaluator import ProxyEvaluator, ProxySettings

SHAPE, CLASSES = (3, 16, 16), 4
TINY = {"widths": (4,), "max_skip_units": 2, "max_layers": 2, "units": (8,), "cell_channels": 4, "cells_per_stage": 1}
FAMILIES = ("cnn-ga", "devol", "nats", "cnn-ga+hyper", "devol+hyper")


def batch(seed=0, n=6, shape=SHAPE):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=generator), torch.randint(0, CLASSES, (n,), generator=generator)


def tiny_network(family_name, seed=0, shape=SHAPE):
    family = get_family(family_name)
    space = family.space(shape, CLASSES, TINY)
    genome = family.init(family.individual(), space, rng=random.Random(seed))
    builder = resolve_builder(space, family.network_builder(space, TINY))
    torch.manual_seed(seed)
    return builder(genome, shape, CLASSES)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_torch_free_names_are_the_registry():
    assert tuple(PROXIES) == PROXY_NAMES
    from deap_cnn.runs.config import PROXY_CHOICES

    assert PROXY_CHOICES == PROXY_NAMES


@pytest.mark.parametrize("family_name", FAMILIES)
def test_every_proxy_is_finite_and_deterministic_on_each_image_family(family_name):
    network = tiny_network(family_name)
    first = score(network, batch(), PROXY_NAMES)
    again = score(tiny_network(family_name), batch(), PROXY_NAMES)
    assert set(first) == set(PROXY_NAMES)
    for name in PROXY_NAMES:
        assert math.isfinite(first[name]) and first[name] > WORST_SCORE, (name, first[name])
        assert first[name] == pytest.approx(again[name], rel=1e-9, abs=1e-9), name


def test_proxies_on_a_transfer_network_with_random_weights():
    from deap_cnn.families.transfer import network as tn

    family = get_family("transfer")
    options = {"backbone": "resnet18", "allow_random": True, "weights": None, "download": False}
    space = family.space((3, 32, 32), CLASSES, options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        builder = family.network_builder(space, options)
        genome = family.init(family.individual(), space, rng=random.Random(0))
        network = builder(genome, (3, 32, 32), CLASSES)
    values = score(network, batch(n=4, shape=(3, 32, 32)), ("synflow", "grad_norm"))
    tn.clear_backbone_cache()
    assert all(math.isfinite(value) and value > WORST_SCORE for value in values.values())


def test_synflow_reads_no_data():
    """Data-free: any batch of the same shape, or none, gives the same score."""
    network = tiny_network("nats")
    values = {proxies.synflow(tiny_network("nats"), batch(seed)) for seed in range(3)}
    values.add(proxies.synflow(tiny_network("nats"), (torch.zeros(2, *SHAPE), torch.zeros(2, dtype=torch.long))))
    assert len({round(v, 9) for v in values}) == 1
    assert proxies.synflow(network, None) > WORST_SCORE  # the shape read off the first convolution


def test_synflow_of_a_network_through_which_nothing_flows_is_the_worst():
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, CLASSES))
    with torch.no_grad():
        network[0].weight.zero_()
        network[0].bias.zero_()
    assert proxies.synflow(network, batch()) == WORST_SCORE


def test_synflow_grows_with_the_weights_and_ignores_their_signs():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 14 * 14, CLASSES))
    base = proxies.synflow(_copy(network), batch())
    flipped = _copy(network)
    with torch.no_grad():
        flipped[0].weight.neg_()
    assert proxies.synflow(flipped, batch()) == pytest.approx(base)
    doubled = _copy(network)
    with torch.no_grad():
        doubled[3].weight.mul_(2)
    # R is linear in the last layer's weights and so is each term |w dR/dw| of the other layers (x2), but the
    # last layer's own terms scale by 2 too: the whole sum doubles, log grows by log 2
    assert proxies.synflow(doubled, batch()) == pytest.approx(base + math.log(2), rel=1e-6)


def _copy(network):
    import copy

    return copy.deepcopy(network)


def test_grad_norm_and_snip_are_non_negative_and_proxies_leave_no_nan():
    network = tiny_network("cnn-ga")
    values = score(network, batch(), ("grad_norm", "snip"))
    assert values["grad_norm"] >= 0 and values["snip"] >= 0


def test_nwot_grows_with_distinct_activation_patterns():
    """Identical images share every code (a singular kernel); distinct ones score higher."""
    torch.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(SHAPE).prod()), 64), nn.ReLU(),
                            nn.Linear(64, CLASSES))  # fmt: skip
    inputs, targets = batch(n=6)
    same = inputs[:1].repeat(6, 1, 1, 1)
    two = torch.cat([inputs[:1].repeat(3, 1, 1, 1), inputs[1:2].repeat(3, 1, 1, 1)])
    assert proxies.nwot(network, (same, targets)) == WORST_SCORE  # rank 1: |det K| = 0
    assert proxies.nwot(network, (two, targets)) == WORST_SCORE
    assert proxies.nwot(network, (inputs, targets)) > WORST_SCORE
    assert proxies.nwot(nn.Sequential(nn.Flatten(), nn.Linear(768, CLASSES)), (inputs, targets)) == WORST_SCORE


def test_unknown_proxy_names_the_choices():
    with pytest.raises(ProxyError, match="unknown proxy 'zen': choose from synflow, nwot, jacov, snip, grad_norm"):
        score(tiny_network("nats"), batch(), ["zen"])
    with pytest.raises(ProxyError):
        ProxySettings(proxies=("synflow", "zen"))


def test_proxy_evaluator_records_scores_cost_and_no_training():
    family = get_family("nats")
    space = family.space(SHAPE, CLASSES, TINY)
    evaluator = ProxyEvaluator(None, space, ProxySettings(proxies=("synflow", "nwot"), batch_size=4))
    genome = family.init(family.individual(), space, rng=random.Random(1))
    record = Objectives("synflow", "nwot").wrap(evaluator).record(genome)
    assert record.status == "ok" and record.epochs == 0 and record.val_accuracy == []
    assert record.fitness == (record.proxies["synflow"], record.proxies["nwot"])
    assert record.macs == (record.flops // 2) * (3 + 4) and record.seconds > 0 and record.batch_size == 4
    assert evaluator.deterministic and evaluator(genome) == (record.proxies["synflow"],)
    other = ProxyEvaluator(None, space, ProxySettings(proxies=("synflow",), batch_size=4, seed=1))
    assert other.fingerprint() != evaluator.fingerprint()
    with pytest.raises(Exception, match="carries no snip score"):
        Objectives("snip").wrap(evaluator).record(genome)


def test_warmup_keeps_the_top_k_by_the_scorer():
    counter = iter(range(1000))
    scores = {n: (n * 37) % 11 for n in range(20)}  # distinct genomes 0..19 with scrambled scores

    def make():
        return next(counter)

    warmup = Warmup(lambda genome: scores[genome], candidates=10)
    picks = warmup.select(make, keep=3, known=lambda genome: genome == 0)
    assert [text for text, _, _ in warmup.scored] == [str(n) for n in range(1, 11)]  # 0 is known: skipped
    assert picks == sorted(range(1, 11), key=lambda n: -scores[n])[:3]
    assert Warmup(lambda genome: scores[genome], 5, maximise=False).select(iter(range(5)).__next__, 2) == [0, 3]


def test_warmup_ranks_failed_scores_last_and_stops_when_the_space_runs_out():
    warmup = Warmup(lambda genome: {"a": math.nan, "b": 1.0}[genome], candidates=10)
    assert warmup.select(lambda: random.choice("ab"), keep=5) in (["b", "a"],)
    with pytest.raises(ValueError):
        Warmup(len, 0)


def test_aging_starts_from_the_warmup_picks():
    from deap import base

    from deap_cnn.search.aging import AgingProposer

    drawn = iter(range(100))
    toolbox = base.Toolbox()
    toolbox.register("individual", lambda: next(drawn))
    proposer = AgingProposer(3, warmup=Warmup(lambda genome: genome, candidates=8))
    proposals = [proposer.propose(toolbox, lambda genome: False)[0] for _ in range(4)]
    assert proposals == [7, 6, 5, 8]  # the three best of 0..7, then a fresh random one
    assert proposer.warmup is None


def run_cli(*args):
    return main([str(arg) for arg in args])


TINY_RUN = ("--family", "nats", "--cell-channels", "2", "--cells-per-stage", "1", "--final-epochs", "0",
            "--proxy-batch", "4")  # fmt: skip


def test_cli_fitness_synflow_picks_the_best_score(tmp_path):
    out = tmp_path / "run"
    assert (
        run_cli("search", *TINY_RUN, "--fitness", "synflow", "--population", "3", "--trainings", "5", "--out", out) == 0
    )
    best = json.loads((out / "best.json").read_text())
    assert best["objectives"] == ["synflow"] and best["trainings"] == 5
    import sqlite3

    rows = sqlite3.connect(out / "results.sqlite").execute("SELECT genome, fitness, epochs FROM evaluations").fetchall()
    top = max(rows, key=lambda row: json.loads(row[1])[0])
    assert best["genome"] == top[0] and all(row[2] == 0 for row in rows)


def test_cli_proxy_warmup_writes_its_scores(tmp_path):
    out = tmp_path / "run"
    code = run_cli("search", *TINY_RUN, "--fitness", "synflow", "--proxy-warmup", "6", "--population", "2",
                   "--trainings", "2", "--out", out)  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in (out / "warmup.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and all(line["proxy"] == "synflow" and line["macs"] > 0 for line in lines)
    best = json.loads((out / "best.json").read_text())
    assert best["genome"] == max(lines, key=lambda line: line["score"])["genome"]
    assert best["warmup"]["scored"] == 6 and best["warmup"]["proxy"] == "synflow" and best["trainings"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fitness", "zen"), "--fitness zen: not one of synflow, nwot, jacov, snip, grad_norm"),
        (("--fitness", "synflow", "--halving"), "trains nothing"),
        (("--proxy-warmup", "5", "--strategy", "random"), "--proxy-warmup seeds"),
        (("--fitness", "synflow", "--objectives", "synflow", "accuracy"), "cannot be scored"),
        (("--fitness", "synflow", "--objectives", "nwot"), "leaves out --fitness synflow"),
        (("--objectives", "nwot"), "add --fitness nwot"),
    ],
)
def test_cli_refuses_bad_proxy_settings_in_one_line(tmp_path, capsys, args, message):
    assert run_cli("search", *TINY_RUN, *args, "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_extended_encoding_appends_each_scorer_once_per_genome():
    from deap_cnn.search.surrogate import ExtendedEncoding

    calls = []

    def proxy(genome):
        calls.append(genome)
        return math.inf if genome == "bad" else len(genome)

    encode = ExtendedEncoding(lambda genome: [1.0, 0.0], [proxy])
    assert encode("abc") == [1.0, 0.0, 3.0] and encode("abc") == [1.0, 0.0, 3.0] and calls == ["abc"]
    assert encode("bad") == [1.0, 0.0, 0.0]  # not finite: a neutral 0


def test_cli_surrogate_proxies_need_the_surrogate(tmp_path, capsys):
    assert run_cli("search", *TINY_RUN, "--surrogate-proxies", "synflow", "--out", tmp_path / "run") == 2
    assert "--surrogate-proxies extends the surrogate's features" in capsys.readouterr().err


def test_zero_cost_benchmark_on_a_small_table(tmp_path):
    """Our params and FLOPs rank the cells as the table's (made from the space's own counts) do; resumable."""
    import importlib.util
    from pathlib import Path

    from deap_cnn.families.nats import NatsSpace

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "zero_cost.py"
    spec = importlib.util.spec_from_file_location("zero_cost", path)
    zero_cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zero_cost)
    space = NatsSpace(cell_channels=4, cells_per_stage=1)
    cells = [
        "|none~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
        "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    ]
    lines = ["architecture,cifar10_valid_accuracy_200_epochs,params,flops"]
    for position, text in enumerate(cells):
        genome = space.parse(text)
        lines.append(f"{text},{80 + position},{space.parameters(genome) / 1e6},{2 * space.macs(genome) / 1e6}")
    table = tmp_path / "zc.csv"
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "zc"
    args = ["--table", str(table), "--proxies", "params", "flops", "synflow", "--cell-channels", "4"]
    args += ["--cells-per-stage", "1", "--out", str(out)]
    assert zero_cost.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    by_name = {entry["proxy"]: entry for entry in summary["proxies"]}
    assert by_name["params"]["spearman_naslib"] == pytest.approx(1.0) and by_name["params"]["goal"] == "met"
    assert by_name["flops"]["spearman_accuracy"] == pytest.approx(1.0)
    assert by_name["synflow"]["cells"] == 4 and "spearman_naslib" not in by_name["synflow"]  # no such column
    scored = (out / "scores.jsonl").read_text()
    assert zero_cost.main(args) == 0 and (out / "scores.jsonl").read_text() == scored  # nothing scored twice

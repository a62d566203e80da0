"""``model-card.md``: the winner's architecture, measures, data, search and limits, and the command that reproduces it."""

from __future__ import annotations

import shlex

from conftest import make_run

from deap_cnn.runs.card import model_card, reproduce_command
from deap_cnn.runs.cli import build_parser, main
from deap_cnn.runs.config import SearchConfig, config_from_args
from deap_cnn.runs.winner import load_winner


def test_the_card_holds_what_whoever_ships_the_network_needs(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    assert main(["best", str(run)]) == 0
    assert f"model card: {run / 'model-card.md'}" in capsys.readouterr().out
    card = (run / "model-card.md").read_text()
    winner = load_winner(run)
    for fragment in (
        winner.best["genome"],
        "input 1x28x28 -> conv",
        "-> 10 classes",
        "parameters: ",
        "FLOPs per input: ",
        "ms at batch 1",
        "ms at batch 64",
        "test accuracy: 0.7500 on the test set (1000 images)",
        "held-out 10% of the training set",
        "T-shirt/top, Trouser",
        "normalisation (per channel",
        "strategy aging",
        "seed 3; 8 training(s), 8 evaluation(s); search wall time 12.5 s",
        "deap-cnn search --family devol",
        "The test set was touched once",
        "The search's fitness was accuracy on the validation split",
    ):
        assert fragment in card, fragment


def test_a_run_without_a_final_training_gets_a_card_that_says_so(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "best.pt").unlink()
    card = model_card(load_winner(run))
    assert "test accuracy: 0.7500" in card and "parameters:" not in card


def test_the_reproducing_command_parses_back_to_the_same_settings():
    config = SearchConfig(
        family="devol", widths=(4, 8), units=(16,), epochs=2, hyper=True, seed=7, out="runs/x"
    ).check()
    command = reproduce_command(config.to_dict())
    words = shlex.split(command)
    assert words[:2] == ["deap-cnn", "search"] and "--hyper" in words and "--population" not in words
    again = config_from_args(build_parser().parse_args(words[1:]))
    assert again.to_dict() == config.to_dict()


def test_the_report_shows_the_card(tmp_path):
    from deap_cnn.runs.report import write_report

    run = make_run(tmp_path / "run")
    assert main(["best", str(run)]) == 0
    write_report(run)
    page = (run / "report.html").read_text()
    assert 'id="model-card"' in page and "The test set was touched once" in page

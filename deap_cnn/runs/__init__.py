"""Runs: the run folder, its settings, results store, checkpoints, plots, report and the command line."""

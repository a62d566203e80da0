"""``python -m deap_cnn``: the ``deap-cnn`` command line (:mod:`deap_cnn.runs.cli`)."""

from deap_cnn.runs.cli import run_main  # absolute: SCOOP runs this file as a script

if __name__ == "__main__":
    run_main()

"""CNN-GA's genome on CIFAR-10 at CNN-GA's published search size.

    python -m scoop benchmarks/cifar10.py --data-dir ~/data --download
    python -m scoop -n 4 benchmarks/cifar10.py --out runs/cifar10 --resume
    python -m scoop benchmarks/cifar10.py --strategy ga       # CNN-GA's own loop: 0.9 crossover, 0.2 mutation

Population 20 and 20 generations' worth of trainings (420) with the default
strategy, aging evolution (docs/benchmarks.md, "Search quality at equal compute"),
fitness on a 10% validation split; the best architecture is retrained on the
whole training set and its test accuracy reported once. ``--help`` lists
every option.
"""

import sys

from deap_cnn.runs.cli import run_main
from deap_cnn.runs.config import SearchConfig

#: This script's defaults; every option of ``deap-cnn search`` overrides them (``--help`` lists them).
PRESET = SearchConfig(data="cifar10", data_dir="data", out="runs/cifar10", epochs=10, final_epochs=100)

if __name__ == "__main__":
    run_main(["search", *sys.argv[1:]], PRESET)

"""CNN-GA's genome on Fashion-MNIST (aging evolution by default), from a folder of the four IDX files or torchvision's downloader.

    python -m scoop benchmarks/fashion_mnist.py                # Debian's dataset-fashion-mnist
    python -m scoop benchmarks/fashion_mnist.py --data-dir data --download

The default folder is where Debian's ``dataset-fashion-mnist`` package puts
the files. 28x28 inputs allow 3 pooling units; ``--help`` lists every option.
"""

import sys

from deap_cnn.runs.cli import run_main
from deap_cnn.runs.config import SearchConfig

#: This script's defaults; every option of ``deap-cnn search`` overrides them (``--help`` lists them).
PRESET = SearchConfig(
    data="fashion-mnist",
    data_dir="/usr/share/datasets/fashion-mnist",
    out="runs/fashion-mnist",
    epochs=5,
    final_epochs=30,
)

if __name__ == "__main__":
    run_main(["search", *sys.argv[1:]], PRESET)

"""A small real search of CNN-GA's genome (aging evolution, the default) on the bundled Fashion-MNIST sample (no download).

    python -m scoop -n 2 benchmarks/sample.py        # what `make run` does

3,000 training and 1,000 test images, narrow skip units and one epoch at
batch 32 per candidate so that the whole search, the retraining of the best
network and its test accuracy fit in a few minutes on a 2-core CPU. Each run starts a new folder
under runs/ unless --out is given; `deap-cnn resume RUN` (or --resume
with the same --out) continues one.
"""

import sys
import time

from deap_cnn.runs.cli import run_main
from deap_cnn.runs.config import SearchConfig

#: This script's defaults; every option of ``deap-cnn search`` overrides them (``--help`` lists them).
PRESET = SearchConfig(
    data="sample",
    out=time.strftime("runs/sample-%Y%m%d-%H%M%S"),
    population=6,
    generations=3,
    widths=(16, 32, 64),
    max_skip_units=4,
    # One epoch at batch 32 ranked 12 random genomes of this space against 6-epoch trainings with
    # Kendall's tau 0.80 ± 0.02, as well as 3 epochs at batch 128 (0.80 ± 0.02) for a third of the
    # compute (benchmarks/fidelity.py; docs/benchmarks.md, "Short trainings that rank right").
    epochs=1,
    batch_size=32,
    final_epochs=6,
)

if __name__ == "__main__":
    run_main(["search", *sys.argv[1:]], PRESET)

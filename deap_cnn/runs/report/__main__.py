"""``python -m deap_cnn.runs.report RUN [--serve]``."""

import sys

from deap_cnn.runs.report.cli import main

if __name__ == "__main__":
    sys.exit(main())

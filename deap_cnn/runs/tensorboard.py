"""Optional TensorBoard logging of a run: each candidate's validation curves and the genome/fitness table.

``deap-cnn search --tensorboard`` writes event files under ``RUN/tensorboard/``
after every generation, for users who watch runs in TensorBoard
(``tensorboard --logdir RUN/tensorboard``): one scalar series per candidate
(validation accuracy and loss per epoch) and one HParams row per candidate
(genome, status, parameters, FLOPs against fitness and seconds). Needs the
``tensorboard`` package (``pip install deap_cnn[tensorboard]``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

__all__ = ["TensorBoardLog", "TensorBoardMissing"]


class TensorBoardMissing(RuntimeError):
    """``--tensorboard`` was asked for without the ``tensorboard`` package."""


class TensorBoardLog:
    """Writes the evaluations a results store gained since the last call as TensorBoard events."""

    def __init__(self, run_dir):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TensorBoardMissing(
                "--tensorboard needs the tensorboard package: pip install tensorboard (or deap_cnn[tensorboard])"
            ) from None
        self.store = Path(run_dir) / "results.sqlite"
        self.logdir = Path(run_dir) / "tensorboard"
        self._writer_class = SummaryWriter
        self.writer = SummaryWriter(str(self.logdir / "candidates"))
        self.last_id = 0

    def _new_rows(self) -> list[dict]:
        if not self.store.exists():
            return []
        with sqlite3.connect(f"file:{self.store}?mode=ro", uri=True) as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute("SELECT * FROM evaluations WHERE id > ? ORDER BY id", (self.last_id,))
            return [dict(row) for row in rows.fetchall()]

    def update(self) -> int:
        """Log the new evaluations; return how many."""
        rows = self._new_rows()
        for row in rows:
            self.last_id = max(self.last_id, row["id"])
            tag = f"{row['id']:05d} {row['genome']}"[:200]
            for name in ("val_accuracy", "val_loss"):
                for epoch, value in enumerate(json.loads(row[name] or "[]"), start=1):
                    self.writer.add_scalar(f"{name}/{tag}", value, epoch)
            fitness = json.loads(row["fitness"])
            hparams = {"genome": row["genome"], "status": row["status"] or "ok", "generation": row["generation"] or 0}
            metrics = {
                "hparam/fitness": float(fitness[0]),
                "hparam/seconds": float(row["seconds"] or 0.0),
                "hparam/parameters": float(row["parameters"] or 0),
            }
            self.writer.add_hparams(hparams, metrics, run_name=f"hparams/{row['id']:05d}")
        self.writer.flush()
        return len(rows)

    def close(self):
        self.writer.close()

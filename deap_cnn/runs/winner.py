"""A finished run's winner as something to ship: its trained network with the input normalisation, its data, its export.

``best.json`` and ``best.pt`` (the final training's weights) describe the
network; ``config.json`` says where the data lives. The normalisation is
the one the final training applied: the whole training set's mean and
standard deviation, saved in ``best.json`` (``normalisation``) since
deap_cnn 0.3 and measured again from the run's data for an older run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .folder import RunFolder, RunFolderError

__all__ = ["Winner", "load_winner", "normalisation_of"]

#: Inputs of the run's own data that an export is checked on.
CHECK_BATCH = 64


def normalisation_of(dataset) -> dict:
    """The final training's statistics of ``dataset`` (its whole training set), as ``best.json`` keeps them."""
    from ..training.device_data import channel_stats, feature_stats

    images = dataset.x_train.ndim == 4
    mean, std = (channel_stats if images else feature_stats)(dataset.x_train)
    return {
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "per": "channel" if images else "feature",
        "input": "float32 raw pixels in [0, 255], (N, C, H, W)" if images else "float32 raw features, (N, F)",
    }


@dataclass
class Winner:
    """The best architecture of the run in ``folder``: ``best.json``'s description and the run's settings."""

    folder: RunFolder
    best: dict
    config: dict
    _dataset: object = field(default=None, repr=False)

    @property
    def weights(self) -> Path:
        return self.folder.file("best.pt")

    @property
    def images(self) -> bool:
        return len(self.best["input_shape"]) == 3

    @property
    def classes(self) -> list:
        return list(self.best.get("classes") or range(self.best["n_classes"]))

    def dataset(self):
        """The run's data, read as the run read it (``--data``, ``--data-dir``); never downloaded here."""
        if self._dataset is None:
            from ..training.sources import DataSource, load_data

            self._dataset = load_data(DataSource(self.config.get("data", "sample"), root=self.config.get("data_dir")))
        return self._dataset

    def normalisation(self) -> dict:
        """``best.json``'s ``normalisation``, else measured on the run's training set as the final training did."""
        return self.best.get("normalisation") or normalisation_of(self.dataset())

    def network(self):
        """The retrained PyTorch network, in eval mode (inputs normalised as the trainer fed them)."""
        from ..training.models import load_network

        if not self.weights.exists():
            raise RunFolderError(
                f"{self.folder.path} has no retrained weights (best.pt): the run used --final-epochs 0 or a "
                "--lookup table; start a run with --final-epochs 1 or more to get a network to ship"
            )
        return load_network(self.weights).eval()

    def deployable(self):
        """The network with the normalisation folded in: raw pixels (or features) in, logits out."""
        from ..training.export import Normalised

        stats = self.normalisation()
        return Normalised(self.network(), stats["mean"], stats["std"], images=self.images).eval()

    def sample(self, count: int = CHECK_BATCH):
        """The first ``count`` training inputs of the run's data, float32, raw (what an exported network takes)."""
        return self.dataset().x_train[:count].float()

    def export(self, path) -> dict:
        """Write the winner to ``path`` in the format its suffix names, checked on :meth:`sample`; see
        :mod:`deap_cnn.training.export`. ``.pt`` copies ``best.pt`` and its JSON (``load_network`` reads them)."""
        from ..training.export import export_format, export_network

        target = Path(os.path.abspath(path))
        if export_format(target) == ".pt":
            return self._copy_weights(target)
        batch = self.sample()
        return export_network(self.deployable(), target, batch[:2], check=batch)

    def _copy_weights(self, target: Path) -> dict:
        import json

        self.network()  # refuses a run without best.pt
        shutil.copyfile(self.weights, target)
        description = self.folder.read_json("best.json")
        description["weights"] = target.name
        target.with_suffix(".json").write_text(json.dumps(description, indent=2))
        return {"format": ".pt", "path": str(target), "json": str(target.with_suffix(".json"))}


def load_winner(run) -> Winner:
    """The :class:`Winner` of the run folder ``run`` (a finished run: it needs ``best.json``)."""
    folder = RunFolder(run)
    best = folder.read_json("best.json")
    config = folder.read_json("config.json") if folder.config_file.exists() else {}
    return Winner(folder, best, config)

"""``deap-cnn predict RUN IMAGES...``: the winner's class and probability for each image file.

Each image is read as the run's data was: converted to its channels (gray,
RGB or RGBA) and resized to its height and width; the winner's network
(with the training's normalisation folded in, :mod:`deap_cnn.runs.winner`)
or its exported ONNX file then scores it, and the data's class names name
the answer. A file that cannot be read gets one line on stderr and the rest
go on.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from .folder import RunFolderError

__all__ = ["image_files", "read_image", "predict"]

#: Images scored at once.
BATCH = 64

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def image_files(paths) -> tuple[list[Path], list[str]]:
    """The files ``paths`` name, a folder giving its image files (sorted, recursively); and a line per missing path."""
    from ..training.loaders import IMAGE_SUFFIXES

    files, problems = [], []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(f"{path}: a folder without image files ({', '.join(IMAGE_SUFFIXES)}); skipped")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder; skipped")
    return files, problems


def read_image(path, input_shape) -> np.ndarray:
    """``path`` as float32 raw pixels ``(C, H, W)`` on the ``[0, 255]`` scale, in the run's channels and size.

    Raises ``OSError`` or ``ValueError`` (PIL's) when the file is no image.
    """
    from PIL import Image

    channels, height, width = input_shape
    with Image.open(path) as image:
        image = image.convert(_MODES[channels])
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.float32)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _scorer(winner, model_format: str, model_path):
    """A function from a float32 ``(N, C, H, W)`` batch to logits: PyTorch, or the exported ONNX file."""
    if model_format == "onnx":
        from ..training.export import load_exported

        path = Path(model_path) if model_path else winner.folder.file("best.onnx")
        if not path.exists():
            if model_path:
                raise RunFolderError(f"--model {path} does not exist: write it with deap-cnn best RUN --export {path}")
            done = winner.export(path)
            print(f"exported {path} (checked on {done['images']} inputs of the run's data)", file=sys.stderr)
        return load_exported(path)
    import torch

    model = winner.deployable()

    def run(batch):
        with torch.no_grad():
            return model(torch.from_numpy(batch)).numpy()

    return run


def predict(run, paths, model_format: str = "pytorch", model_path=None, out=None) -> int:
    """Print (or write to the CSV ``out``) ``image, class, probability`` for each image; return the exit status.

    0 when every image was scored, 1 when some could not be read (each got
    a line on stderr, the others were scored), or none could.
    """
    from .winner import load_winner

    winner = load_winner(run)
    if not winner.images:
        raise RunFolderError(
            f"{run}: the winner takes feature vectors ({winner.best['input_shape'][0]} features, family "
            f"{winner.best.get('family')}), not images; predict reads image files (load the network with "
            "deap_cnn.training.models.load_network to score vectors)"
        )
    files, problems = image_files(paths)
    shape = tuple(winner.best["input_shape"])
    readable, arrays = [], []
    for file in files:
        try:
            arrays.append(read_image(file, shape))
            readable.append(file)
        except (OSError, ValueError) as error:
            problems.append(f"{file}: cannot read the image ({error}); skipped")
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    if not readable:
        raise RunFolderError(f"no image to score among {' '.join(map(str, paths))}: pass image files or folders")
    score = _scorer(winner, model_format, model_path)
    classes = [str(name) for name in winner.classes]
    rows = []
    for start in range(0, len(arrays), BATCH):
        logits = score(np.stack(arrays[start : start + BATCH]))
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        for file, row in zip(readable[start : start + BATCH], probabilities, strict=True):
            label = int(row.argmax())
            rows.append((str(file), classes[label], round(float(row[label]), 4)))
    if out:
        with open(out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("image", "class", "probability"))
            writer.writerows(rows)
        print(f"wrote {len(rows)} prediction(s) to {out}")
    else:
        for file, label, probability in rows:
            print(f"{file}\t{label}\t{probability:.4f}")
    return 1 if problems else 0

"""Inference latency of a run's winner: ONNX Runtime against PyTorch on this CPU, at batch 1 and 64.

Exports the winner of RUN to ONNX (checked against PyTorch on the run's
data, as ``deap-cnn best RUN --export`` does), then times both runtimes on
the same raw-pixel batches (the normalisation folded in for both): a few
untimed passes first, then ``--repeats`` rounds of ``--calls`` calls each,
alternating the two runtimes, and the median round counts. PyTorch runs
eval mode without gradients at its default thread count; ONNX Runtime gets
the same number of intra-op threads (``--threads`` sets both: on a
machine other jobs share, PyTorch's spinning OpenMP threads lose most to
the contention, so compare at ``--threads 1`` there).

    python benchmarks/deploy.py RUN [--batches 1 64] [--repeats 7] [--calls 20] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deap_cnn.runs.cli import run_guarded
from deap_cnn.runs.winner import load_winner


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a finished run folder with retrained weights (best.pt)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="batch sizes to time")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per runtime and batch; the median counts")
    parser.add_argument("--calls", type=int, default=20, help="forward passes per round")
    parser.add_argument("--threads", type=int, default=None, help="threads for both runtimes (default: torch's)")
    return parser.parse_args(argv)


def round_ms(run, batch, calls: int) -> float:
    """Milliseconds per call of ``run(batch)`` over ``calls`` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        run(batch)
    return 1000 * (time.perf_counter() - started) / calls


def main(argv=None):
    args = parse_args(argv)
    import onnxruntime

    winner = load_winner(args.run)
    model = winner.deployable()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "winner.onnx"
        checked = winner.export(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def onnx_run(batch):
        return session.run(None, {name: batch})[0]

    def torch_run(batch):
        with torch.no_grad():
            return model(torch.from_numpy(batch))

    print(
        f"{winner.best['genome']} ({winner.best.get('family', 'cnn-ga')}); ONNX export checked on "
        f"{checked['images']} inputs: largest logit difference {checked['max_difference']:.2g}; "
        f"{threads} thread(s), onnxruntime {onnxruntime.__version__}, torch {torch.__version__}"
    )
    data = winner.sample(max(args.batches)).numpy()
    for size in args.batches:
        batch = np.ascontiguousarray(np.resize(data, (size, *data.shape[1:])), dtype=np.float32)
        rounds = {"pytorch": [], "onnxruntime": []}
        for run in (torch_run, onnx_run):  # warm-up: allocators, kernel choices
            round_ms(run, batch, 3)
        for _ in range(args.repeats):
            rounds["pytorch"].append(round_ms(torch_run, batch, args.calls))
            rounds["onnxruntime"].append(round_ms(onnx_run, batch, args.calls))
        median = {runtime: statistics.median(times) for runtime, times in rounds.items()}
        print(
            f"batch {size:3d}: pytorch {median['pytorch']:8.3f} ms, onnxruntime {median['onnxruntime']:8.3f} ms; "
            f"onnxruntime / pytorch latency {median['onnxruntime'] / median['pytorch']:.2f} "
            f"({median['pytorch'] / median['onnxruntime']:.2f}x as fast)"
        )


if __name__ == "__main__":
    run_guarded(main)

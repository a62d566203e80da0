"""``python -m deap_cnn.runs.report RUN [--serve]`` (also ``deap-cnn report``): write the page or serve it live."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from pathlib import Path

from .page import write_report
from .run_data import REPORT_NAME, ReportError
from .server import serve

__all__ = ["add_report_arguments", "main", "run_report"]


def add_report_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The report's arguments, on this command line's parser and on ``deap-cnn report``'s alike."""
    parser.add_argument("run", metavar="RUN", help="the run folder (running, finished, failed or interrupted)")
    parser.add_argument("--serve", action="store_true", help="serve the page and refresh it as the run goes on")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on with --serve (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (0: any free one; default 8000)")
    parser.add_argument("--out", default=None, help="write the page here instead of RUN/report.html")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deap_cnn.runs.report",
        description="Write a run folder's report.html (self-contained), or serve it live.",
    )
    return add_report_arguments(parser)


def main(argv=None) -> int:
    """The command line; returns the exit status (1: not a run folder, or the report could not be made)."""
    return run_report(build_parser().parse_args(argv))


def run_report(args) -> int:
    """Write or serve the report of the arguments :func:`add_report_arguments` defines; the exit status."""
    for stream in (sys.stdout, sys.stderr):  # a path that is not UTF-8 prints escaped, never as a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        if args.serve:
            serve(args.run, args.host, args.port)
        else:
            print(write_report(args.run, args.out or None))  # --out "": the default, as no --out
    except ReportError as error:  # a folder problem: 1, as every other run folder problem (docs/failures.md)
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        where = f"{args.host}:{args.port}" if args.serve else (args.out or Path(args.run) / REPORT_NAME)
        fix = "choose another --port (0: any free one)" if args.serve else "choose a writable --out"
        if args.serve and error.errno in (errno.EADDRNOTAVAIL, errno.EINVAL) or isinstance(error, socket.gaierror):
            fix = f"--host {args.host} is not an address of this machine: use 127.0.0.1, or 0.0.0.0 for every interface"
        print(
            f"error: cannot {'serve at' if args.serve else 'write'} {where} ({error.strerror or error}): {fix}",
            file=sys.stderr,
        )
        return 1
    return 0

"""A genome's canonical text as boxes to draw, for every family (CNN-GA units, DEvol and dense layers, hyper genes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .palette import BLUE, GREEN, GREY, ORANGE, PURPLE
from .run_data import gene_values


@dataclass
class Unit:
    """One box of a genome diagram."""

    title: str
    detail: str = ""
    colour: str = GREY
    off: bool = False


def genome_units(text: str) -> list[Unit]:
    """The units of a genome text, for any family; an unknown text gives one box per ``-`` token."""
    text = text.strip()
    if gene_values(text) is not None and "|" not in text:
        return [Unit(key, _format_gene(value), PURPLE) for key, value in gene_values(text).items()]
    arch, hyper = text, None
    if "|" in text and gene_values(text) is not None:
        arch, _, hyper = text.rpartition("|")
    units = _devol_units(arch) or _token_units(arch)
    if hyper:
        units.append(Unit("hyperparameters", " ".join(hyper.split(",")), PURPLE))
    return units


def _format_gene(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_CNN_GA = re.compile(r"^(?:S(?P<width>[0-9]+)|P(?P<pool>[a-z]+))$")


_DENSE_LAYER = re.compile(r"^(?P<units>[0-9]+):(?P<act>[a-z_]+):(?P<drop>[0-9.e-]+)$")


_DEVOL_LAYER = re.compile(r"^(?P<kind>[CD])(?P<on>[+-])(?P<size>[0-9]+),(?P<rest>.*)$")


def _token_units(text: str) -> list[Unit]:
    """CNN-GA (``S64-Pmax``), dense (``256:relu:0.2``) or unknown tokens, split on ``-``."""
    units = []
    for token in _split_dashes(text):
        cnn, dense = _CNN_GA.match(token), _DENSE_LAYER.match(token)
        if cnn and cnn["width"]:
            units.append(Unit(f"skip {cnn['width']}", "2 conv 3x3 + shortcut", BLUE))
        elif cnn:
            units.append(Unit(f"{cnn['pool']} pool", "2x2, stride 2", ORANGE))
        elif dense:
            units.append(
                Unit(
                    f"dense {dense['units']}",
                    f"{dense['act']}, dropout {dense['drop']}",
                    GREEN,
                )
            )
        else:
            units.append(Unit(token or "(empty)"))
    return units


def _split_dashes(text: str) -> list[str]:
    """Split on ``-``, but not on an exponent's minus (a dropout of ``1e-05``)."""
    return re.split(r"(?<![0-9]e)-", text) if text else []


def _devol_units(text: str) -> list[Unit]:
    """DEvol's ``C+32,relu,0.25,bn,mp|D-64,...|adam``: a box per layer (off layers faded), then the optimiser."""
    tokens = text.split("|")
    if len(tokens) < 2 or not all(_DEVOL_LAYER.match(token) for token in tokens[:-1]):
        return []
    units = []
    for token in tokens[:-1]:
        match = _DEVOL_LAYER.match(token)
        parts = match["rest"].split(",")
        detail = ", ".join(part for part in parts if part != "-")
        kind = "conv" if match["kind"] == "C" else "dense"
        colour = BLUE if kind == "conv" else GREEN
        units.append(Unit(f"{kind} {match['size']}", detail, colour, off=match["on"] == "-"))
    units.append(Unit("optimiser", tokens[-1], PURPLE))
    return units

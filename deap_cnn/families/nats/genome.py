"""The NAS-Bench-201 / NATS-Bench topology cell: six edges, each one operation, and its architecture string."""

from __future__ import annotations

import re

from ..base import GenomeError

__all__ = ["OPERATIONS", "EDGES", "CellGenome"]

#: The operations an edge may take, as the benchmark names them.
OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

#: The cell's edges as ``(to node, from node)``, in the order of the architecture string (and of the genome).
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

_EDGE = re.compile(r"^(?P<op>[a-z0-9_]+)~(?P<source>[0-9]+)$")


class CellGenome(list):
    """Six operation names, one per edge of :data:`EDGES`.

    ``str(genome)`` is the benchmark's own architecture string, e.g.
    ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``
    (node 1's input edge, then node 2's two, then node 3's three), and
    :meth:`from_string` reads it back: ``CellGenome.from_string(str(g)) == g``.
    So the canonical text is the key of a benchmark table too.
    """

    __slots__ = ()

    def __init__(self, operations=()):
        operations = list(operations)
        for op in operations:
            if not isinstance(op, str):
                raise GenomeError(f"a cell genome holds operation names (text), got {op!r}")
        super().__init__(operations)

    @classmethod
    def from_string(cls, text: str):
        """Parse an architecture string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        if not isinstance(text, str) or not text.strip():
            raise GenomeError(f"a cell genome string must be non-empty, like {example!r}, got {text!r}")
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise GenomeError(
                f"cannot parse cell {text!r}: expected 3 nodes separated by '+' (like {example!r}), got {len(nodes)}"
            )
        operations = []
        for node, part in enumerate(nodes, start=1):
            if not (part.startswith("|") and part.endswith("|")):
                raise GenomeError(f"cannot parse cell {text!r}: node {node}'s edges must be written |op~source|...|")
            edges = part[1:-1].split("|")
            if len(edges) != node:
                raise GenomeError(
                    f"cannot parse cell {text!r}: node {node} needs {node} input edge(s), got {len(edges)}"
                )
            for source, edge in enumerate(edges):
                match = _EDGE.match(edge)
                if match is None or int(match["source"]) != source:
                    raise GenomeError(f"cannot parse cell {text!r}: edge {edge!r} of node {node} must be 'op~{source}'")
                operations.append(match["op"])
        return cls(operations)

    def __str__(self):
        if len(self) != len(EDGES):
            return "|" + "|".join(self) + "|"  # not a cell; the space's rules name what is wrong
        nodes = {}
        for op, (to, source) in zip(self, EDGES, strict=True):
            nodes.setdefault(to, []).append(f"{op}~{source}")
        return "+".join("|" + "|".join(edges) + "|" for edges in nodes.values())

    def __repr__(self):
        return f"{type(self).__name__}.from_string({str(self)!r})"

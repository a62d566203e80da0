"""A data-only encoding of search states as JSON: what a checkpoint holds, and nothing that can run code.

A pickle names any importable callable and calls it while it loads, so a
crafted ``checkpoint.pkl`` runs whatever its author chose. This encoding
names only an allowlist of kinds, each rebuilt here from plain data:

- *dict*: a JSON object (string keys), or ``{"$": "dict", "items": [[k, v], ...]}``;
- *list*: a JSON array;
- *tuple, set, frozenset, deque, bytes, float nan/inf, numpy arrays and
  scalars, torch tensors*: ``{"$": kind, ...}`` with their items, bytes as
  base64;
- *individual*: the DEAP individual's type name in :mod:`deap.creator`, its
  genome text (parsed with the genome class's ``from_string``), its fitness
  values and its other attributes (``parent``, ``rung``, ``cost``);
- *fitness*: a fitness type of :mod:`deap.creator` and its values;
- *logbook, halloffame, paretofront*: DEAP's, rebuilt from their rows or
  members;
- *proposer*: a steady-state proposer (a
  :class:`deap_cnn.search.steady.Proposer` subclass) by its ``name``, with its
  attributes; a function it holds (``encode``, ``neighbours``) is not saved
  but taken from the proposer the resuming run builds (:func:`adopt_live`).

Decoding creates instances of these types only; it never imports a module
or calls a function the file names.
"""

from __future__ import annotations

import base64
import math
from collections import defaultdict, deque

__all__ = ["CodecError", "LIVE", "encode", "decode", "adopt_live"]

TAG = "$"


class CodecError(ValueError):
    """A value of a kind the checkpoint format does not hold, or a document that is not one of its encodings."""


class _Live:
    """Stands for a function a proposer held: the resuming run's own proposer supplies it again."""

    def __repr__(self):
        return "LIVE"

    def __reduce__(self):
        return "LIVE"


LIVE = _Live()


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text) -> bytes:
    if not isinstance(text, str):
        raise CodecError("base64 data must be text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def encode(value, memo=None):
    """``value`` as JSON-ready data (raises :class:`CodecError` for a kind outside the allowlist).

    An individual met again (one object in the population and the hall of
    fame, say) is encoded once and referred to after: decoding gives one
    object again.
    """
    from deap import tools

    memo = {} if memo is None else memo

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) else {TAG: "float", "value": repr(value)}
    if isinstance(value, tools.Logbook):
        return _encode_logbook(value, memo)
    if isinstance(value, tools.ParetoFront):
        return {TAG: "paretofront", "items": [encode(i, memo) for i in value.items]}
    if isinstance(value, tools.HallOfFame):
        return {TAG: "halloffame", "maxsize": value.maxsize, "items": [encode(i, memo) for i in value.items]}
    if _is_individual(value):
        return _encode_individual(value, memo)
    if _is_fitness(value):
        return {TAG: "fitness", "type": type(value).__name__, "weights": list(value.weights),
                "values": [encode(v, memo) for v in value.values]}  # fmt: skip
    genome_name = _genome_name(value)
    if genome_name is not None:  # a plain genome (local search's queue of neighbours)
        extra = getattr(value, "__dict__", {})
        return {TAG: "genome", "class": genome_name, "text": str(value),
                "attributes": {k: encode(v, memo) for k, v in extra.items() if k not in _text_attributes(type(value))}}  # fmt: skip
    proposer = _proposer_name(value)
    if proposer is not None:
        state = value.__getstate__() or {}
        return {TAG: "proposer", "name": proposer, "state": {k: encode(v, memo) for k, v in dict(state).items()}}
    if type(value) is dict or isinstance(value, defaultdict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: encode(v, memo) for k, v in value.items()}
        return {TAG: "dict", "items": [[encode(k, memo), encode(v, memo)] for k, v in value.items()]}
    if type(value) is list:
        return [encode(v, memo) for v in value]
    if type(value) is tuple:
        return {TAG: "tuple", "items": [encode(v, memo) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {TAG: type(value).__name__, "items": [encode(v, memo) for v in value]}
    if isinstance(value, deque):
        return {TAG: "deque", "items": [encode(v, memo) for v in value], "maxlen": value.maxlen}
    if isinstance(value, (bytes, bytearray)):
        return {TAG: "bytes", "b64": _b64(value)}
    kind = type(value).__module__.split(".")[0]
    if kind == "numpy":
        import numpy

        if isinstance(value, numpy.ndarray):
            if value.dtype.kind not in "biuf":
                raise CodecError(f"a numpy array of {value.dtype} cannot go into a checkpoint")
            return {TAG: "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                    "b64": _b64(numpy.ascontiguousarray(value).tobytes())}  # fmt: skip
        if isinstance(value, numpy.generic):
            return encode(value.item(), memo)
    if kind == "torch":
        import torch

        if isinstance(value, torch.Tensor):
            array = value.detach().cpu().contiguous().numpy()
            return {TAG: "tensor", "dtype": array.dtype.str, "shape": list(array.shape), "b64": _b64(array.tobytes())}
    if callable(value):
        return {TAG: "live"}
    raise CodecError(f"a {type(value).__module__}.{type(value).__qualname__} cannot go into a checkpoint")


def _encode_logbook(logbook, memo):
    return {
        TAG: "logbook",
        "rows": [encode(dict(row), memo) for row in logbook],
        "header": encode(logbook.header, memo),
        "log_header": bool(getattr(logbook, "log_header", True)),
        "buffindex": int(getattr(logbook, "buffindex", 0)),
        "chapters": {name: _encode_logbook(chapter, memo) for name, chapter in logbook.chapters.items()},
    }


def _is_individual(value) -> bool:
    from deap import creator

    kind = type(value)
    return kind.__module__ == creator.__name__ and hasattr(value, "fitness") and not _is_fitness(value)


def _is_fitness(value) -> bool:
    from deap import base

    return isinstance(value, base.Fitness)


def _encode_individual(individual, memo):
    if id(individual) in memo:
        return {TAG: "ref", "index": memo[id(individual)][0]}
    memo[id(individual)] = (len(memo), individual)  # the object is kept alive, so its id stays its own
    kind = type(individual)
    extra = {k: v for k, v in vars(individual).items() if k != "fitness" and k not in _text_attributes(kind)}
    fitness = individual.fitness
    return {
        TAG: "individual",
        "type": kind.__name__,
        "genome": _genome_class(kind).__name__,
        "weights": list(fitness.weights),
        "text": str(individual),
        "fitness": [encode(v, memo) for v in fitness.values] if fitness.valid else None,
        "attributes": {k: encode(v, memo) for k, v in extra.items()},
    }


_TEXT_ATTRIBUTES = {}


def _text_attributes(kind) -> frozenset:
    """Attributes a genome's text carries already (hyperparameter genes): parsing the text restores them."""
    if kind not in _TEXT_ATTRIBUTES:
        try:
            base = kind if kind.__module__ != "deap.creator" else _genome_class(kind)
            names = frozenset(getattr(base(), "__dict__", {}))
        except Exception:  # noqa: BLE001 - a genome without an empty form: the attributes are all encoded
            names = frozenset(("hyper",))
        _TEXT_ATTRIBUTES[kind] = names
    return _TEXT_ATTRIBUTES[kind]


def _genome_class(kind):
    """The genome class a creator individual type derives from (the first base with ``from_string``)."""
    for base in kind.__mro__[1:]:
        if callable(getattr(base, "from_string", None)):
            return base
    raise CodecError(f"individuals of {kind.__name__} have no genome class with from_string: they cannot be saved")


def _genome_classes() -> dict:
    """The genome classes of the registered families, and the classes they derive from that parse text, by name."""
    from ..families.registry import _FAMILIES

    found = {}
    for family in _FAMILIES.values():
        for kind in family.genome_class.__mro__:
            if callable(getattr(kind, "from_string", None)) and kind.__module__ != "deap.creator":
                found.setdefault(kind.__name__, kind)
    return found


def _genome_name(value):
    name = type(value).__name__
    return name if isinstance(value, list) and _genome_classes().get(name) is type(value) else None


def _decode_genome(data, memo):
    kind = _genome_classes().get(data["class"])
    if kind is None:
        raise CodecError(f"unknown genome class {data['class']!r}")
    genome = kind.from_string(data["text"])
    for name, value in data["attributes"].items():
        if name.startswith("__"):
            raise CodecError(f"genome attribute {name!r}")
        setattr(genome, name, decode(value, memo))
    return genome


def _proposer_name(value):
    from .steady import Proposer

    if isinstance(value, Proposer):
        name = getattr(type(value), "name", None)
        if _proposers().get(name) is not type(value):
            raise CodecError(f"proposer {type(value).__qualname__} needs a name of its own to go into a checkpoint")
        return name
    return None


def _proposers() -> dict:
    """Every :class:`Proposer` subclass imported so far, by ``name``."""
    from . import aging, baselines, local, surrogate  # noqa: F401 - the built-in proposers register by import
    from .steady import Proposer

    found, todo = {}, list(Proposer.__subclasses__())
    while todo:
        kind = todo.pop()
        found.setdefault(getattr(kind, "name", None), kind)
        todo.extend(kind.__subclasses__())
    return found


def decode(data, memo=None):
    """The value :func:`encode` encoded (raises :class:`CodecError` for anything else)."""
    memo = [] if memo is None else memo
    if data is None or isinstance(data, (bool, str, int, float)):
        return data
    if isinstance(data, list):
        return [decode(v, memo) for v in data]
    if not isinstance(data, dict):
        raise CodecError(f"unexpected {type(data).__name__} in a checkpoint")
    if TAG not in data:
        return {k: decode(v, memo) for k, v in data.items()}
    kind = data[TAG]
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise CodecError(f"unknown kind {kind!r} in a checkpoint")
    try:
        return decoder(data, memo)
    except CodecError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CodecError(f"a {kind} in the checkpoint cannot be read ({type(error).__name__}: {error})") from None


def _items(data, memo):
    items = data["items"]
    if not isinstance(items, list):
        raise CodecError("items must be a list")
    return [decode(v, memo) for v in items]


def _decode_float(data, memo):
    text = data["value"]
    if text not in ("nan", "inf", "-inf"):
        raise CodecError(f"not a float: {text!r}")
    return float(text)


def _decode_array(data, memo):
    import numpy

    dtype = numpy.dtype(data["dtype"])
    if dtype.kind not in "biuf":
        raise CodecError(f"arrays of {dtype} are not held in checkpoints")
    return numpy.frombuffer(_unb64(data["b64"]), dtype=dtype).reshape([int(n) for n in data["shape"]]).copy()


def _decode_tensor(data, memo):
    import torch

    return torch.from_numpy(_decode_array(data, memo))


def _decode_logbook(data, memo):
    from deap import tools

    logbook = tools.Logbook()
    for row in data["rows"]:
        logbook.append(decode(row, memo))
    logbook.header = decode(data["header"], memo)
    logbook.log_header = bool(data["log_header"])
    logbook.buffindex = int(data["buffindex"])
    for name, chapter in data["chapters"].items():
        logbook.chapters[name] = _decode_logbook(chapter, memo)
    return logbook


def _decode_halloffame(data, memo):
    from deap import tools

    hof = tools.HallOfFame(int(data["maxsize"]))
    _fill_halloffame(hof, _items(data, memo))
    return hof


def _decode_paretofront(data, memo):
    from deap import tools

    front = tools.ParetoFront()
    _fill_halloffame(front, _items(data, memo))
    return front


def _fill_halloffame(hof, members):
    import copy

    hof.items.extend(members)  # best first
    hof.keys.extend(copy.deepcopy(member.fitness) for member in reversed(members))  # DEAP keeps keys worst first


def _creator_type(name, weights, genome_name=None):
    from deap import base, creator

    kind = getattr(creator, str(name), None)
    if isinstance(kind, type) and kind.__module__ == creator.__name__:
        return kind
    if genome_name is None:  # a fitness type no process made yet: make it as individual_type would
        if not str(name).replace("_", "").isalnum():
            raise CodecError(f"fitness type name {name!r}")
        creator.create(str(name), base.Fitness, weights=tuple(float(w) for w in weights))
        return getattr(creator, str(name))
    from ..families.registry import _FAMILIES, individual_type

    for family in _FAMILIES.values():  # a family's individual type this process has not made yet
        if family.genome_class.__name__ == genome_name:
            made = individual_type(family.genome_class, weights)
            if made.__name__ == name:
                return made
    raise CodecError(
        f"the checkpoint holds individuals of {name}, a type this program has not created "
        "(create it with deap.creator before resuming, as the run that wrote the checkpoint did)"
    )


def _decode_individual(data, memo):
    from ..families.registry import as_individual

    kind = _creator_type(data["type"], data["weights"], data["genome"])
    slot = len(memo)
    memo.append(None)
    genome = _genome_class(kind).from_string(data["text"])
    individual = as_individual(kind, genome)
    if data["fitness"] is not None:
        individual.fitness.values = tuple(decode(v, memo) for v in data["fitness"])
    attributes = data["attributes"]
    if not isinstance(attributes, dict):
        raise CodecError("individual attributes must be an object")
    for name, value in attributes.items():
        if name == "fitness" or name.startswith("__"):
            raise CodecError(f"individual attribute {name!r}")
        setattr(individual, name, decode(value, memo))
    memo[slot] = individual
    return individual


def _decode_fitness(data, memo):
    fitness = _creator_type(data["type"], data["weights"])()
    values = tuple(decode(v, memo) for v in data["values"])
    if values:
        fitness.values = values
    return fitness


def _decode_proposer(data, memo):
    kind = _proposers().get(data["name"])
    if kind is None:
        raise CodecError(f"unknown proposer {data['name']!r}")
    proposer = kind.__new__(kind)
    state = data["state"]
    if not isinstance(state, dict):
        raise CodecError("proposer state must be an object")
    for name, value in state.items():
        if name.startswith("__"):
            raise CodecError(f"proposer attribute {name!r}")
        proposer.__dict__[name] = decode(value, memo)
    return proposer


def _decode_dict(data, memo):
    return {decode(k, memo): decode(v, memo) for k, v in data["items"]}


def _decode_ref(data, memo):
    index = data["index"]
    if not isinstance(index, int) or not 0 <= index < len(memo) or memo[index] is None:
        raise CodecError(f"reference to individual {index!r}, which comes later or not at all")
    return memo[index]


_DECODERS = {
    "float": _decode_float,
    "dict": _decode_dict,
    "tuple": lambda data, memo: tuple(_items(data, memo)),
    "set": lambda data, memo: set(_items(data, memo)),
    "frozenset": lambda data, memo: frozenset(_items(data, memo)),
    "deque": lambda data, memo: deque(_items(data, memo), data.get("maxlen")),
    "bytes": lambda data, memo: _unb64(data["b64"]),
    "ndarray": _decode_array,
    "tensor": _decode_tensor,
    "logbook": _decode_logbook,
    "halloffame": _decode_halloffame,
    "paretofront": _decode_paretofront,
    "individual": _decode_individual,
    "fitness": _decode_fitness,
    "proposer": _decode_proposer,
    "genome": _decode_genome,
    "live": lambda data, memo: LIVE,
    "ref": _decode_ref,
}


def adopt_live(saved, fresh):
    """Give ``saved`` (a decoded proposer) the functions ``fresh`` (the resuming run's own) holds; return ``saved``.

    A function is never stored in a checkpoint: where the saved proposer held
    one (:data:`LIVE`), the new run's proposer, built from the same family and
    space, holds the same one.
    """
    from .steady import Proposer

    if not isinstance(saved, Proposer):
        return saved
    for name, value in list(vars(saved).items()):
        if value is LIVE:
            setattr(saved, name, getattr(fresh, name, None))
        elif isinstance(value, Proposer):
            adopt_live(value, getattr(fresh, name, None))
    return saved

"""What every genome family shares: the errors, the rule-checking mixin of search spaces, small checks."""

from __future__ import annotations

import math

__all__ = [
    "GenomeError",
    "SearchSpaceError",
    "GenomeRules",
    "finite_or_none",
    "is_int",
    "is_number",
    "is_real",
    "max_pool_units_for",
    "one_hot",
    "qualified_name",
]


class GenomeError(ValueError):
    """A genome (or its text) breaks a rule; the message names the rule and the value."""


class SearchSpaceError(ValueError):
    """The search space itself is inconsistent; the message names the setting and the value."""


# Small checks every layer shares (families, training, lookup, runs); this is the lowest layer, free of torch.


def is_int(value) -> bool:
    """A true integer: ``bool`` is an ``int`` subclass but never a valid count or size here."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value) -> bool:
    """An ``int`` or ``float`` (``nan`` and infinities included), ``bool`` excluded: range checks follow."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite real number, ``bool`` excluded."""
    return is_real(value) and math.isfinite(value)


def finite_or_none(value) -> float | None:
    """``value`` (a number or its text) as a finite float, else ``None``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def qualified_name(thing, missing="?") -> str:
    """``"module.qualname"`` of a function or class, for cache keys and messages (``repr`` where it has none)."""
    return f"{getattr(thing, '__module__', missing)}.{getattr(thing, '__qualname__', None) or repr(thing)}"


def _as_tuple(value, name):
    try:
        return tuple(value)
    except TypeError:
        raise SearchSpaceError(f"{name} must be a sequence, got {value!r}") from None


def _as_choices(value, name, check, message):
    """``value`` as a tuple of allowed choices (duplicates dropped, order kept), each passing ``check``."""
    if isinstance(value, (str, bytes)):
        raise SearchSpaceError(f"{name} must be a sequence, got {value!r}")
    try:
        values = tuple(value)
    except TypeError:
        raise SearchSpaceError(f"{name} must be a sequence, got {value!r}") from None
    if not values or not all(check(v) for v in values):
        raise SearchSpaceError(f"{name} must be a non-empty sequence of {message}, got {value!r}")
    return tuple(dict.fromkeys(values))


def _check_image_shape_and_classes(space):
    """Check a frozen image space's ``input_shape`` (stored back as a tuple) and ``n_classes``."""
    try:
        shape = tuple(space.input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(is_int(v) and v >= 1 for v in shape):
        raise SearchSpaceError(
            f"input_shape must be (channels, height, width) of positive integers, got {space.input_shape!r}"
        )
    object.__setattr__(space, "input_shape", shape)
    if not is_int(space.n_classes) or space.n_classes < 2:
        raise SearchSpaceError(f"n_classes must be an integer >= 2, got {space.n_classes!r}")


class GenomeRules:
    """``is_valid`` and ``validate`` for a search space, from the rules it lists.

    A space lists every rule a genome breaks in ``violations(genome)``;
    ``genome_class`` is its family's genome type, which reads canonical text
    (``parse``) and which a valid plain list or tuple comes back as;
    ``genome_label`` names the family in messages. Every genome family's
    space shares this, so a bad genome gets the same kind of error whatever
    its family.
    """

    genome_class = None
    genome_label = "genome"

    def parse(self, text):
        return self.genome_class.from_string(text)

    def is_valid(self, genome) -> bool:
        return not self.violations(genome)

    def validate(self, genome):
        """``genome`` if it is valid (text is parsed first), else :class:`GenomeError` naming each broken rule."""
        if isinstance(genome, str):
            genome = self.parse(genome)
        problems = self.violations(genome)
        if problems:
            shown = "-".join(map(str, genome)) if type(genome) in (list, tuple) else str(genome)
            raise GenomeError(f"invalid {self.genome_label} {shown!r}: " + "; ".join(problems))
        if self.genome_class is not None and type(genome) in (list, tuple):
            genome = self.genome_class(genome)
        return genome


def max_pool_units_for(height: int, width: int) -> int:
    """How many 2x2 stride-2 poolings an ``height x width`` map survives (stays >= 1x1)."""
    return max(min(height, width), 1).bit_length() - 1


def one_hot(value, choices) -> list:
    """``1.0`` at ``value``'s place among ``choices``, ``0.0`` elsewhere (all zeros for a value not among them)."""
    return [1.0 if value == choice else 0.0 for choice in choices]

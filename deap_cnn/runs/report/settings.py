"""A run's settings against the defaults: what was chosen on purpose, apart from the long full list.

The defaults are :class:`deap_cnn.runs.config.SearchConfig`'s (torch-free to
import), so the list follows the settings as they change. A ``null`` setting
means "the family's or the training's default" and is never a difference.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from .formatting import plain

__all__ = ["Setting", "SettingsView", "settings_view"]


@dataclass
class Setting:
    """One setting as the page shows it."""

    key: str
    text: str
    default: str = ""
    help: str = ""
    changed: bool = False


@dataclass
class SettingsView:
    """The run's settings: ``changed`` ones (differing from the defaults, nulls left out), then ``all`` of them."""

    source: str
    changed: list = field(default_factory=list)
    all: list = field(default_factory=list)


#: How a ``null`` setting reads in the full list.
NULL_TEXT = "– (default)"


def settings_view(config: dict, source: str) -> SettingsView:
    """The settings of ``config`` (a run's ``config.json``) against the defaults, in the defaults' order."""
    defaults, helps = _defaults(config)
    order = {key: n for n, key in enumerate(defaults)}
    view = SettingsView(source=source)
    for key in sorted(config, key=lambda k: (order.get(k, len(order)), k)):
        value = config[key]
        setting = Setting(
            key=key,
            text=NULL_TEXT if value is None else plain(value),
            default=plain(defaults[key]) if defaults.get(key) is not None else "",
            help=helps.get(key, ""),
            changed=key in defaults and value is not None and _normal(value) != _normal(defaults[key]),
        )
        view.all.append(setting)
        if setting.changed:
            view.changed.append(setting)
    return view


def _defaults(config: dict) -> tuple[dict, dict]:
    """``({key: default}, {key: help text})`` from :class:`SearchConfig`; empty if it cannot be imported.

    The strategy's default is the one a run without ``--strategy`` picks for
    the run's objectives and halving, so a run that named none shows no difference there.
    """
    try:
        from ..config import SearchConfig, default_strategy, help_text
    except ImportError:  # a report made by a copy of this package without the runs' settings
        return {}, {}
    fields = dataclasses.fields(SearchConfig)
    defaults = {f.name: getattr(SearchConfig(), f.name) for f in fields}
    helps = {f.name: help_text(f) for f in fields}
    objectives = config.get("objectives")
    try:
        defaults["strategy"] = default_strategy(
            tuple(objectives) if isinstance(objectives, list) and objectives else defaults["objectives"],
            bool(config.get("halving", defaults["halving"])),
        )
    except (TypeError, ValueError):
        pass
    return defaults, helps


def _normal(value):
    """A value as JSON gives it back (tuples as lists), so a saved setting compares equal to its default."""
    return json.loads(json.dumps(value, default=str))

"""Server-side SVG charts for the report: scales, axes, line and scatter charts, sparklines, the genome diagram."""

from __future__ import annotations

import html
import itertools
import math
from dataclasses import dataclass

from .formatting import short_number as _fmt
from .palette import BLUE, GREEN, GREY, GRID, MUTED, ORANGE, PURPLE, RED
from .units import genome_units


def _e(value) -> str:
    return html.escape(str(value), quote=True)


class Scale:
    """Maps data values in ``[low, high]`` to pixels in ``[start, end]`` (log10 if ``log``).

    ``snap`` widens a linear range to whole tick steps, so no point lies beyond the outer ticks.
    """

    def __init__(self, low, high, start, end, log=False, snap=False):
        self.log = log and low > 0
        if self.log:
            low, high = math.log10(low), math.log10(high)
        if high - low < 1e-12:
            pad = abs(low) * 0.05 or 0.5
            low, high = low - pad, high + pad
        if snap and not self.log:
            step = _nice_step((high - low) / 4)
            low, high = (
                math.floor(low / step + 1e-9) * step,
                math.ceil(high / step - 1e-9) * step,
            )
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value) -> float:
        value = math.log10(value) if self.log else value
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self, count=5) -> list:
        if self.log:
            return [10.0**p for p in range(math.ceil(self.low), math.floor(self.high) + 1)] or [10**self.low]
        step = _nice_step((self.high - self.low) / max(count - 1, 1))
        first = math.ceil(self.low / step - 1e-9) * step  # the tolerance keeps a snapped bound's tick
        return [first + n * step for n in range(int((self.high - first) / step + 1e-9) + 1)]


def _nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


@dataclass
class Frame:
    """A chart's size and margins; ``x``/``y`` are the plot area's pixel ranges."""

    width: int = 720
    height: int = 310
    left: int = 60
    right: int = 16
    top: int = 30
    bottom: int = 42

    @property
    def x(self):
        return self.left, self.width - self.right

    @property
    def y(self):
        return self.height - self.bottom, self.top


def _span(values, pad=0.05):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    extra = (high - low) * pad
    return low - extra, high + extra


def _axes(frame: Frame, xs: Scale, ys: Scale, x_label: str, y_label: str, x_ticks=None) -> list[str]:
    """Grid lines, tick labels and axis titles; ``x_ticks`` is ``[(value, label)]`` for categories."""
    parts = []
    for value in ys.ticks():
        y = ys(value)
        parts.append(f'<line x1="{frame.left}" x2="{frame.x[1]}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(_fmt(value))}</text>')
    for value, label in x_ticks or [(v, _fmt(v)) for v in xs.ticks()]:
        x = xs(value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.y[0]}" y2="{frame.y[0] + 4}" stroke="{MUTED}"/>')
        parts.append(f'<text x="{x:.1f}" y="{frame.y[0] + 17}" text-anchor="middle">{_e(label)}</text>')
    parts.append(
        f'<line x1="{frame.left}" x2="{frame.x[1]}" y1="{frame.y[0]}" y2="{frame.y[0]}" stroke="{MUTED}"/>'
        f'<text x="{(frame.left + frame.x[1]) / 2:.1f}" y="{frame.height - 6}" text-anchor="middle" '
        f'class="axis-title">{_e(x_label)}</text>'
        f'<text transform="translate(13 {(frame.top + frame.y[0]) / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'class="axis-title">{_e(y_label)}</text>'
    )
    return parts


def _svg(frame: Frame, parts, label: str, css_class="chart") -> str:
    return (
        f'<svg class="{css_class}" viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
        f'height="{frame.height}" role="img" aria-label="{_e(label)}">' + "".join(parts) + "</svg>"
    )


def _polyline(points, colour, width=2.0, opacity=1.0, title="") -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    tip = f"<title>{_e(title)}</title>" if title else ""
    return (
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="{width}" '
        f'stroke-opacity="{opacity}" stroke-linejoin="round">{tip}</polyline>'
    )


def line_chart(
    xs,
    series: dict,
    x_label: str,
    y_label: str,
    colours=(BLUE, ORANGE, GREEN, PURPLE, RED),
) -> str:
    """Lines with markers, one per series (values may hold ``None`` gaps), and a legend."""
    frame = Frame()
    x_scale = Scale(*_span(xs, 0), *frame.x)
    y_scale = Scale(
        *_span([v for values in series.values() for v in values], 0.02),
        *frame.y,
        snap=True,
    )
    parts = _axes(frame, x_scale, y_scale, x_label, y_label, _integer_ticks(xs))
    for n, (name, values) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        points = [(x_scale(x), y_scale(v)) for x, v in zip(xs, values, strict=True) if x is not None and v is not None]
        parts.append(_polyline(points, colour, title=name))
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
        parts.append(_legend(frame, n, name, colour))
    return _svg(frame, parts, f"{y_label} per {x_label}")


def best_so_far_chart(scored, best, improvements, x_label: str, y_label: str) -> str:
    """The best so far as a step line that never gets worse, over every scored evaluation as a faint dot.

    ``scored`` and ``improvements`` are ``(x, y, tooltip)``, ``best`` is
    ``(x, best so far)`` at every evaluation from the first scored one on, in
    order; the improvements (where the line steps up, or down for a minimised objective) are ringed.
    """
    frame = Frame()
    xs = [x for x, _ in best] + [x for x, _, _ in scored]
    x_scale = Scale(*_span(xs, 0), *frame.x)
    y_scale = Scale(*_span([y for _, y, _ in scored], 0.02), *frame.y, snap=True)
    parts = _axes(frame, x_scale, y_scale, x_label, y_label, _integer_ticks(xs))
    for x, y, tip in scored:
        parts.append(
            f'<circle cx="{x_scale(x):.1f}" cy="{y_scale(y):.1f}" r="3" fill="{GREY}" fill-opacity="0.7">'
            f"<title>{_e(tip)}</title></circle>"
        )
    corners = []
    for x, y in best:  # across at the old best, then up (or down) to the new one
        if corners:
            corners.append((x_scale(x), corners[-1][1]))
        corners.append((x_scale(x), y_scale(y)))
    parts.append(_polyline(corners, BLUE, 2.5, title=y_label))
    for x, y, tip in improvements:
        parts.append(
            f'<circle cx="{x_scale(x):.1f}" cy="{y_scale(y):.1f}" r="4.5" fill="white" stroke="{BLUE}" '
            f'stroke-width="2"><title>{_e(tip)}</title></circle>'
        )
    parts.append(_legend(frame, 0, "best so far", BLUE))
    parts.append(_legend(frame, 1, "each evaluation", GREY))
    return _svg(frame, parts, f"{y_label} against {x_label}", "chart best-so-far")


def _legend(frame: Frame, n: int, name: str, colour: str) -> str:
    """Legend entry ``n``, in a row above the plot area."""
    x, y = frame.left + 170 * n, frame.top - 16
    return (
        f'<rect x="{x}" y="{y - 4}" width="14" height="4" fill="{colour}"/>'
        f'<text x="{x + 19}" y="{y + 1}">{_e(name)}</text>'
    )


def _integer_ticks(xs):
    """Whole-number ticks for generations and epochs, at most about ten of them."""
    values = [x for x in xs if x is not None]
    if not values or any(x != int(x) for x in values):
        return None
    low, high = int(min(values)), int(max(values))
    step = max(1, math.ceil((high - low + 1) / 10))
    return [(v, str(v)) for v in range(low, high + 1, step)]


def sparkline(values, width=110, height=26) -> str:
    """A tiny validation curve: one point per epoch, the last one marked."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return ""
    frame = Frame(width=width, height=height, left=2, right=4, top=3, bottom=3)
    x_scale = Scale(0, max(len(values) - 1, 1), *frame.x)
    y_scale = Scale(min(values), max(values), *frame.y)
    points = [(x_scale(n), y_scale(v)) for n, v in enumerate(values)]
    title = "validation accuracy per epoch: " + ", ".join(_fmt(v) for v in values)
    parts = [
        _polyline(points, BLUE, 1.5, title=title),
        f'<circle cx="{points[-1][0]:.1f}" cy="{points[-1][1]:.1f}" r="2" fill="{BLUE}"/>',
    ]
    return _svg(frame, parts, title, "spark")


def curves_chart(evaluations, best) -> str:
    """Every candidate's validation curve, faint, with the best one drawn bold on top."""
    curves = [(row, [v for v in row["curve"] if math.isfinite(v)]) for row in evaluations]
    curves = [(row, curve) for row, curve in curves if curve]
    frame = Frame()
    longest = max(len(curve) for _, curve in curves)
    x_scale = Scale(0.8, longest + 0.2, *frame.x)  # a margin, so one-epoch curves stand clear of the axis
    y_scale = Scale(*_span([v for _, curve in curves for v in curve], 0.02), *frame.y, snap=True)
    parts = _axes(
        frame,
        x_scale,
        y_scale,
        "epoch",
        "validation accuracy",
        _integer_ticks(range(1, longest + 1)),
    )
    ordered = sorted(curves, key=lambda item: item[0] is best)  # the best last, so it is drawn on top
    for row, curve in ordered:
        points = [(x_scale(n + 1), y_scale(v)) for n, v in enumerate(curve)]
        colour, width, opacity = (RED, 3, 1.0) if row is best else (GREY, 1.2, 0.55)
        title = f"best: {row['genome']}" if row is best else row["genome"]
        parts.append(_polyline(points, colour, width, opacity, title))
        end_x, end_y = points[-1]  # a mark at the end, so one-epoch curves show too
        parts.append(
            f'<circle cx="{end_x:.1f}" cy="{end_y:.1f}" r="{width + 1}" fill="{colour}" fill-opacity="{opacity}">'
            f"<title>{_e(title)}</title></circle>"
        )
    if best is not None and best["curve"]:
        parts.append(_legend(frame, 0, "best candidate", RED))
    return _svg(frame, parts, "validation accuracy per epoch of every candidate")


def scatter_chart(
    points,
    x_label,
    y_label,
    highlight=(),
    log_x=False,
    categories=None,
    staircase=False,
    small=False,
) -> str:
    """Points ``(x, y, tooltip)``; ``highlight`` ones drawn red (joined by a step line if ``staircase``).

    ``categories`` lists the labels of a categorical x axis (x values are then their indices);
    ``small`` draws a thumbnail, one of a grid.
    """
    small = small or bool(categories)
    frame = Frame(width=300, height=210, left=52, top=14, bottom=40) if small else Frame(height=330)
    all_points = list(points) + list(highlight)
    xs = [p[0] for p in all_points]
    log_x = log_x and xs and min(xs) > 0 and max(xs) / min(xs) > 100
    if categories:
        x_scale, x_ticks = (
            Scale(-0.5, len(categories) - 0.5, *frame.x),
            list(enumerate(categories)),
        )
    else:
        low, high = _span(xs, 0.0 if log_x else 0.05)
        x_scale, x_ticks = Scale(low, high, *frame.x, log=log_x), None
    y_scale = Scale(*_span([p[1] for p in all_points], 0.02), *frame.y, snap=True)
    parts = _axes(frame, x_scale, y_scale, x_label, y_label, x_ticks)
    for x, y, tip in points:
        parts.append(
            f'<circle cx="{x_scale(x):.1f}" cy="{y_scale(y):.1f}" r="4" fill="{BLUE}" fill-opacity="0.55">'
            f"<title>{_e(tip)}</title></circle>"
        )
    if staircase and len(highlight) > 1:
        parts.append(
            _polyline(
                _steps([(x_scale(x), y_scale(y)) for x, y, _ in highlight]),
                RED,
                1.5,
                0.6,
            )
        )
    for x, y, tip in highlight:
        parts.append(
            f'<circle cx="{x_scale(x):.1f}" cy="{y_scale(y):.1f}" r="5.5" fill="{RED}" stroke="white">'
            f"<title>{_e(tip)}</title></circle>"
        )
    return _svg(
        frame,
        parts,
        f"{y_label} against {x_label}",
        "chart small" if small else "chart",
    )


def _steps(points) -> list:
    """A front's boundary: from each point across to the next one's x, then up or down to it."""
    ordered = sorted(points)
    corners = [ordered[0]]
    for (_, y), (next_x, next_y) in itertools.pairwise(ordered):
        corners += [(next_x, y), (next_x, next_y)]
    return corners


def genome_diagram(text: str) -> str:
    """The genome's units as boxes, input on the left, joined by arrows, wrapped over rows."""
    units = genome_units(text)
    box_w, box_h, gap, per_row = 128, 54, 26, 6
    rows = math.ceil(len(units) / per_row) or 1
    width = min(len(units), per_row) * (box_w + gap) + 70
    height = rows * (box_h + 22) + 8
    parts = [f'<text x="4" y="{box_h / 2 + 12:.0f}" class="muted">input</text>']
    for n, unit in enumerate(units):
        row, col = divmod(n, per_row)
        x, y = 46 + col * (box_w + gap), 6 + row * (box_h + 22)
        dash = ' stroke-dasharray="4 3"' if unit.off else ""
        fill_opacity = 0.06 if unit.off else 0.14
        group = '<g class="off">' if unit.off else "<g>"
        parts.append(
            f"{group}<title>{_e(unit.title)} {_e(unit.detail)}"
            f"{' (off)' if unit.off else ''}</title>"
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{unit.colour}" '
            f'fill-opacity="{fill_opacity}" stroke="{unit.colour}" stroke-width="1.5"{dash}/>'
            f'<text x="{x + box_w / 2}" y="{y + 22}" text-anchor="middle" class="unit-title">{_e(_clip(unit.title, 18))}'
            f"</text>"
            f'<text x="{x + box_w / 2}" y="{y + 40}" text-anchor="middle" class="unit-detail">'
            f"{_e(_clip(unit.detail, 22))}</text></g>"
        )
        if col < per_row - 1 and n < len(units) - 1:
            ax = x + box_w + 3
            parts.append(f'<path d="M{ax} {y + box_h / 2} h{gap - 8} m-5 -4 l5 4 l-5 4" fill="none" stroke="{MUTED}"/>')
    frame = Frame(width=width, height=height)
    return _svg(frame, parts, f"architecture {text}", "diagram")


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"

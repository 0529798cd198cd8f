"""Charts the server draws as SVG: pure functions from figures to markup, no script, no style attribute.

Stacked bars (one row per day, hop or prefecture, one colour per outcome), columns (a count per
time band) and a heatmap (day × time band). A number the statistics suppressed is never drawn as
zero: it is hatched, and says 「少数のため非表示」. Each chart carries a <title> and a <desc> for
screen readers, and every mark its own <title> (what a pointer's hover shows); the page puts a
table of the same numbers under each. Colours are CSS classes (routing/web/static/stats.css).
Positions are in the SVG's own units (WIDTH wide); the page scales it to its width.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 760  # a tablet (820 px) shows it at about its own size, its labels readable; the page caps it at 60rem
FONT = 14
SMALL_FONT = 12
BAR_H = 22
BAR_GAP = 10
TOTAL_GAP = 14  # between the rows and their totals' bar
AXIS_H = 22
VALUE_ROOM = 140  # right of the longest bar: its total, or 「少数のため非表示」
CELL_H = 26
COLUMNS_PLOT_H = 170
WORDS_SLOT = 40  # a column's slot at least this wide writes 「少数のため非表示」 in it
HEAT_LEVELS = 5
HIDDEN = "少数のため非表示"
HIDDEN_PART = "内訳の一部は少数のため非表示"


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    name: str
    css: str  # the class that colours it


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of a stacked bar chart: its label, total and a count per series; None where suppressed."""

    label: str
    total: int | None
    parts: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class HeatRow:
    """One row of a heatmap: a count per column (None where suppressed), or no cells at all when the row is left out."""

    label: str
    cells: tuple[int | None, ...] | None


def stacked_bars(
    bars: Sequence[Bar],
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    desc: str,
    total: Bar | None = None,
    labels_like: Sequence[str] = (),
) -> Markup:
    """Horizontal bars, one per row, each split by series; the part of a total that is suppressed is hatched. `total`,
    when given, is drawn last, set apart by a line: the column totals, which may be published where the rows are not.
    The bars start where they would with `labels_like` too (to line up with another chart's)."""
    rows = [*bars, *([total] if total else [])]
    label_w = _label_width([*(b.label for b in rows), *labels_like])
    plot_w = WIDTH - label_w - VALUE_ROOM
    longest = max([b.total if b.total is not None else sum(p or 0 for p in b.parts) for b in rows] + [1])
    scale = plot_w / longest
    apart = TOTAL_GAP if total else 0
    bottom = len(rows) * (BAR_H + BAR_GAP) + apart
    marks = [_grid(label_w, plot_w, longest, bottom)]
    for row, bar in enumerate(rows):
        y = row * (BAR_H + BAR_GAP) + 4 + (apart if bar is total else 0)
        if bar is total:
            rule = y - (apart + BAR_GAP) / 2
            marks.append(f'<line x1="0" x2="{WIDTH}" y1="{rule:.1f}" y2="{rule:.1f}" class="rule"></line>')
        marks.append(_bar(bar, series, label_w, y, scale, chart_id))
    return _svg(chart_id, "bars", bottom + AXIS_H + 4, title, desc, marks)


def _bar(bar: Bar, series: Sequence[Series], label_w: int, y: float, scale: float, chart_id: str) -> str:
    marks = [_text(label_w - 10, y + BAR_H / 2 + 5, bar.label, "label end")]
    x = float(label_w)
    for s, part in zip(series, bar.parts, strict=True):
        if part:
            width = part * scale
            tip = f"{bar.label}・{s.name}：{part}件"
            fits = len(series) > 1 and width >= len(str(part)) * 9 + 8  # one series: the total after the bar says it
            number = _text(x + width / 2, y + BAR_H / 2 + 5, str(part), "in-bar") if fits else ""
            marks.append(f'<g class="part"><title>{escape(tip)}</title>{_rect(x, y, width, BAR_H, s.css)}{number}</g>')
            x += width
    shown = sum(p or 0 for p in bar.parts)
    if bar.total is not None and bar.total > shown:
        width = (bar.total - shown) * scale
        tip = f"{bar.label}：{HIDDEN_PART}（合わせて{bar.total - shown}件）"
        marks.append(f'<g class="part"><title>{escape(tip)}</title>{_rect(x, y, width, BAR_H, "hidden", hatch=chart_id)}</g>')
        x += width
    if bar.total is None:
        tip = f"{bar.label}：{HIDDEN}" if not shown else f"{bar.label}：合計と内訳の一部は{HIDDEN}"
        lead = "" if not shown else "ほかは"
        marks.append(f'<g class="hidden-note"><title>{escape(tip)}</title>{_hidden_mark(x + 6, y, lead + HIDDEN, chart_id)}</g>')
    else:
        marks.append(_text(x + 6, y + BAR_H / 2 + 5, f"{bar.total}件", "total"))
    return "".join(marks)


def columns(labels: Sequence[str], values: Sequence[int | None], *, chart_id: str, title: str, desc: str, css: str) -> Markup:
    """Vertical columns, one per label (time bands); a suppressed count is a hatched column that says so, not a zero."""
    left, top = 44, 24
    slot = (WIDTH - left - 8) / max(len(labels), 1)
    highest = max([v for v in values if v is not None] + [1])
    scale = COLUMNS_PLOT_H / _nice_top(highest)
    base = top + COLUMNS_PLOT_H
    height = base + AXIS_H + 4
    marks = [_value_axis(left, top, _nice_top(highest), scale)]
    every = math.ceil(len(labels) / 12)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x, width = left + i * slot + slot * 0.15, slot * 0.7
        middle = x + width / 2
        if value is None:  # no column: its height is what is not published; a small hatched mark and the words instead
            # Narrow columns (24 hours) say it in their title and the legend only: a row of words would crowd the chart.
            words = _text(middle, base - 20 - len(HIDDEN) * 12, HIDDEN, "vertical") if slot >= WORDS_SLOT else ""
            mark = _rect(middle - 7, base - 14, 14, 14, "hidden", hatch=chart_id) + words
            marks.append(f'<g class="column"><title>{escape(f"{label}：{HIDDEN}")}</title>{mark}</g>')
        else:
            h = value * scale
            mark = _rect(x, base - h, width, h, css) + _text(middle, base - h - 5, str(value), "above")
            marks.append(f'<g class="column"><title>{escape(f"{label}：{value}件")}</title>{mark}</g>')
        if i % every == 0:
            marks.append(_text(middle, base + 17, label, "axis middle"))
    marks.append(f'<line x1="{left}" x2="{WIDTH - 8}" y1="{base}" y2="{base}" class="baseline"></line>')
    return _svg(chart_id, "columns", height, title, desc, marks)


def heatmap(rows: Sequence[HeatRow], column_labels: Sequence[str], *, chart_id: str, title: str, desc: str) -> Markup:
    """A grid of rows × columns coloured by count, the count written in it; suppressed cells and left-out rows hatched."""
    label_w = _label_width(r.label for r in rows)
    cell_w = (WIDTH - label_w - 4) / max(len(column_labels), 1)
    highest = max([c for r in rows for c in (r.cells or ()) if c is not None] + [1])
    every = math.ceil(len(column_labels) / 8)
    marks = [
        _text(label_w + j * cell_w + (cell_w * every) / 2, 16, label, "axis middle")
        for j, label in enumerate(column_labels)
        if j % every == 0
    ]
    for i, row in enumerate(rows):
        y = AXIS_H + 4 + i * CELL_H
        marks.append(_text(label_w - 10, y + CELL_H / 2 + 5, row.label, "label end"))
        if row.cells is None:
            span = _rect(label_w, y, cell_w * len(column_labels) - 2, CELL_H - 2, "left-out", hatch=chart_id)
            note = _text(label_w + 10, y + CELL_H / 2 + 4, f"この日は{HIDDEN}", "left-out-note")
            marks.append(f'<g class="row"><title>{escape(f"{row.label}：{HIDDEN}")}</title>{span}{note}</g>')
            continue
        for j, (column, count) in enumerate(zip(column_labels, row.cells, strict=True)):
            x = label_w + j * cell_w
            if count is None:
                cell, tip = _rect(x, y, cell_w - 2, CELL_H - 2, "hidden", hatch=chart_id), f"{row.label} {column}：{HIDDEN}"
            else:
                level = heat_level(count, highest)
                cell = _rect(x, y, cell_w - 2, CELL_H - 2, f"level-{level}")
                cell += _text(x + cell_w / 2 - 1, y + CELL_H / 2 + 3, str(count), f"count on-{level}") if count else ""
                tip = f"{row.label} {column}：{count}件"
            marks.append(f'<g class="cell"><title>{escape(tip)}</title>{cell}</g>')
    return _svg(chart_id, "heatmap", AXIS_H + 8 + len(rows) * CELL_H, title, desc, marks)


def heat_level(count: int, highest: int) -> int:
    """Return the colour level of a count in a heatmap whose largest shown count is `highest`: 0 for none, 1..HEAT_LEVELS."""
    return 0 if count == 0 else 1 + min(HEAT_LEVELS - 1, (count - 1) * HEAT_LEVELS // max(highest, 1))


def _svg(chart_id: str, kind: str, height: float, title: str, desc: str, marks: list[str]) -> Markup:
    hatch = (
        f'<defs><pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" class="hatch-ground"></rect><rect width="2" height="6" class="hatch-line"></rect></pattern></defs>'
    )
    return Markup(
        f'<svg class="chart {kind}" id="{chart_id}" viewBox="0 0 {WIDTH} {round(height, 1)}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
        f"{hatch}{''.join(marks)}</svg>"
    )


def _rect(x: float, y: float, width: float, height: float, css: str, *, hatch: str | None = None) -> str:
    fill = f' fill="url(#{hatch}-hatch)"' if hatch else ""
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{height:.1f}" class="{css}"{fill}></rect>'


def _text(x: float, y: float, text: str, css: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" class="{css}">{escape(text)}</text>'


def _hidden_mark(x: float, y: float, text: str, chart_id: str) -> str:
    """A small hatched square and the words, where a bar whose length is not published would be."""
    return _rect(x, y + 4, 14, BAR_H - 8, "hidden", hatch=chart_id) + _text(x + 20, y + BAR_H / 2 + 5, text, "hidden-text")


def _label_width(labels: Iterable[str]) -> int:
    longest = max((len(label) for label in labels), default=2)
    return min(220, max(80, longest * FONT + 18))


def _grid(left: int, width: float, longest: int, bottom: float) -> str:
    """Vertical lines at round counts under the bars, labelled below them."""
    top_value = _nice_top(longest)
    step = _step(top_value)
    lines = []
    for value in range(0, top_value + 1, step):
        x = left + value * width / longest
        if x > left + width + 1:
            break
        lines.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{bottom:.1f}" class="grid"></line>')
        lines.append(_text(x, bottom + 16, str(value), "axis middle"))
    return "".join(lines)


def _value_axis(left: int, top: int, top_value: int, scale: float) -> str:
    step = _step(top_value)
    marks = []
    for value in range(0, top_value + 1, step):
        y = top + COLUMNS_PLOT_H - value * scale
        marks.append(f'<line x1="{left}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"></line>')
        marks.append(_text(left - 6, y + 4, str(value), "axis end"))
    return "".join(marks)


def _nice_top(value: int) -> int:
    """The smallest round number (1, 2 or 5 × a power of ten) at or above value."""
    power = 10 ** max(0, len(str(max(value, 1))) - 1)
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _step(top_value: int) -> int:
    """About four to five grid lines up to top_value."""
    power = 10 ** max(0, len(str(top_value)) - 1)
    return next(s for s in (power // 10 or 1, power // 5 or 1, power // 2 or 1, power) if top_value / s <= 5)

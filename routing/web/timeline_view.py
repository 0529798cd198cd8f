"""The day's timeline (routing/timeline.py) as the page draws it: 24-hour strips in an SVG the server writes, and a table.

Positions are in the SVG's own units (STRIP_X0..STRIP_X1 for 0:00..24:00); the page scales it to its width.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from referral_directory.hours import JST
from referral_directory.records import TIER_NAMES, TOPIC_LABELS_JA
from routing.contacts.rules import GENERAL
from routing.timeline import Answer, Timeline

WIDTH = 880  # narrow enough that a tablet shows the labels at a readable size
STRIP_X0, STRIP_X1 = 150, 870
AXIS_H = 26
ANSWER_H = 40
ROW_H = 30
GAP = 6
MARKER_H = 14  # room under the lanes for the time asked about
SEGMENT_FONT = 13
DAY_MINUTES = 24 * 60
GENERAL_LANE = "総合の窓口"  # the general lines ("孤独・孤立、その他"), which take a person whose topic's windows are closed
NOBODY = {"all_closed": "受付中の窓口なし", "no_service": "窓口なし", "all_full": "すべて対応中"}


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    width: float
    css: str
    label: str  # what fits inside, '' when nothing does
    title: str  # the whole of it, for a pointer's hover
    via: bool = False


@dataclass(frozen=True, slots=True)
class Lane:
    y: float
    height: float
    label: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Strip:
    width: float
    x0: float  # where 0:00 is
    x1: float  # where 24:00 is
    height: float
    lanes: tuple[Lane, ...]
    ticks: tuple[tuple[float, str], ...]  # x, hour label ('' for a minor tick)
    marker: tuple[float, str] | None  # the instant asked about: x and HH:MM


def strip(timeline: Timeline, topic: str, at: datetime) -> Strip:
    """Lay out the timeline: who answers first, then each tier's windows for the topic, then the general lines."""
    y = AXIS_H
    lanes = [Lane(y, ANSWER_H, "つながる先", tuple(_answer_segment(timeline, a) for a in timeline.answers))]
    y += ANSWER_H + GAP
    for row in timeline.rows:
        css = "seg-general" if row.key == GENERAL else f"seg-{row.key}"
        label = GENERAL_LANE if row.key == GENERAL else TIER_NAMES.get(row.key, row.key)
        segments = tuple(
            _segment(timeline, s.start, s.end, css, "・".join(s.names), f"{_hhmm(timeline, s.start)}–{_hhmm(timeline, s.end)}")
            for s in row.stretches
        )
        lanes.append(Lane(y, ROW_H, label, segments))
        y += ROW_H + GAP
    ticks = tuple((_x(hour * 60), str(hour) if hour % 3 == 0 else "") for hour in range(25))
    local = at.astimezone(JST)
    marker = (_x(local.hour * 60 + local.minute), f"{local.hour}:{local.minute:02d}") if local.date() == timeline.day else None
    return Strip(WIDTH, STRIP_X0, STRIP_X1, y + MARKER_H, tuple(lanes), ticks, marker)


def answer_rows(timeline: Timeline) -> list[tuple[str, str, str, str]]:
    """The answer lane as table rows: (from–to, window, tier, note)."""
    rows = []
    for a in timeline.answers:
        span = f"{_hhmm(timeline, a.start)}–{_hhmm(timeline, a.end)}"
        note = f"「{TOPIC_LABELS_JA[a.via]}」の窓口が代わりに受付" if a.via and a.name else ""
        rows.append((span, a.name or NOBODY.get(a.outcome, a.outcome), TIER_NAMES.get(a.tier or "", ""), note))
    return rows


def _answer_segment(timeline: Timeline, answer: Answer) -> Segment:
    span = f"{_hhmm(timeline, answer.start)}–{_hhmm(timeline, answer.end)}"
    if answer.name is None:
        return _segment(timeline, answer.start, answer.end, "seg-nobody", NOBODY.get(answer.outcome, ""), span)
    label = ("代わりに：" if answer.via else "") + answer.name
    return _segment(timeline, answer.start, answer.end, f"seg-{answer.tier}", label, span, via=answer.via is not None)


def _segment(timeline: Timeline, start: datetime, end: datetime, css: str, label: str, span: str, *, via: bool = False) -> Segment:
    x0, x1 = _x(_minute(timeline, start)), _x(_minute(timeline, end))
    fits = int((x1 - x0 - 8) // SEGMENT_FONT)
    shown = label if len(label) <= fits else (label[: fits - 1] + "…" if fits >= 3 else "")
    return Segment(x0, x1 - x0, css, shown, f"{span} {label}", via)


def _minute(timeline: Timeline, moment: datetime) -> int:
    return min(DAY_MINUTES, int((moment - timeline.start).total_seconds() // 60))


def _x(minute: int) -> float:
    return round(STRIP_X0 + (STRIP_X1 - STRIP_X0) * minute / DAY_MINUTES, 2)


def _hhmm(timeline: Timeline, moment: datetime) -> str:
    minute = _minute(timeline, moment)
    return f"{minute // 60}:{minute % 60:02d}"

"""What the statistics page shows, from the statistics' suppressed tables: charts (routing/web/charts.py) and, under
each, a table of the same numbers, in Japanese. No decision of its own: every number is one the API publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from markupsafe import Markup

from referral_directory.regions import Regions
from routing.statistics.counts import STATUS_NAMES, STATUSES
from routing.statistics.suppression import SuppressedTable
from routing.statistics.timing import CONNECTED, WAIT_NAMES, Breakdown
from routing.web import charts
from routing.web.case_views import WEEKDAY_NAMES

HIDDEN_CELL = "非表示"
TIER_SHORT = {"national": "全国", "prefecture": "都道府県", "municipal": "市区町村"}


@dataclass(frozen=True, slots=True)
class NumberRow:
    key: str  # the API's row label (an ISO day, a tier pair, a prefecture code)
    label: str
    cells: tuple[int | None, ...]
    total: int | None


@dataclass(frozen=True, slots=True)
class NumberTable:
    """The numbers under a chart: a row per label, the totals last; None where suppressed."""

    corner: str
    columns: tuple[str, ...]
    rows: tuple[NumberRow, ...]
    totals: tuple[int | None, ...]
    total: int | None


@dataclass(frozen=True, slots=True)
class Figure:
    """One chart of the page with its table, legend, the note on left-out rows and the API's CSV of the same table."""

    id: str
    heading: str
    help: str
    svgs: tuple[Markup, ...]
    table: NumberTable
    legend: tuple[charts.Series, ...] = ()
    note: str = ""
    csv: str = ""


def day_label(day: date) -> str:
    """12月1日（火）."""
    return f"{day.month}月{day.day}日（{WEEKDAY_NAMES[day.weekday()]}）"


def days_of(first: date, last: date) -> list[date]:
    """Every day from first to last."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def series_of(names: Mapping[str, str], prefix: str) -> tuple[charts.Series, ...]:
    """A series per column (outcome or status), coloured by its key."""
    return tuple(charts.Series(key, name, f"{prefix}-{key}") for key, name in names.items())


def number_table(
    table: SuppressedTable, names: Mapping[str, str], corner: str, label_of: Callable[[str], str], *, keys: Sequence[str] | None = None
) -> NumberTable:
    """The table as the page shows it; `keys` adds rows the table does not have (days without a contact) as zeros."""
    found = {label: (cells, total) for label, cells, total in zip(table.row_labels, table.cells, table.row_totals, strict=True)}
    zeros = (tuple(0 for _ in table.column_labels), 0)
    order = list(keys) if keys is not None else [label for label in table.row_labels if label != "-"]
    rows = tuple(NumberRow(key, label_of(key), *found.get(key, zeros)) for key in order)
    return NumberTable(corner, tuple(names.get(c, c) for c in table.column_labels), rows, table.column_totals, table.grand_total)


def by_day_figure(
    fig_id: str, what: str, table: SuppressedTable, names: Mapping[str, str], days: Sequence[date], csv: str, prefix: str
) -> Figure:
    """Contacts per day, each bar split by outcome."""
    numbers = number_table(table, names, "日", lambda key: day_label(date.fromisoformat(key)), keys=[d.isoformat() for d in days])
    series = series_of(names, prefix)
    bars = [charts.Bar(r.label, r.total, r.cells) for r in numbers.rows]
    total = _count(table.grand_total)
    desc = f"{what}は期間の合計で{total}。日ごとの件数を、結果ごとに色分けした横棒グラフです。斜線は{charts.HIDDEN}の数です。"
    chart = charts.stacked_bars(bars, series, chart_id=fig_id, title=f"日ごとの{what}の件数と結果", desc=desc)
    mix = charts.stacked_bars(
        [charts.Bar("期間の合計", table.grand_total, table.column_totals)],
        series,
        chart_id=f"{fig_id}-mix",
        title=f"期間の{what}の結果",
        desc=f"{what}は期間の合計で{total}。結果ごとに色分けした横棒グラフです。",
        labels_like=[b.label for b in bars],
    )
    help_text = f"上は期間の合計、下は1日ごとの{what}の件数です。棒の色は、その{what}がどうなったかを表します。"
    return Figure(fig_id, f"{what}の件数と結果", help_text, (mix, chart), numbers, series, csv=csv)


def by_hour_figure(
    fig_id: str, what: str, found: Breakdown, bands: Mapping[str, str], days: Sequence[date], csv: str, prefix: str
) -> Figure:
    """Contacts per time band over the period (columns), and per day × time band (a heatmap); one table of both."""
    table, left_out = found.table, set(found.left_out)
    band_labels = tuple(bands.values())
    totals = charts.columns(
        band_labels,
        table.column_totals,
        chart_id=f"{fig_id}-totals",
        title=f"時間帯ごとの{what}の件数（期間の合計）",
        desc=f"{what}の件数を、始まった時間帯ごとに期間で合計した縦棒グラフです。斜線は{charts.HIDDEN}の数です。",
        css=f"{prefix}-band",
    )
    keys = [d.isoformat() for d in days]
    shown = dict(zip(table.row_labels, table.cells, strict=True))
    zeros = tuple(0 for _ in bands)
    rows = [charts.HeatRow(day_label(date.fromisoformat(k)), None if k in left_out else shown.get(k, zeros)) for k in keys]
    heat = charts.heatmap(
        rows,
        band_labels,
        chart_id=fig_id,
        title=f"日と時間帯ごとの{what}の件数",
        desc=f"行が日、列が時間帯で、色が濃いほど{what}が多いことを表します。斜線は{charts.HIDDEN}の数です。",
    )
    numbers = number_table(table, bands, "日", lambda key: day_label(date.fromisoformat(key)), keys=[k for k in keys if k not in left_out])
    note = ""
    if left_out:
        named = "、".join(day_label(date.fromisoformat(k)) for k in keys if k in left_out)
        note = (
            f"{named}は、件数が少ないため（または、ほかの表と合わせると少ない数が分かってしまうため）時間帯ごとには表示していません。"
            "時間帯ごとの合計にも含めていません。"
        )
    help_text = f"上は、{what}が始まった時間帯ごとの件数を期間で合計したもの、下は日ごとの内訳です。色が濃いほど{what}が多い時間帯です。"
    return Figure(fig_id, f"時間帯ごとの{what}", help_text, (totals, heat), numbers, note=note, csv=csv)


def wait_figure(fig_id: str, what: str, found: Breakdown, median: str | None, csv: str, prefix: str) -> Figure:
    """How long those who reached a person waited, as one bar per band."""
    table = found.table
    numbers = number_table(table, WAIT_NAMES, "", lambda key: "つながった" if key == CONNECTED else key)
    cells = table.cells[0] if table.cells else tuple(None for _ in WAIT_NAMES)
    bars = [charts.Bar(name, count, (count,)) for name, count in zip(WAIT_NAMES.values(), cells, strict=True)]
    chart = charts.stacked_bars(
        bars,
        (charts.Series("wait", "つながった", f"{prefix}-wait"),),
        chart_id=fig_id,
        title=f"{what}が相談員につながるまでの待ち時間",
        desc=f"相談員につながった{what}を、つながるまで待った時間ごとに数えた横棒グラフです。",
    )
    said = f"待ち時間の中央値は{median}です。" if median is not None else ""
    note = "" if table.row_labels else f"つながった{what}が少ないため、待ち時間ごとには表示していません。"
    help_text = f"相談員につながった{what}だけを数えています。{said}"
    return Figure(fig_id, f"{what}がつながるまでの待ち時間", help_text, (chart,), numbers, note=note, csv=csv)


def referral_figure(fig_id: str, table: SuppressedTable, by: str, regions: Regions, csv: str) -> Figure:
    """Referral hops by tier pair or prefecture, each bar split by status."""
    label_of: Callable[[str], str] = _tier_pair
    corner, heading = "紹介の段階", "段階ごとの紹介と状況"
    if by == "prefecture":
        corner, heading, label_of = "都道府県", "都道府県ごとの紹介と状況", lambda code: _prefecture(regions, code)
    names = {s: STATUS_NAMES[s] for s in STATUSES}
    numbers = number_table(table, names, corner, label_of)
    series = series_of(names, "st")
    bars = [charts.Bar(r.label, r.total, r.cells) for r in numbers.rows]
    desc = f"紹介は期間の合計で{_count(table.grand_total)}。{corner}ごとの件数を、いまの状況ごとに色分けした横棒グラフです。"
    total = charts.Bar("合計", table.grand_total, table.column_totals) if by == "tier" and len(bars) > 1 else None
    chart = charts.stacked_bars(bars, series, chart_id=fig_id, title=heading, desc=desc, total=total)
    help_text = "紹介した日で数えています。色は、その紹介がいまどうなっているかです。"
    if table.grand_total == 0:  # the table's one row of zeros is a placeholder, not a hop
        return Figure(fig_id, heading, help_text, (), replace(numbers, rows=()), note="この期間の紹介はありません。", csv=csv)
    return Figure(fig_id, heading, help_text, (chart,), numbers, series, csv=csv)


def _count(value: int | None) -> str:
    return f"{value}件" if value is not None else charts.HIDDEN


def _tier_pair(key: str) -> str:
    first, _, second = key.partition("→")
    return f"{TIER_SHORT.get(first, first)} → {TIER_SHORT.get(second, second)}"


def _prefecture(regions: Regions, code: str) -> str:
    prefecture = regions.prefectures.get(code)
    return prefecture.name if prefecture else "地域が分からない"

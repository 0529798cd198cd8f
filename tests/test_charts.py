"""The server's SVG charts (routing/web/charts.py): marks proportional to the figures, suppressed numbers never drawn as
zero, and a title and description for screen readers. The SVG is read back as XML, as a browser would."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from routing.web import charts
from routing.web.charts import Bar, HeatRow, Series

SVG = "{http://www.w3.org/2000/svg}"
OUTCOMES = (Series("connected", "つながった", "o-connected"), Series("abandoned", "途中で終了", "o-abandoned"))


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def marks(svg: ET.Element) -> list[tuple[str, ET.Element]]:
    """Every mark that says what it is: (its <title>, the <rect> drawn), in order."""
    found = []
    for group in svg.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        rect = group.find(f"{SVG}rect")
        if title is not None and rect is not None:
            found.append((title.text or "", rect))
    return found


def width(rect: ET.Element) -> float:
    return float(rect.get("width", "0"))


def height(rect: ET.Element) -> float:
    return float(rect.get("height", "0"))


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def test_stacked_bars_are_as_long_as_their_counts_and_a_hidden_total_is_said_not_drawn() -> None:
    bars = [Bar("12月1日（火）", 40, (30, 10)), Bar("12月2日（水）", 20, (20, 0)), Bar("12月3日（木）", None, (None, None))]
    svg = parsed(charts.stacked_bars(bars, OUTCOMES, chart_id="calls-day", title="日ごとの電話", desc="電話の件数"))
    drawn = dict(marks(svg))
    first, second, lost = (
        drawn["12月1日（火）・つながった：30件"],
        drawn["12月1日（火）・途中で終了：10件"],
        drawn["12月2日（水）・つながった：20件"],
    )
    assert width(first) == pytest.approx(3 * width(lost) / 2, rel=0.01)
    assert width(first) == pytest.approx(3 * width(second), rel=0.01)
    assert first.get("class") == "o-connected" and second.get("class") == "o-abandoned"
    hidden = [title for title in drawn if title.startswith("12月3日（木）")]
    assert hidden == ["12月3日（木）：少数のため非表示"]  # no bar, not even one of zero
    assert width(drawn[hidden[0]]) < width(lost) / 10
    assert "少数のため非表示" in texts(svg) and "40件" in texts(svg) and "0件" not in texts(svg)


def test_the_hidden_part_of_a_published_total_is_hatched_to_its_length() -> None:
    bars = [Bar("12月1日（火）", 30, (20, None)), Bar("12月2日（水）", 40, (40, 0))]
    svg = parsed(charts.stacked_bars(bars, OUTCOMES, chart_id="c", title="t", desc="d"))
    drawn = dict(marks(svg))
    rest = drawn["12月1日（火）：内訳の一部は少数のため非表示（合わせて10件）"]
    assert rest.get("fill") == "url(#c-hatch)" and rest.get("class") == "hidden"
    assert width(rest) == pytest.approx(width(drawn["12月2日（水）・つながった：40件"]) / 4, rel=0.01)
    assert svg.find(f".//{SVG}pattern[@id='c-hatch']") is not None


def test_columns_are_as_tall_as_their_counts_and_a_hidden_one_is_no_column_at_all() -> None:
    svg = parsed(charts.columns(["0〜3時", "3〜6時", "6〜9時"], [40, None, 10], chart_id="h", title="時間帯", desc="d", css="o-band"))
    drawn = dict(marks(svg))
    assert height(drawn["0〜3時：40件"]) == pytest.approx(4 * height(drawn["6〜9時：10件"]), rel=0.01)
    hidden = drawn["3〜6時：少数のため非表示"]
    assert hidden.get("class") == "hidden" and height(hidden) < height(drawn["6〜9時：10件"])  # a mark, not a column
    values = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "above"]
    assert values == ["40", "10"] and texts(svg).count("少数のため非表示") == 1


def test_a_heatmap_colours_by_count_hatches_hidden_cells_and_says_which_days_are_left_out() -> None:
    rows = [HeatRow("12月1日（火）", (0, 5, None, 50)), HeatRow("12月2日（水）", None)]
    svg = parsed(charts.heatmap(rows, ["0〜6時", "6〜12時", "12〜18時", "18〜24時"], chart_id="m", title="日と時間帯", desc="d"))
    drawn = dict(marks(svg))
    assert drawn["12月1日（火） 0〜6時：0件"].get("class") == "level-0"
    assert drawn["12月1日（火） 6〜12時：5件"].get("class") == "level-1"
    assert drawn["12月1日（火） 18〜24時：50件"].get("class") == "level-5"
    assert drawn["12月1日（火） 12〜18時：少数のため非表示"].get("fill") == "url(#m-hatch)"
    assert drawn["12月2日（水）：少数のため非表示"].get("class") == "left-out"
    assert "この日は少数のため非表示" in texts(svg)


@pytest.mark.parametrize(("count", "level"), [(0, 0), (1, 1), (20, 1), (21, 2), (99, 5), (100, 5)])
def test_heat_levels_split_the_largest_count_in_five(count: int, level: int) -> None:
    assert charts.heat_level(count, 100) == level


def test_every_chart_is_labelled_for_screen_readers_and_escapes_what_it_is_given() -> None:
    drawn = [
        charts.stacked_bars([Bar("<b>", 12, (12, 0))], OUTCOMES, chart_id="a", title="電話 & チャット", desc="説明 <1>"),
        charts.columns(["0時台"], [12], chart_id="b", title="時間帯", desc="説明", css="o-band"),
        charts.heatmap([HeatRow("<i>", (12,))], ["0時台"], chart_id="c", title="日と時間帯", desc="説明"),
    ]
    for markup in drawn:
        svg = parsed(markup)  # well-formed: nothing given was written unescaped
        chart_id = svg.get("id")
        assert svg.get("role") == "img" and svg.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
        assert svg.find(f"{SVG}title").get("id") == f"{chart_id}-title"  # type: ignore[union-attr]
        assert svg.find(f"{SVG}desc").get("id") == f"{chart_id}-desc"  # type: ignore[union-attr]
        assert "style" not in markup  # the pages' Content-Security-Policy allows no inline style
    assert parsed(drawn[0]).find(f"{SVG}title").text == "電話 & チャット"  # type: ignore[union-attr]


def test_narrow_hidden_columns_say_it_in_their_title_and_leave_the_words_to_the_legend() -> None:
    hours = [f"{h}時台" for h in range(24)]
    svg = parsed(charts.columns(hours, [None] * 8 + [12] * 16, chart_id="n", title="時間帯", desc="d", css="o-band"))
    drawn = dict(marks(svg))
    assert [t for t in drawn if t.endswith("少数のため非表示")] == [f"{h}時台：少数のため非表示" for h in range(8)]
    assert "少数のため非表示" not in texts(svg) and "0" not in [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "above"]

"""The windows list's bulk change: the services chosen, and the closure or extended hours typed for all of them.

What was typed is read into a `BulkChange` (referral_directory/bulk.py); what cannot be read or does not fit together
(no window chosen, the dates reversed, the same start and end) is a problem beside its box, in Japanese, once for
all the services. The rules about each service are the directory's own, applied per service in the preview. The
same fields travel from the list to the preview, to the confirmation, and back to the list to be changed. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from starlette.datastructures import FormData, QueryParams

from referral_directory.bulk import BULK_KINDS, BulkChange, coming_year_end
from referral_directory.hours import parse_hhmm
from referral_directory.records import WEEKDAYS
from routing.web.directory_form import typed_clock, typed_date

MAX_SELECTED = 200  # services in one bulk change: four pages of the list
NOTE_MAX = 200
YEAR_END_NOTE = "年末年始"
NONE_CHOSEN = "変更する窓口を、下の一覧で一つ以上選んでください（☑）。"
TOO_MANY = f"一度に変更できるのは{MAX_SELECTED}件までです。分けて変更してください。"
NO_KIND = "休みにするか、受付時間を延長するかを選んでください。"
NO_DATE = "日付を入れてください。"
REVERSED = "終わりの日が、始まりの日より前になっています。日付を入れ替えてください。"
NO_DAYS = "延長する曜日を一つ以上選んでください。"
NOT_A_TIME = {
    "opens": "始まりの時刻を 18:00 のように、0:00 から 23:59 までで入れてください。",
    "closes": "終わりの時刻を 22:00 のように、0:00 から 24:00 までで入れてください（翌朝までなら 6:00 のように）。",
}
OPENS_AT_24 = "24:00 に始めることはできません。0:00 としてください。"
SAME_TIMES = "始まりと終わりが同じ時刻です。終日受け付けるときは 0:00〜24:00 としてください。"
LONG_NOTE = f"メモは{NOTE_MAX}文字までです。"
FIELDS = ("kind", "from", "to", "opens", "closes", "note")


Values = FormData | QueryParams  # a form sent, or a query string


@dataclass
class BulkForm:
    """The bulk change as typed: its fields (the service form's row shape), the services chosen, the problems found."""

    typed: dict
    selected: list[str]
    list_query: str = ""  # the list's filters, to go back to the same list
    problems: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Values, *, today: date) -> BulkForm:
        """Read a bulk change from a form or a query string; without one, 年末年始's closure is ready to apply."""
        if values.get("bulk-kind") is None:
            first, last = coming_year_end(today)
            typed: dict = {"kind": "closed", "from": first.isoformat(), "to": last.isoformat(), "note": YEAR_END_NOTE}
            typed |= {"days": list(WEEKDAYS), "opens": "", "closes": ""}
        else:
            typed = {name: _text(values, f"bulk-{name}") for name in FIELDS}
            typed["days"] = [d for d in values.getlist("bulk-days") if d in WEEKDAYS]
        chosen = [v.strip() for v in values.getlist("service") if isinstance(v, str) and v.strip()]
        return cls(typed, list(dict.fromkeys(chosen)), _text(values, "list_query"))

    def add(self, key: str, message: str) -> None:
        found = self.problems.setdefault(key, [])
        if message not in found:
            found.append(message)

    def read(self) -> BulkChange | None:
        """Return the change typed, or None with the problems beside their boxes."""
        if not self.selected:
            self.add("bulk-services", NONE_CHOSEN)
        elif len(self.selected) > MAX_SELECTED:
            self.add("bulk-services", TOO_MANY)
        kind = self.typed["kind"]
        if kind not in BULK_KINDS:
            self.add("bulk-kind", NO_KIND)
        first, last = self._date("from"), self._date("to")
        if first and last and last < first:
            self.add("bulk-to", REVERSED)
        opens = closes = None
        if kind == "open":
            if not self.typed["days"]:
                self.add("bulk-days", NO_DAYS)
            opens, closes = self._clock("opens"), self._clock("closes")
        if len(self.typed["note"]) > NOTE_MAX:
            self.add("bulk-note", LONG_NOTE)
        if self.problems or first is None or last is None:
            return None
        days = tuple(self.typed["days"]) if kind == "open" else ()
        return BulkChange(kind, first, last, days, opens, closes, self.typed["note"])

    def _date(self, name: str) -> date | None:
        day, problem = typed_date(self.typed[name])
        if problem or day is None:
            self.add(f"bulk-{name}", problem or NO_DATE)
        return day

    def _clock(self, name: str) -> str | None:
        hhmm = typed_clock(self.typed[name])
        try:
            minutes = parse_hhmm(hhmm or "")
        except ValueError:
            self.add(f"bulk-{name}", NOT_A_TIME[name])
            return None
        if name == "opens" and minutes == 24 * 60:
            self.add("bulk-opens", OPENS_AT_24)
        if name == "closes" and hhmm == typed_clock(self.typed["opens"]):
            self.add("bulk-closes", SAME_TIMES)
        return hhmm

    def hidden(self) -> list[tuple[str, str]]:
        """Return the (name, value) pairs that carry this change and its services on to the next form."""
        pairs = [(f"bulk-{name}", str(self.typed[name])) for name in FIELDS]
        pairs += [("bulk-days", day) for day in self.typed["days"]]
        pairs += [("service", service_id) for service_id in self.selected]
        return [*pairs, ("list_query", self.list_query)]

    def context(self) -> dict:
        """Return what the windows list shows of the bulk change."""
        return {"bulk": self.typed, "selected": set(self.selected), "problems": self.problems, "list_query": self.list_query}


def versions_of(values: Values) -> dict[str, int]:
    """Return the version of each service the preview showed (its `version-ID` fields); a garbled one reads as 0."""
    found: dict[str, int] = {}
    for service_id in values.getlist("service"):
        if not isinstance(service_id, str):
            continue
        text = values.get(f"version-{service_id}")
        found[service_id] = int(text) if isinstance(text, str) and text.isdigit() and len(text) < 19 else 0
    return found


def _text(values: Values, name: str) -> str:
    value = values.get(name)
    return value.strip() if isinstance(value, str) else ""

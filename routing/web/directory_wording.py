"""What the coordinator's directory pages say, in Japanese: field names, values as people read them, and the
directory's validation problems (referral_directory/validation.py, written for programs) as a coordinator reads them.

Pure: plain values in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from referral_directory.records import CHANNELS, MAX_CAPACITY, NAME_MAX, TIER_NAMES, TOPIC_LABELS_JA, WEEKDAYS, Problem

CHANNEL_NAMES = {"voice": "電話", "sns": "SNS"}
STATUS_NAMES = {"active": "運用中", "temporarily closed": "一時休止中", "inactive": "休止中", "defunct": "廃止"}
HOLIDAY_NAMES = {"closed": "祝日は休み", "open": "祝日も受け付ける"}
DAY_NAMES = dict(zip(WEEKDAYS, "月火水木金土日", strict=True))
FIELD_NAMES = {
    "created": "登録",
    "deleted": "削除",
    "organization_id": "運営団体",
    "name": "窓口の名前",
    "tier": "段階",
    "topics": "相談の内容",
    "channels": "受付の方法",
    "capacity": "同時に受けられる数",
    "areas": "対象地域",
    "holidays": "祝日",
    "status": "状態",
    "description": "説明",
    "sns_url": "SNS の受付ページ",
    "phones": "電話番号",
    "schedules": "受付時間・休み",
}
NOTHING = "（なし）"
GENERIC = "この欄の内容を確かめてください。"

# (the problem's field, a clue in its message, what a coordinator reads), tried in order.
_Words = tuple[str, str, str]
PROBLEM_WORDS: tuple[_Words, ...] = (
    (r"name", "has no name", "窓口の名前を入れてください。"),
    (r"name", "characters; at most", f"窓口の名前は{NAME_MAX}文字までです。"),
    (r"description", "characters; at most", "説明は4000文字までです。短くまとめてください。"),
    (r".*", "no directory file can carry", "目に見えない特殊な文字が含まれています。いったん消して、入力し直してください。"),
    (r"organization_id", "", "運営団体を一覧から選んでください。"),
    (r"tier", "", "段階（全国・都道府県・市区町村）を選んでください。"),
    (r"topics", "no topics", "受け付ける相談の内容を、一つ以上選んでください。"),
    (r"topics", "", "相談の内容を一覧から選び直してください。"),
    (r"channels", "no channels", "受付の方法（電話・SNS）を、一つ以上選んでください。"),
    (r"channels", "", "受付の方法を一覧から選び直してください。"),
    (r"capacity\.(voice|sns)", "is missing", "{channel}で同時に受けられる数を入れてください（止めるときは 0）。"),
    (r"capacity.*", "whole number", f"同時に受けられる数は、0 から {MAX_CAPACITY} までの整数で入れてください。"),
    (r"capacity\.(voice|sns)", "does not take", "{channel}を受け付けないときは、数を空けておいてください。"),
    (r"areas", "no service area", "対象地域を一つ以上選んでください。"),
    (r"areas", "at most", "対象地域は2000か所までです。"),
    (r"areas", "", "対象地域に、見つからない地域が含まれています。一覧から選び直してください。"),
    (r"phones\[\d+\]\.number", "not a Japanese number", "日本の電話番号を入れてください（例：03-1234-5678）。"),
    (r"phones\[\d+\]\.number", "", "電話番号として読み取れませんでした。03-1234-5678 のように、市外局番から入れてください。"),
    (r"phones", "needs at least one phone number", "電話で受け付ける窓口には、電話番号を一つ以上入れてください。"),
    (r"phones", "at most", "電話番号は50件までです。"),
    (r"sns_url", "", "SNS の受付ページは、https:// から始まるアドレスで入れてください。"),
    (r"schedules\[\d+\]\.byday", "missing", "曜日を一つ以上選んでください。"),
    (r"schedules\[\d+\]\.byday", "", "曜日を選び直してください。"),
    (r"schedules\[\d+\]\.(opens_at|closes_at)", "is missing", "時刻を 9:00 のように入れてください。"),
    (r"schedules\[\d+\]\.opens_at", '"24:00"', "24:00 に始めることはできません。0:00 としてください。"),
    (r"schedules\[\d+\]\.closes_at", "impossible hours", "始まりと終わりが同じ時刻です。終日受け付けるときは 0:00〜24:00 としてください。"),
    (r"schedules\[\d+\]\.(opens_at|closes_at)", "", "時刻を 9:00 のように、0:00 から 24:00 までで入れてください。"),
    (r"schedules\[\d+\]\.valid_to", "is before", "終わりの日が、始まりの日より前になっています。日付を入れ替えてください。"),
    (r"schedules\[\d+\]\.valid_(from|to)", "is missing", "日付を入れてください。"),
    (r"schedules", "never open", "運用中の窓口には、曜日ごとの受付時間を一つ以上入れてください（止めるときは、状態を「休止中」に）。"),
    (r"schedules", "at most", "受付時間・延長・休みは、合わせて200件までです。"),
    (r"holidays", "", "祝日の扱いを選んでください。"),
    (r"status", "", "状態を選んでください。"),
)


def problem_message(problem: Problem) -> str:
    """Return a validation problem as a coordinator reads it, beside its field."""
    for where, clue, words in PROBLEM_WORDS:
        found = re.fullmatch(where, problem.field)
        if found and clue in problem.message:
            channel = next((CHANNEL_NAMES[c] for c in CHANNELS if problem.field.endswith(c)), "")
            return words.format(channel=channel)
    return GENERIC


def clock_text(hhmm: str | None) -> str:
    """Return "09:00" as "9:00"; '' for None."""
    if not hhmm:
        return ""
    hour, _, minute = hhmm.partition(":")
    return f"{int(hour)}:{minute}" if hour.isdigit() else hhmm


def days_text(days: Sequence[str]) -> str:
    """Return weekdays as people write them: 月〜金, 土・日, 毎日."""
    indexes = sorted(WEEKDAYS.index(d) for d in days if d in WEEKDAYS)
    if len(indexes) == len(WEEKDAYS):
        return "毎日"
    if len(indexes) >= 3 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{DAY_NAMES[WEEKDAYS[indexes[0]]]}〜{DAY_NAMES[WEEKDAYS[indexes[-1]]]}"
    return "・".join(DAY_NAMES[WEEKDAYS[i]] for i in indexes)


def window_text(opens: str | None, closes: str | None) -> str:
    """Return a window as people write it: 9:00〜17:00, or 22:00〜翌6:00 for one that runs past midnight."""
    if not opens or not closes:
        return f"{clock_text(opens)}〜{clock_text(closes)}"
    overnight = closes != "24:00" and closes <= opens
    return f"{clock_text(opens)}〜{'翌' if overnight else ''}{clock_text(closes)}"


def date_text(iso: str | None) -> str:
    """Return "2026-12-29" as 2026年12月29日."""
    if not iso:
        return ""
    year, month, day = iso.split("-")
    return f"{int(year)}年{int(month)}月{int(day)}日"


def schedule_text(schedule: Mapping) -> str:
    """Return one schedule (as stored in the change history) in a line."""
    note = f"（{schedule['description']}）" if schedule.get("description") else ""
    hours = f"{days_text(schedule.get('byday') or ())} {window_text(schedule.get('opens_at'), schedule.get('closes_at'))}"
    if schedule.get("kind") == "closed":
        return f"休み {date_text(schedule.get('valid_from'))}〜{date_text(schedule.get('valid_to'))}{note}"
    if schedule.get("kind") == "open":
        return f"延長 {date_text(schedule.get('valid_from'))}〜{date_text(schedule.get('valid_to'))} {hours}{note}"
    return f"{hours}{note}"


def value_lines(
    field: str, value: object, *, organization: Callable[[str], str], area: Callable[[str], str], phone: Callable[[str], str]
) -> list[str]:
    """Return a service field's value (a record's, or the change history's JSON) as lines a coordinator reads."""
    if value is None or value == "" or value == []:
        return [NOTHING]
    if field == "organization_id":
        return [organization(str(value))]
    names: Mapping[str, str] | None = {
        "tier": TIER_NAMES,
        "status": STATUS_NAMES,
        "holidays": HOLIDAY_NAMES,
        "topics": TOPIC_LABELS_JA,
        "channels": CHANNEL_NAMES,
    }.get(field)
    if names is not None:
        items = value if isinstance(value, list | tuple) else [value]
        return ["、".join(names.get(str(v), str(v)) for v in items)]
    if field == "capacity" and isinstance(value, list | tuple):
        return ["、".join(f"{CHANNEL_NAMES.get(c, c)} {n}" for c, n in value) or NOTHING]
    if field == "areas" and isinstance(value, list | tuple):
        return ["、".join(area(str(code)) for code in value)]
    if field == "phones" and isinstance(value, list | tuple):
        return [phone(p["number"]) + (f"（{p['description']}）" if p.get("description") else "") for p in value]
    if field == "schedules" and isinstance(value, list | tuple):
        return [schedule_text(s) for s in value]
    if isinstance(value, dict):  # a whole record: created or deleted
        return [str(value.get("name", ""))]
    return [str(value)]

"""What the import page says about a directory file's problems, in Japanese: where (row, column), and what to fix.

The readers and the directory's rules (referral_directory/interchange/, validation.py, imports.py) write their problems
for programs and for the command line, in English; this turns each into the row, the column as the sheet's header
names it with its meaning, and a sentence a coordinator can act on. A problem no rule knows is still shown, with its
original words beside a general request to check the cell. Pure: plain values in, text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from referral_directory.interchange.sheet import COLUMNS
from referral_directory.records import MAX_CAPACITY, Problem
from routing.cases.schemas import typed_phone_number
from routing.web.directory_wording import CHANNEL_NAMES, FIELD_NAMES

COLUMN_NAMES = {
    "service_id": "窓口のID",
    "organization_id": "運営団体のID",
    "organization_name": "運営団体の名前",
    "service_name": "窓口の名前",
    "tier": "段階",
    "topics": "相談の内容",
    "channels": "受付の方法",
    "capacity_voice": "電話で同時に受けられる数",
    "capacity_sns": "SNSで同時に受けられる数",
    "holidays": "祝日",
    "status": "状態",
    "areas": "対象地域",
    "phones": "電話番号",
    "hours": "受付時間",
    "closed": "休み",
    "extra_hours": "延長受付",
    "sns_url": "SNS の受付ページ",
    "description": "説明",
}
HSDS_NAMES = FIELD_NAMES | {
    "service_areas": "対象地域",
    "attributes": "段階・相談の内容・受付の方法など",
    "organization": "運営団体",
    "url": "SNS の受付ページ",
}
GENERIC = "この欄を確かめてください。"
OUTSIDE_ORGANIZATION = (
    "この運営団体は、このファイルでは選べません（担当地域の外でも窓口を運営しているか、ほかの方が登録したばかりの団体です）。"
    "担当地域の団体にするか、その地域のコーディネーターにご依頼ください。"
)
UNREADABLE_SHEET = (
    "Excel のファイルとして開けませんでした。"
    "Excel で開き、「Excel ブック（*.xlsx）」か「CSV UTF-8（コンマ区切り）」で保存し直してください。"
)
UNREADABLE_JSON = "HSDS の JSON として読み取れませんでした。書き出したファイルをもとに作り直してください。"
TOO_BIG = "行か列が多すぎます（20,000 行・100 列まで）。表のあとの空いた行と列を消すか、新しいブックに表だけを写して保存し直してください。"

# (what the message says, what a coordinator reads), tried in order; {x}, {c}, {f}, {t} are parts of the message,
# {channel} the channel's name and {code} its code.
RULES: tuple[tuple[str, str], ...] = (
    (
        r'unknown column "(?P<x>[^"]*)"',
        "「{x}」という列は使えません。1行目の列の名前は、書き出したファイルのものをそのまま使ってください。",
    ),
    (r'the column "(?P<x>[^"]*)" is missing', "「{x}」の列がありません。書き出したファイルの1行目を、そのまま使ってください。"),
    (r"^organization_name is missing", "運営団体の名前が空です。"),
    (r"^service_name is missing", "窓口の名前が空です。"),
    (r'is named "(?P<x>.*)" on an earlier row', "この運営団体は、前の行では「{x}」という名前です。同じ団体は同じ名前にしてください。"),
    (r"row (?P<x>\d+) already has this service", "{x}行目と同じ窓口です。一つの窓口は一行にまとめてください。"),
    (r"whole number", f"同時に受けられる数は、0 から {MAX_CAPACITY} までの整数で書いてください。"),
    (
        r"capacity for (?P<code>voice|sns) is missing",
        "{channel}で受け付ける窓口です。{channel}で同時に受けられる数を書いてください（止めるときは 0）。",
    ),
    (
        r"does not take (?P<code>voice|sns)",
        "{channel}を受け付けない窓口に、{channel}の数が書かれています。数を消すか、channels に {code} を加えてください。",
    ),
    (r"is given twice", "同時に受けられる数が、二回書かれています。"),
    (r'^"?(?P<x>[^"]*?)"? is listed twice', "「{x}」が二回書かれています。一回にしてください。"),
    (
        r'^"(?P<x>.*)" is not opening hours like',
        "「{x}」は受付時間として読めません。MO-FR 09:00-17:00 のように、曜日と時刻で書いてください。",
    ),
    (r'^"(?P<x>.*)" does not say which days', "「{x}」に曜日がありません。MO-FR 09:00-17:00 のように、曜日から書いてください。"),
    (r'unknown day "(?P<x>[^"]*)"', "「{x}」は曜日として読めません。MO TU WE TH FR SA SU か、MO-FR のような範囲で書いてください。"),
    (
        r'^"(?P<x>.*)" is not a date or date range',
        "「{x}」は日付として読めません。2026-12-29/2027-01-03 や 2027-05-03 のように書いてください。",
    ),
    (
        r'^"(?P<x>.*)" is not dated hours',
        "「{x}」は延長受付として読めません。2026-12-29/2027-01-03 MO-SU 18:00-24:00 のように、期間・曜日・時刻で書いてください。",
    ),
    (r'^"(?P<x>.*)" is not a real date', "「{x}」は、ない日付です。年・月・日を確かめてください。"),
    (r'time "(?P<x>[^"]*)"', "時刻「{x}」を読み取れません。09:00 のように、00:00 から 24:00 までで書いてください。"),
    (r"out of range: give a date from", "2000年から2099年までの日付にしてください。"),
    (r"past row|past column|declares .* rows|unpacks to", TOO_BIG),
    (
        r"neither UTF-8 nor Shift_JIS|undecodable characters",
        "文字を読み取れませんでした。Excel で「CSV UTF-8（コンマ区切り）」を選んで保存し直してください。",
    ),
    (r"not an XLSX workbook|worksheet cannot be read|has no worksheet", UNREADABLE_SHEET),
    (r"the CSV cannot be read", "CSV として読み取れませんでした（とても長い欄があります）。Excel で開いて保存し直してください。"),
    (r"UTF-8 JSON|not valid JSON|more digits than any|nested far deeper|contents list|contents, the list", UNREADABLE_JSON),
    (r"has no name", "名前が空です。"),
    (r"characters; at most", "長すぎます。名前は200文字まで、説明は4000文字までにしてください。"),
    (r"no directory file can carry", "目に見えない特殊な文字が含まれています。その欄を消して、入力し直してください。"),
    (
        r'unknown tier "(?P<x>[^"]*)"',
        "段階「{x}」は使えません。national（全国）・prefecture（都道府県）・municipal（市区町村）のどれかにしてください。",
    ),
    (
        r'unknown topic "(?P<x>[^"]*)"',
        "相談の内容「{x}」は使えません。life mind crisis violence family youth sogi foreign general から選んでください。",
    ),
    (r"^no topics", "相談の内容が空です。life mind crisis violence family youth sogi foreign general から一つ以上書いてください。"),
    (r'unknown channel "(?P<x>[^"]*)"', "受付の方法「{x}」は使えません。voice（電話）か sns にしてください。"),
    (r"^no channels", "受付の方法が空です。voice（電話）か sns を書いてください。"),
    (r"unknown holiday behaviour", "祝日の扱いは closed（休み）か open（受け付ける）にしてください。"),
    (r"unknown status", "状態は active・inactive・defunct・temporarily closed のどれかにしてください。"),
    (r"missing its check digit; did you mean (?P<x>\d+)", "地域コードの最後の一けた（検査数字）がありません。{x} ではありませんか。"),
    (
        r"lgcode (?P<c>\d+) has a wrong check digit; did you mean (?P<x>\d+)",
        "地域コード {c} の最後の一けた（検査数字）が違います。{x} ではありませんか。",
    ),
    (r"lgcode (?P<c>\S+) is not a Japanese", "地域コード {c} に当たる都道府県・市区町村が見つかりません。"),
    (r"lgcode '(?P<c>.*)' is not 6 digits", "地域コード「{c}」は6けたで書いてください（例：131016。全国は 000000）。"),
    (r'write area "(?P<c>[^"]*)" as (?P<x>\d+)', "地域コード {c} は {x} と書いてください。"),
    (r"^no service area", "対象地域が空です。地域コード（例：131016）か、全国なら 000000 を書いてください。"),
    (r"a service holds at most (?P<x>\d+)", "一つの窓口に書けるのは {x} 件までです。"),
    (r'"(?P<x>[^"]*)" is not an E\.164 number', "電話番号「{x}」を読み取れません。+81312345678 のように、+81 から書いてください。"),
    (r'"(?P<x>[^"]*)" is not a Japanese number', "電話番号「{x}」は日本の番号ではありません。+81 から書いてください。"),
    (r'"(?P<x>[^"]*)" is not a valid Japanese', "電話番号「{x}」は、ありえない番号です。けた数を確かめてください。"),
    (r"needs at least one phone number", "電話で受け付ける窓口です。電話番号を一つ以上書いてください。"),
    (r"is not a web address", "SNS の受付ページは、https:// から始まるアドレスで書いてください。"),
    (r"valid_to (?P<t>\S+) is before valid_from (?P<f>\S+)", "終わりの日（{t}）が、始まりの日（{f}）より前です。"),
    (r"valid_(from|to) is missing", "期間の始まりと終わりの日付を書いてください。"),
    (r"weekly hours have no", "毎週の受付時間に日付は付けられません。期間を区切るときは、延長受付（extra_hours）に書いてください。"),
    (
        r"a closure shuts whole days, whatever its .* they are ignored",
        "休みは一日単位です。書かれていた曜日や時刻は使わず、その期間の毎日をまるごと休みとして取り込みます。",
    ),
    (r"a closure shuts whole days", "休みは一日単位です。曜日や時刻は付けられません。"),
    (r"byday is (missing|empty)", "曜日を書いてください（例：MO-FR）。"),
    (r"(opens_at|closes_at) is missing", "時刻を書いてください（例：09:00）。"),
    (r'open at "24:00"', "24:00 に始めることはできません。00:00 としてください。"),
    (r"impossible hours", "始まりと終わりが同じ時刻です。一日中受け付けるときは 24h か 00:00-24:00 と書いてください。"),
    (
        r"is active but has no weekly hours",
        "運用中（active）の窓口に、受付時間がありません。受付時間を書くか、止めるときは status を inactive にしてください。",
    ),
    (r'id "(?P<x>[^"]*)" is not a UUID', "ID「{x}」の形が違います。新しい窓口なら、IDの欄は空けておいてください（自動で付きます）。"),
    (r"id \S+ is used twice", "同じIDが、このファイルの中で二回使われています。"),
    (r"already belongs to service", "このIDは、ほかの窓口ですでに使われています。IDの欄を空けておくと、新しく付きます。"),
    (
        r"neither in this file nor in the directory",
        "運営団体が見つかりません。運営団体の名前を書くか、登録されている団体のIDにしてください。",
    ),
    (
        r"is stored with areas outside your regions \((?P<x>.*)\)",
        "この窓口はいま、担当地域（{x}）の外の地域が対象のため、変更できません。その地域のコーディネーターにご依頼ください。",
    ),
    (
        r"serves areas outside your regions \((?P<x>.*)\)",
        "対象地域に、担当地域（{x}）の外の地域が含まれています。担当地域の中にするか、その地域のコーディネーターにご依頼ください。",
    ),
    (r"organization refused", OUTSIDE_ORGANIZATION),
)
_RULES = tuple((re.compile(clue), words) for clue, words in RULES)
_E164 = re.compile(r'"([^"]*)" is not an E\.164 number')
_ROW = re.compile(r"row (\d+)")
_LINE = re.compile(r"line (\d+)")
_CONTENTS = re.compile(r"contents\[(\d+)\]")
_NAMED = re.compile(r"(service|organization) \S+ \((.*)\)", re.S)


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One problem of a file as the import page shows it."""

    place: str  # 3行目, ファイル全体, 窓口「…」
    column: str  # phones（電話番号）; '' for the whole row or file
    message: str  # what to fix, in Japanese
    detail: str = ""  # the original words, when no rule knows the problem


def file_problem(problem: Problem) -> FileProblem:
    """Return a reader's or the directory's problem as the import page shows it."""
    message, known = problem_words(problem.message, problem.field)
    return FileProblem(place_text(problem.where, problem.field), column_text(problem.field), message, "" if known else problem.message)


def problem_words(message: str, field: str = "") -> tuple[str, bool]:
    """Return what a problem's message asks of a coordinator in Japanese, and whether a rule knew it."""
    if (typed := _E164.search(message)) and (meant := _e164(typed[1])):
        return f"電話番号「{typed[1]}」は、+81 から「{meant}」のように書いてください。", True
    for clue, words in _RULES:
        found = clue.search(message)
        if found:
            parts = {k: v for k, v in found.groupdict().items() if v is not None}
            code = parts.get("code") or next((c for c in CHANNEL_NAMES if field.endswith(c)), "voice")
            return words.format(channel=CHANNEL_NAMES[code], **(parts | {"code": code})), True
    return GENERIC, False


def _e164(typed: str) -> str | None:
    """Return a Japanese number as people write it (03-1234-5678) in E.164, or None when it is no such number."""
    try:
        return typed_phone_number(typed)
    except ValueError:
        return None


def place_text(where: str, field: str = "") -> str:
    """Return where a problem is: 3行目, ファイル全体, 2番目の窓口, 窓口「…」."""
    if found := _ROW.fullmatch(where):
        return f"{found[1]}行目"
    if where == "file":
        line = _LINE.fullmatch(field)
        return f"ファイル全体（{line[1]}行目）" if line else "ファイル全体"
    if found := _CONTENTS.fullmatch(where):
        return f"{int(found[1]) + 1}番目の窓口"
    if found := _NAMED.fullmatch(where):
        noun = "窓口" if found[1] == "service" else "運営団体"
        return f"{noun}「{found[2]}」" if found[2] else f"名前のない{noun}"
    return where


def column_text(field: str) -> str:
    """Return the column (or the HSDS field) a problem is about, with its meaning: phones（電話番号）."""
    if not field or _LINE.fullmatch(field):
        return ""
    if field in COLUMNS:
        return f"{field}（{COLUMN_NAMES[field]}）"
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    meaning = HSDS_NAMES.get(head) or COLUMN_NAMES.get(head)
    return f"{field}（{meaning}）" if meaning else field

"""What the counsellor's pages show: Japanese labels, times in JST, kind error messages, and the rows
of the dashboard and the case page, built from the case service's answers (routing.cases.service).

No access decision is made here: every read goes through the service, which checks the staff
member's chain and writes the audit log, exactly as for a JSON client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import phonenumbers
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory.errors import TsunaguError
from referral_directory.hours import JST
from referral_directory.records import TIER_NAMES, TOPICS
from referral_directory.regions import RegionError
from referral_directory.staff.access import CASE_WORKERS
from referral_directory.staff.accounts import Staff
from routing.cases import service
from routing.cases.handoff import LIVE_FOR_RECEIVER, OPEN, Status
from routing.cases.schemas import Box, CaseOut, CaseSummaryOut, ReferralOut, SuggestionOut
from routing.runtime import Runtime
from routing.statistics.counts import STATUS_NAMES
from routing.telephony.prompts import TOPIC_NAMES

CHANNEL_NAMES = {"voice": "電話", "sns": "SNS", "visit": "来所"}
AGE_BAND_NAMES = {
    "under18": "18歳未満",
    "18-29": "18〜29歳",
    "30-49": "30〜49歳",
    "50-64": "50〜64歳",
    "65plus": "65歳以上",
    "unknown": "わからない",
}
RISK_NAMES = {"low": "低い", "medium": "中くらい", "high": "高い", "imminent": "差し迫っている"}
SHARE_CHOICES = {"none": "共有しない", "consent": "本人の同意あり", "exception": "生命の安全のための例外（理由を記入）"}
SHARE_NAMES = {"none": "共有なし", "consent": "本人の同意あり", "exception": "生命の安全のための例外"}
KIND_NAMES = {"refer": "紹介", "transfer": "電話の転送"}
OUTCOME_NAMES = {  # how a referral closed; stored as the code (the API takes up to 32 characters)
    "supported": "支援につながった",
    "referred_on": "ほかの窓口へつないだ",
    "unreachable": "連絡がつかなかった",
    "declined_by_person": "ご本人が支援を望まなかった",
    "other": "その他",
}
WEEKDAY_NAMES = "月火水木金土日"
UNKNOWN_WINDOW = "（名簿にない窓口）"
NOTE_PURGED = "（保存期間を過ぎたため、消去されました）"

CONSENT_NOT_TICKED = "the person's consent was not confirmed on the form"
# The API's messages are for programs and English-reading operators; a counsellor reads these instead.
KNOWN_PROBLEMS = (
    (CONSENT_NOT_TICKED, "ご本人の同意を確かめてから、「ご本人が同意しました」にチェックを入れてください。"),
    ("accept the referral first", "この相談の紹介をまだ受理していません。受理すると、メモを書いたり、次の窓口へ紹介したりできます。"),
    (
        "holding the case",
        "受付内容とご本人の同意は、この相談を受け付けた窓口が記録します。こちらの窓口でわかったことは、メモに書いてください。",
    ),
    ("referral is closed", "この窓口への紹介は終結しているため、相談を読むことだけができます。"),
    ("already has the case", "選んだ窓口には、すでにこの相談が届いています。ほかの窓口を選んでください。"),
    (
        "consent is not recorded",
        "ご本人の同意がまだ記録されていません。先に「ご本人の同意」を記録するか、「共有しない」を選んで紹介してください。",
    ),
    ("exception needs the reason", "「生命の安全のための例外」を選んだときは、その理由を記入してください。"),
    ("does not open again", "選んだ窓口は、当面受付の予定がありません。ほかの窓口を選んでください。"),
    ("no service", "紹介先の窓口を、一覧から選んでください。"),
    ("declining a referral needs a reason", "辞退するときは、理由を記入してください。紹介元の窓口が、ほかの窓口を探す手がかりになります。"),
    ("closing a referral needs its outcome", "終結するときは、結果を選んでください。"),
    (
        "referral cannot become",
        "この紹介の状況がすでに変わっているため、この操作はできませんでした。ページを読み込み直して、いまの状況をご確認ください。",
    ),
    ("does not work cases", "この画面は、相談員とスーパーバイザーの方のためのものです。"),
    (
        "is not connected to your organisation now",
        "この相談の電話は、いまこちらの窓口につながっていません。紹介（あとで連絡）をお使いください。",
    ),
    ("is not open now", "選んだ窓口は、いま受付時間外です。紹介（あとで連絡）をお使いください。"),
    ("every line of", "選んだ窓口は、いますべての回線が対応中です。ほかの窓口を選ぶか、紹介（あとで連絡）をお使いください。"),
    ("live transfers need", "この環境では、電話の転送は使えません（Twilio の設定が必要です）。紹介（あとで連絡）をお使いください。"),
    (
        "Twilio did not answer in time",
        "電話のシステム（Twilio）から時間内に返事がなかったため、転送を取りやめました。通話はそのままです。"
        "もし通話が切れた場合、相談者はこの窓口へもう一度つながります。もう一度お試しいただくか、紹介（あとで連絡）をお使いください。",
    ),
    (
        "Twilio did not take the transfer",
        "電話のシステム（Twilio）が転送を受け付けませんでした。通話はそのままです。もう一度お試しいただくか、紹介（あとで連絡）をお使いください。",
    ),
)
BY_STATUS = {
    403: "この操作は、いまのアカウントではできません。",
    404: "お探しのものが見つかりませんでした。ページを読み込み直してください。",
    409: "ほかの操作と重なったため、できませんでした。ページを読み込み直してから、もう一度お試しください。",
}
NOT_UNDERSTOOD = "入力された内容を確かめられませんでした。お確かめのうえ、もう一度お試しください。"
FIELD_PROBLEMS = {
    "text": "メモは4000文字までです。短くまとめてください。",
    "contact": "電話番号として読み取れませんでした。090-1234-5678 のように、数字で入力してください。",
    "reason": "辞退の理由は200文字までです。短くまとめてください。",
    "exception_reason": "例外の理由は1000文字までです。短くまとめてください。",
}
EMPTY_NOTE = "メモが空のままです。書いてから追加してください。"


def jst(moment: datetime | None, *, year: bool = False) -> str:
    """Return an instant as JST, e.g. `12月1日（火）10:00` (with the year when asked); '' for None."""
    if moment is None:
        return ""
    if moment.tzinfo is None:  # stored without a zone: the service writes UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(JST)
    text = f"{local.month}月{local.day}日（{WEEKDAY_NAMES[local.weekday()]}）{local.hour}:{local.minute:02d}"
    return f"{local.year}年{text}" if year else text


def japanese_message(error: Exception) -> str:
    """Return what a counsellor should read for an error of the case API or of a form's validation."""
    if isinstance(error, ValidationError):
        return _validation_message(error)
    message = error.message if isinstance(error, TsunaguError) else str(error)
    for clue, japanese in KNOWN_PROBLEMS:
        if clue in message:
            return japanese
    status = error.status_code if isinstance(error, TsunaguError) else 422
    return BY_STATUS.get(status, NOT_UNDERSTOOD)


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    if field == "text" and first["type"] == "string_too_short":
        return EMPTY_NOTE
    return FIELD_PROBLEMS.get(field, NOT_UNDERSTOOD)


def status_code_of(error: Exception) -> int:
    """Return the HTTP status a page answering with this error gets."""
    return error.status_code if isinstance(error, TsunaguError) else 422


def works_cases(staff: Staff) -> bool:
    """Whether the staff member works cases (a counsellor or supervisor of an organisation)."""
    return staff.role in CASE_WORKERS and bool(staff.organization_id)


# --- rows ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Display names of organisations and services, from the directory snapshot."""

    organizations: Mapping[str, str]
    services: Mapping[str, str]

    @classmethod
    def of(cls, runtime: Runtime) -> Names:
        services = runtime.snapshot.services.values() if runtime.snapshot else ()
        return cls({s.organization_id: s.organization for s in services}, {s.id: s.name for s in services})

    def organization(self, org_id: str | None) -> str:
        return self.organizations.get(org_id or "", UNKNOWN_WINDOW)

    def service(self, service_id: str) -> str:
        return self.services.get(service_id, UNKNOWN_WINDOW)


@dataclass(frozen=True)
class CaseRow:
    id: str
    topic: str
    risk: str
    urgent: bool
    held_here: bool
    updated: str


@dataclass(frozen=True)
class ReferralRow:
    id: str
    case_id: str
    hop: int
    kind: str
    status: str
    status_name: str
    from_name: str
    to_name: str
    to_tier: str
    share: str
    created: str
    deadline: str
    reason: str
    outcome: str
    reachable: bool  # whether the receiving side may still open the case

    @property
    def proposed(self) -> bool:
        return self.status == Status.PROPOSED

    @property
    def open(self) -> bool:
        return Status(self.status) in OPEN


@dataclass(frozen=True)
class NoteRow:
    organization: str
    at: str
    text: str
    ours: bool


@dataclass(frozen=True)
class SuggestionRow:
    service_id: str
    name: str
    organization: str
    tier: str
    open_now: bool
    opens: str


def topic_name(topic: str | None) -> str:
    return TOPIC_NAMES.get(topic or "general", topic or "")


def case_row(case: CaseSummaryOut) -> CaseRow:
    level = case.risk_level
    return CaseRow(
        case.id,
        topic_name(case.topic),
        RISK_NAMES.get(level or "", "未記入"),
        level in ("high", "imminent"),
        case.held_here,
        jst(case.updated_at),
    )


def referral_row(referral: ReferralOut, names: Names) -> ReferralRow:
    status = referral.status
    return ReferralRow(
        id=referral.id,
        case_id=referral.case_id,
        hop=referral.hop,
        kind=KIND_NAMES.get(referral.kind, referral.kind),
        status=status,
        status_name=STATUS_NAMES.get(status, status),
        from_name=names.organization(referral.from_org),
        to_name=names.service(referral.to_service),
        to_tier=TIER_NAMES.get(referral.to_tier, referral.to_tier),
        share=SHARE_NAMES.get(referral.share, referral.share),
        created=jst(referral.created_at),
        deadline=jst(referral.deadline_at),
        reason=referral.reason or "",
        outcome=OUTCOME_NAMES.get(referral.outcome or "", referral.outcome or ""),
        reachable=Status(status) in LIVE_FOR_RECEIVER,
    )


def suggestion_row(suggestion: SuggestionOut, names: Names) -> SuggestionRow:
    label = TIER_NAMES.get(suggestion.tier, suggestion.tier)
    opens = "" if suggestion.open_now else f"{jst(suggestion.opens_at)}から受付"
    return SuggestionRow(
        suggestion.service_id, suggestion.name, names.organization(suggestion.organization), label, suggestion.open_now, opens
    )


# --- what each page shows --------------------------------------------------------------------------


DASHBOARD_LISTS = ("cases", "inbox", "outbox")


async def dashboard_sections(session: AsyncSession, runtime: Runtime, staff: Staff, lists: Sequence[str] = DASHBOARD_LISTS) -> dict:
    """Return the dashboard's lists (all three, or those named) for a case worker's organisation (empty for other roles)."""
    context: dict = {"works_cases": works_cases(staff), "cases": [], "inbox": [], "outbox": [], "outcome_choices": OUTCOME_NAMES}
    if not context["works_cases"]:
        return context
    names = Names.of(runtime)
    if "cases" in lists:
        context["cases"] = [case_row(c) for c in await service.list_cases(session, runtime, staff)]
    boxes: tuple[Box, ...] = ("inbox", "outbox")
    for box in boxes:
        if box in lists:
            context[box] = [referral_row(r, names) for r in await service.referral_box(session, runtime, staff, box)]
    return context


async def case_page(session: AsyncSession, runtime: Runtime, staff: Staff, case_id: str) -> dict:
    """Return what the case page shows to this staff member; raises the service's NotFound for a case outside their chain."""
    names = Names.of(runtime)
    case = await service.read_case(session, runtime, staff, case_id)
    org = staff.organization_id
    ours = [r for r in case.referrals if r.to_org == org]
    found = await service.suggestions(session, runtime, staff, case_id) if case.may_refer else []
    return {
        "case": case,
        "summary": _summary(case, runtime, names),
        "notes": [
            NoteRow(names.organization(n.org), jst(n.at), n.text if n.text is not None else NOTE_PURGED, n.org == org) for n in case.notes
        ],
        "chain": [referral_row(r, names) for r in case.referrals],
        "answering": [referral_row(r, names) for r in ours if Status(r.status) in OPEN],
        "may_refer": case.may_refer,
        "suggestions": [suggestion_row(s, names) for s in found],
        "topic_choices": [(t, TOPIC_NAMES[t]) for t in TOPICS],
        "age_choices": AGE_BAND_NAMES,
        "risk_choices": RISK_NAMES,
        "share_choices": SHARE_CHOICES,
        "outcome_choices": OUTCOME_NAMES,
    }


def _summary(case: CaseOut, runtime: Runtime, names: Names) -> list[tuple[str, str]]:
    rows = [
        ("相談番号", case.id),
        ("受付の方法", CHANNEL_NAMES.get(case.channel, case.channel)),
        ("最初に選ばれた内容", topic_name(case.topic)),
        ("地域", _place(case, runtime)),
        ("受け付けた窓口", f"{names.organization(case.holder_org)}（{TIER_NAMES.get(case.holder_tier, case.holder_tier)}）"),
        ("受け付けた日時", jst(case.opened_at, year=True)),
        ("最後の更新", jst(case.updated_at, year=True)),
        ("ご本人の同意", "記録済み" if case.consent else "まだ記録されていません"),
    ]
    if case.contact:
        rows.append(("連絡先", readable_phone(case.contact)))
    return rows


def readable_phone(number: str) -> str:
    """Return a stored E.164 number as it is dialled in Japan (090-1234-5678); the number itself when it does not parse."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(number, "JP"), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return number


def _place(case: CaseOut, runtime: Runtime) -> str:
    lgcode = case.lgcode
    if not lgcode or lgcode == "000000":
        return "わからない（全国の窓口のみ）"
    try:
        area = runtime.regions.area(lgcode)
        prefecture = runtime.regions.name_of(area.prefecture) if area.prefecture else ""
    except RegionError:
        return "わからない"
    return area.name if area.name.startswith(prefecture) else f"{prefecture} {area.name}"

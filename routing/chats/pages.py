"""The chat channel's two pages: the web chat for a person without LINE, and the counsellor's chat console.

Both are server-rendered shells; their scripts (routing/web/static/chat.js, console.js) do the
rest through the chat APIs (routing/chats/web_chat.py for the person, routing/chats/api.py for
staff). The shells carry only what a script needs to start: the Japanese names of codes, the
staff member's role and CSRF token, and the server's clock (elapsed times are counted from it,
not from the browser's).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory.models import StaffUser
from referral_directory.records import TIER_NAMES
from referral_directory.staff.accounts import Role, Staff
from routing.chats.web_chat import TEXT_MAX
from routing.deps import RuntimeDep, SessionDep
from routing.runtime import Runtime
from routing.telephony.prompts import TOPIC_NAMES
from routing.web import case_views
from routing.web.auth import signed_in
from routing.web.pages import ROLE_LABELS, page, to_login
from routing.web.sessions import CSRF_FIELD

router = APIRouter(include_in_schema=False)
WORKERS_ONLY = "チャット相談の画面は、相談員とスーパーバイザーの方のためのものです。ダッシュボードからお進みください。"
BAND_NAMES = {"crisis": "危機", "elevated": "注意", "normal": "通常"}
MEDIUM_NAMES = {"line": "LINE", "web": "ウェブチャット"}
KIND_NAMES = {
    "sticker": "スタンプ",
    "image": "画像",
    "video": "動画",
    "audio": "音声",
    "file": "ファイル",
    "location": "位置情報",
    "other": "文字以外のメッセージ",
}
# The staff chat API answers in English for programs; a counsellor reads these instead (the first clue found wins).
CHAT_PROBLEMS = (
    ("you already have", "いま受け持てる数の相談を担当しています。どれかを終えてから、次の相談へお進みください。"),
    ("every line of your windows is taken", "窓口の回線がすべて対応中です。どれかの相談が終わると、次の相談を受けられます。"),
    ("every line of this window is taken", "この窓口の回線がすべて対応中です。どれかの相談が終わると、引き継げます。"),
    ("this chat has ended", "この相談はすでに終わっています。ご本人には、ここから新しいメッセージは届きません。"),
    ("does not answer chats", "このアカウントでは、チャット相談を受けられません。"),
    ("runs its own SNS", "選んだ窓口は、独自のSNS相談を行っています。「リンクを返信欄に入れる」をお使いください。"),
    ("not further along", "つなげるのは、次の段階（全国 → 都道府県 → 市区町村）の窓口だけです。"),
    ("only a chat in progress can be handed on", "つなげるのは、対応中の相談だけです。"),
    ("only a chat that waits or is in progress", "待っている相談か対応中の相談だけを引き継げます。"),
    ("does not take chats", "選んだ窓口は、チャット相談を受けていません。"),
    ("a callback is already booked", "この相談では、すでに折り返しのお電話を予約しています。"),
    ("callbacks need Twilio", "この環境では、折り返しのお電話を予約できません（電話の設定がありません）。管理者にご相談ください。"),
    (
        "TSUNAGU_CALLBACK_CALLER_ID",
        "この環境では、折り返しのお電話を予約できません（発信する番号の設定がありません）。管理者にご相談ください。",
    ),
    ("a callback is booked while", "折り返しは、対応中の相談で予約できます。"),
)


def _labels() -> dict:
    """The Japanese names a script shows for codes: topics, age bands, risk bands, media, message kinds, tiers."""
    return {
        "topics": TOPIC_NAMES,
        "ages": case_views.AGE_BAND_NAMES,
        "bands": BAND_NAMES,
        "media": MEDIUM_NAMES,
        "kinds": KIND_NAMES,
        "tiers": TIER_NAMES,
    }


@router.get("/chat")
async def chat_page(request: Request) -> HTMLResponse:
    """The web chat: a person without LINE talks to the dial here, with no account."""
    return page(request, "chat.html", {"text_max": TEXT_MAX, "kinds": KIND_NAMES})


@router.get("/console")
async def console_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """The chat console for counsellors and supervisors: take the next chat, answer, hand on, close."""
    found = await signed_in(request, runtime)
    if found is None:
        return to_login(request, runtime)
    staff = found.staff
    if not case_views.works_cases(staff):
        return page(request, "refused.html", {"message": WORKERS_ONLY}, status_code=403)
    names = case_views.Names.of(runtime)
    context = {
        "staff": staff,
        "role": ROLE_LABELS[staff.role],
        "organization": names.organizations.get(staff.organization_id or ""),
        "csrf_field": CSRF_FIELD,
        "csrf": found.session.csrf,
        "supervisor": staff.role is Role.SUPERVISOR,
        "share_choices": case_views.SHARE_CHOICES,
        "setup": {
            "me": staff.id,
            "supervisor": staff.role is Role.SUPERVISOR,
            "now": runtime.clock.now().isoformat(),
            "labels": _labels() | {"prefectures": _prefectures(runtime), "windows": dict(names.services)},
            "colleagues": await _colleagues(session, staff),
            "problems": [*CHAT_PROBLEMS, *case_views.KNOWN_PROBLEMS],
        },
    }
    return page(request, "console.html", context)


def _prefectures(runtime: Runtime) -> dict[str, str]:
    return {code: p.name for code, p in runtime.regions.prefectures.items()}


async def _colleagues(session: AsyncSession, staff: Staff) -> dict[str, str]:
    """Return the names of the staff of the same organisation by id: a supervisor's desk says who holds which chat."""
    rows = await session.execute(
        select(col(StaffUser.id), col(StaffUser.name)).where(col(StaffUser.organization_id) == staff.organization_id)
    )
    return {row.id: row.name for row in rows}

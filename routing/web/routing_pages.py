"""The routing preview page (/routing): where a contact would go, and why, with that day's timeline.

Any signed-in staff member may use it, as they may the JSON preview it shows (GET /api/routing/preview):
the page asks routing/preview.py the same question and draws its answer, plus the day's timeline
(routing/timeline.py). A GET form: looking changes nothing, so it needs no CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from referral_directory.errors import Invalid
from referral_directory.hours import JST
from referral_directory.records import CHANNELS, TOPIC_LABELS_JA, TOPICS
from routing import preview
from routing.deps import RuntimeDep
from routing.runtime import Runtime
from routing.timeline import day_timeline
from routing.web import preview_view, timeline_view
from routing.web.auth import signed_in
from routing.web.case_views import jst
from routing.web.pages import page, to_login, who

router = APIRouter(include_in_schema=False)
STILL_LOADING = "窓口の名簿を読み込んでいるところです。少し待ってから、もう一度お試しください。"
PLACE_PROBLEMS = {
    "postal_code": "この郵便番号は見つかりませんでした。7桁の番号をお確かめください（例：100-0001）。",
    "lgcode": "この市区町村コードは見つかりませんでした。6桁のコードをお確かめください（例：131016）。",
}


@dataclass(frozen=True, slots=True)
class Asked:
    """The page's form as typed (kept, so a mistake is corrected rather than typed again)."""

    place: str = ""
    topic: str = "general"
    channel: str = "voice"
    date: str = ""
    time: str = ""

    @property
    def submitted(self) -> bool:
        return bool(self.date)


@router.get("/routing")
async def routing_page(
    request: Request, runtime: RuntimeDep, place: str = "", topic: str = "general", channel: str = "voice", date: str = "", time: str = ""
) -> Response:
    """The routing preview page: the form, and once asked, the candidates, the reasons and the day's timeline."""
    found = await signed_in(request, runtime)
    if found is None:
        return to_login(request, runtime)
    now = runtime.clock.now().astimezone(JST)
    asked = Asked(place.strip(), topic if topic in TOPICS else "general", channel if channel in CHANNELS else "voice", date, time)
    context = who(runtime, found) | {
        "asked": asked,
        "default_date": now.date().isoformat(),
        "default_time": now.strftime("%H:%M"),
        "topics": TOPIC_LABELS_JA,
        "channels": preview_view.CHANNEL_CHOICES,
    }
    if not asked.submitted:
        return page(request, "routing.html", context)
    try:
        context |= await _answer(runtime, asked)
    except preview_view.NotUnderstood as problem:
        return page(request, "routing.html", context | {"error": str(problem)}, status_code=422)
    except preview.Unavailable:
        return page(request, "routing.html", context | {"error": STILL_LOADING}, status_code=503)
    except Invalid as problem:
        message = next((japanese for clue, japanese in PLACE_PROBLEMS.items() if problem.message.startswith(clue)), str(problem))
        return page(request, "routing.html", context | {"error": message}, status_code=422)
    return page(request, "routing.html", context)


async def _answer(runtime: Runtime, asked: Asked) -> dict:
    where = preview_view.place_query(runtime.regions, asked.place)
    at = preview_view.instant_of(asked.date, asked.time)
    question = preview.ask(runtime, topic=asked.topic, channel=asked.channel, postal_code=where.postal_code, lgcode=where.lgcode, at=at)
    answer = await preview.answer(runtime, question)
    timeline = day_timeline(question.snapshot, question.contact, at.date(), runtime.settings.policy_for)
    names = question.snapshot.services
    return {
        "answer": answer,
        "when": jst(at, year=True),
        "summary": preview_view.summary(answer),
        "candidates": preview_view.candidate_rows(answer),
        "openings": preview_view.opening_rows(answer),
        "full": [names[i].name for i in answer.full if i in names],
        "closed": [names[i].name for i in answer.closed if i in names],
        "strip": timeline_view.strip(timeline, asked.topic, at),
        "timeline_rows": timeline_view.answer_rows(timeline),
        "timeline_day": f"{at.month}月{at.day}日",
    }

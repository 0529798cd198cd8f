"""Chat test helpers: a small directory whose windows answer chats, a running service with counsellors, a person on the web chat."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from builders import make_organization, make_phone, make_records, make_schedule, make_service
from running import Running
from sqlalchemy import select

from referral_directory.records import NATION, WEEKDAYS, derived_id
from routing.chats.models import Chat, ChatMessage

TUESDAY_10 = "2026-12-01T10:00:00+09:00"
TUESDAY_23 = "2026-12-01T23:00:00+09:00"
NATIONAL_ORG, TOKYO_ORG, OSAKA_ORG, LINKED_ORG = (derived_id("chat-org", n) for n in ("national", "tokyo", "osaka", "linked"))
ALL_DAY = {"byday": WEEKDAYS, "opens_at": "00:00", "closes_at": "24:00"}
OFFICE = {"byday": WEEKDAYS[:5], "opens_at": "09:00", "closes_at": "17:00"}


def chat_window(
    name: str,
    tier: str,
    area: str,
    org: str,
    number: str,
    *,
    sns: int = 2,
    hours: dict | None = None,
    own_sns: str = "",
    topics=("general",),
):
    """A window that takes calls and chats (answered in the console, or linked to when `own_sns` is its URL)."""
    sid = derived_id("chat-window", name)
    return make_service(
        id=sid,
        name=name,
        tier=tier,
        areas=(area,),
        topics=topics,
        channels=("voice", "sns"),
        capacity=(("voice", 2), ("sns", sns)),
        sns_url=own_sns,
        holidays="open",
        organization_id=org,
        phones=(make_phone(id=derived_id(sid, "phone"), number=number),),
        schedules=(make_schedule(id=derived_id(sid, "hours"), **(hours or ALL_DAY)),),
    )


NATIONAL = chat_window("全国 チャット窓口", "national", NATION, NATIONAL_ORG, "+81355550101", sns=2, topics=("general", "crisis", "mind"))
TOKYO = chat_window("東京都 チャット窓口", "prefecture", "130001", TOKYO_ORG, "+81355550201", sns=1, hours=OFFICE)
OSAKA = chat_window(
    "大阪府 SNS相談", "prefecture", "270008", OSAKA_ORG, "+81665550201", sns=3, hours=OFFICE, own_sns="https://sns.example.jp/osaka"
)
DIRECTORY = make_records(
    NATIONAL,
    TOKYO,
    OSAKA,
    organizations=tuple(
        make_organization(id=org, name=name) for org, name in ((NATIONAL_ORG, "全国窓口"), (TOKYO_ORG, "東京都"), (OSAKA_ORG, "大阪府"))
    ),
)


async def add_counsellors(running: Running) -> dict[str, dict[str, str]]:
    """Create a counsellor at each organisation and a supervisor at the national one; return their Authorization headers."""
    return {
        "national": await running.token("全国の相談員", role="counsellor", org=NATIONAL_ORG),
        "national2": await running.token("全国の相談員2", role="counsellor", org=NATIONAL_ORG),
        "supervisor": await running.token("全国のスーパーバイザー", role="supervisor", org=NATIONAL_ORG),
        "tokyo": await running.token("東京都の相談員", role="counsellor", org=TOKYO_ORG),
        "osaka": await running.token("大阪府の相談員", role="counsellor", org=OSAKA_ORG),
    }


@dataclass
class WebPerson:
    """A person on the web chat, with their own cookie jar: what they press and write, and what they read."""

    running: Running
    client: httpx.AsyncClient = field(init=False)
    seen: int = 0

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(transport=self.running.client._transport, base_url="http://testserver")

    async def start(self) -> dict:
        return self._read(await self.client.post("/chat/api/start"))

    async def say(self, text: str = "", choice: str = "") -> dict:
        return self._read(await self.client.post("/chat/api/say", json={"text": text, "choice": choice}))

    async def state(self) -> dict:
        return self._read(await self.client.get("/chat/api/state"))

    async def through_intake(self, topic: str = "general", postal: str = "1000001", age: str = "30-49") -> dict:
        await self.start()
        await self.say(choice=f"topic:{topic}")
        await self.say(text=postal)
        return await self.say(choice=f"age:{age}")

    def _read(self, response: httpx.Response) -> dict:
        assert response.status_code == 200, response.text
        body = response.json()
        self.seen = max([self.seen, *(m["seq"] for m in body["messages"])])
        return body


def texts(state: dict, sender: str | None = None) -> list[str]:
    return [m["text"] for m in state["messages"] if sender is None or m["from"] == sender]


async def chats(running: Running) -> list[Chat]:
    async with running.runtime.sessions() as session:
        return list((await session.execute(select(Chat).order_by(Chat.opened_at))).scalars().all())


async def messages_of(running: Running, chat_id: str) -> list[ChatMessage]:
    async with running.runtime.sessions() as session:
        query = select(ChatMessage).where(ChatMessage.chat_id == chat_id).order_by(ChatMessage.seq)
        return list((await session.execute(query)).scalars().all())

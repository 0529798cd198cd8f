"""One-time messages after a change ("メモを追加しました。"), kept in Redis for the next page the session opens.

Only a short code is stored, keyed by the session's Redis key (itself a hash of the cookie), never
anything the person typed; the message is read once and deleted.
"""

from __future__ import annotations

from redis.asyncio import Redis

from routing.web.sessions import WebSession

FLASH_PREFIX = "tsunagu:web:flash:"
FLASH_SECONDS = 120  # the redirect is followed at once; a message older than this is stale
MESSAGES = {
    "intake": "受付内容を保存しました。",
    "note": "メモを追加しました。",
    "consent": "ご本人の同意と連絡先を記録しました。",
    "referred": "紹介しました。相手の窓口からの回答は、ダッシュボードの「紹介の送信箱」でご確認いただけます。",
    "transferred": "電話を転送しています。相手の窓口が出ると、ケース番号が伝えられます。",
    "accepted": "紹介を受理しました。この相談の対応をお願いします。",
    "declined": "紹介を辞退しました。理由は紹介元の窓口に伝わります。",
    "contacted": "ご本人に連絡したことを記録しました。",
    "closed": "この紹介を終結しました。おつかれさまでした。",
    "directory_created": "窓口を登録しました。電話とチャットの振り分けに、すぐ反映されます。",
    "directory_saved": "窓口の内容を保存しました。電話とチャットの振り分けに、すぐ反映されます。",
    "directory_unchanged": "変わったところがなかったため、保存するものはありませんでした。",
    "directory_bulk_saved": "選んだ窓口に保存しました。電話とチャットの振り分けに、すぐ反映されます。",
    "directory_imported": "ファイルの内容を保存しました。電話とチャットの振り分けに、すぐ反映されます。",
}


def _key(session: WebSession) -> str:
    return FLASH_PREFIX + session.key.rsplit(":", 1)[-1]


async def set_flash(redis: Redis, session: WebSession, code: str) -> None:
    """Leave a message (by its code in MESSAGES) for the session's next page."""
    if code not in MESSAGES:
        raise ValueError(f"no flash message {code!r}")
    await redis.set(_key(session), code, ex=FLASH_SECONDS)


async def take_flash(redis: Redis, session: WebSession) -> str | None:
    """Return the session's waiting message in Japanese, and forget it; None when there is none."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(_key(session))
        pipe.delete(_key(session))
        code, _ = await pipe.execute()
    if isinstance(code, bytes):
        code = code.decode()
    return MESSAGES.get(code) if code else None

"""What callers hear: short, plain, kind Japanese (and English for topic 8). Text only; no logic."""

from __future__ import annotations

VOICE_JA = "Polly.Kazuha-Neural"
VOICE_EN = "Polly.Joanna-Neural"

GREETING = (
    "お電話ありがとうございます。孤独・孤立相談ダイヤルです。お名前や電話番号を記録することはありませんので、安心してお話しください。"
)
TOPIC_MENU = (
    "ご相談の内容に近い番号を押してください。"
    "暮らしやお金、仕事のことは1。こころや人間関係のことは2。"
    "死にたいほどつらいときは3。DVや性暴力のことは4。子育てや家族のことは5。"
    "18歳以下の方は6。性別の違和感や同性愛のことは7。For English, press 8。"
    "孤独や孤立、そのほかのことは9を押してください。"
)
TOPIC_NAMES = {
    "life": "暮らし・お金・仕事",
    "mind": "こころ・人間関係",
    "crisis": "死にたいほどつらい気持ち",
    "violence": "DV・性暴力",
    "family": "子育て・家族",
    "youth": "18歳以下の方",
    "sogi": "性別違和・同性愛",
    "foreign": "外国語",
    "general": "孤独・孤立、その他",
}
TOPIC_AGAIN = "すみません、うまく聞き取れませんでした。もう一度、1から9の番号を押してください。"
# When the service is behind (its answer shed: routing/telephony/endpoint.py): the question again, or the wait goes on.
BUSY_TOPIC_AGAIN = "ただいま大変混み合っております。恐れ入りますが、もう一度、1から9の番号を押してください。"
BUSY = "ただいま大変混み合っております。恐れ入りますが、もう一度お願いします。"
BUSY_WAIT = "ただいま大変混み合っております。順番にご案内しますので、このままお待ちください。"
CRISIS = "おつらい中、お電話ありがとうございます。"
CRISIS_CONNECTING = "いますぐ、24時間の相談員におつなぎします。"
POSTAL = "お住まいの地域の窓口をお探しします。郵便番号7桁を押してください。わからない場合は、シャープを押してください。"
POSTAL_AGAIN = "その郵便番号が見つかりませんでした。もう一度、7桁で押してください。わからない場合はシャープを押してください。"
POSTAL_UNKNOWN = "わかりました。全国の窓口におつなぎします。"
CONNECTING = "相談員におつなぎします。このままお待ちください。"
TRANSFERRING = "担当の窓口におつなぎします。切らずにそのままお待ちください。"
NOT_ANSWERED = "ただいまの窓口はつながりませんでした。"
NEXT_WINDOW = "別の窓口におつなぎします。このままお待ちください。"
TO_GENERAL = "いま受け付けている、どなたでもご相談いただける窓口におつなぎします。このままお待ちください。"
ALL_BUSY = "申し訳ありません。ただいま相談員がすべて対応中です。"
FALLBACK = "ただいまおつなぎしています。このままお待ちください。"
IN_DANGER = "命の危険があるときは、110番、または119番に電話してください。"
GOODBYE = "お電話ありがとうございました。"
EN_GOODBYE = "Thank you for calling."
CALLBACK_OFFER = "順番が来たときに、こちらから折り返しお電話することもできます。ご希望の場合は1を押してください。"
CALLBACK_CONSENT = (
    "折り返しのお電話のため、この電話番号を暗号化して保存し、お電話したあとに消去します。"
    "よろしければ1を、このままお待ちになる場合は2を押してください。"
)
CALLBACK_BOOKED = "承りました。相談員の手が空きしだい、こちらからお電話します。お電話を切ってお待ちください。"
CALLBACK_NO_NUMBER = (
    "申し訳ありません。お電話番号が通知されていないため、こちらから折り返しお電話することができません。"
    "このままお待ちいただければ、順番におつなぎします。"
)
CALLBACK_GREETING = "孤独・孤立相談ダイヤルです。ご希望いただいた折り返しのお電話です。いまから相談員におつなぎします。"
LONG_WAIT = "長くお待たせして申し訳ありません。LINEなどのSNSでのご相談も、24時間受け付けています。"
TO_24H = "24時間受け付けている窓口におつなぎします。"
OFFER_24H = "24時間受け付けている相談窓口におつなぎすることもできます。ご希望の場合は1を押してください。"
CALLBACK_GONE = "孤独・孤立相談ダイヤルです。申し訳ありません、ただいまおつなぎできませんでした。あらためてお電話します。"

EN_POSTAL = "Please enter your 7-digit postal code. If you don't know it, press the pound key."
EN_POSTAL_AGAIN = "We could not find that postal code. Please enter the 7 digits again, or press the pound key."
EN_POSTAL_UNKNOWN = "Thank you. We will connect you to a national service."
EN_CONNECTING = "We are connecting you to a counsellor. Please stay on the line."
EN_NOT_ANSWERED = "That line could not answer."
EN_NEXT_WINDOW = "We are trying another service for you. Please stay on the line."
EN_TO_GENERAL = "We are connecting you to a general line that is open now. Please stay on the line."
EN_ALL_BUSY = "We are sorry. All counsellors are busy at the moment."
EN_CALLBACK_OFFER = "We can also call you back when it is your turn. To ask for a call back, press 1."
EN_CALLBACK_CONSENT = (
    "To call you back, we keep this phone number encrypted and delete it after the call. Press 1 to agree, or 2 to keep waiting."
)
EN_CALLBACK_BOOKED = "Thank you. We will call you back as soon as a counsellor is free. You may hang up now."
EN_CALLBACK_NO_NUMBER = (
    "We are sorry. Your number is withheld, so we cannot call you back. Please stay on the line, and we will connect you in turn."
)
EN_LONG_WAIT = "We are sorry to keep you waiting. You can also talk to us by chat on social media, 24 hours a day."
EN_TO_24H = "We are connecting you to our 24-hour line."
EN_OFFER_24H = "We can also connect you to a line that is open 24 hours. To be connected, press 1."
EN_IN_DANGER = "If your life is in danger, please call 110 for the police or 119 for an ambulance."

TOPIC_WORDS = {  # ja-JP speech: a word the caller may say instead of pressing a key
    "life": ("暮らし", "お金", "仕事"),
    "mind": ("こころ", "心", "人間関係"),
    "crisis": ("死にたい", "つらい", "消えたい"),
    "violence": ("DV", "暴力", "性暴力"),
    "family": ("子育て", "家族", "ひとり親"),
    "youth": ("18歳", "子ども", "学校"),
    "sogi": ("性別", "同性愛", "LGBT"),
    "foreign": ("English", "英語", "外国語"),
    "general": ("孤独", "孤立", "その他"),
}


def read_back(place: str) -> str:
    """Return the line that reads a caller's place back to them."""
    return f"{place}の窓口をお探しします。"


def opens_next(name: str, when: str) -> str:
    """Return the line that says when and where help opens next."""
    return f"いまは受付時間外です。{name}は、{when}から受け付けています。"


def topic_opens(topic: str, when: str) -> str:
    """Return the one sentence that says when the caller's own topic's windows open, before another line is tried."""
    return f"{TOPIC_NAMES[topic]}の窓口は、いまは受付時間外で、{when}から受け付けています。"


def en_topic_opens(when: str) -> str:
    """The same in English (`when` in English)."""
    return f"The services for your topic are closed now. They open again on {when}."


def which_prefecture(names: list[str]) -> str:
    """Return the question for a postal code shared by several prefectures (one key per prefecture, in order)."""
    choices = "、".join(f"{name}の方は{i}を" for i, name in enumerate(names, start=1))
    return (
        f"この郵便番号は、いくつかの都道府県にまたがっています。お住まいが{choices}押してください。"
        "わからない場合は、そのままお待ちください。"
    )


def whisper(case_id: str, topic_name: str, *, transferred: bool) -> str:
    """Return what the answering counsellor hears: where the call comes from, its case number (read out one by one), its topic."""
    spelled = "、".join(case_id.replace("-", ""))
    origin = "孤独・孤立相談ダイヤルから転送されたお電話です。" if transferred else "孤独・孤立相談ダイヤルからのお電話です。"
    return f"{origin}ケース番号は、{spelled}。ご相談は、{topic_name}です。"


def queue_place(position: int, minutes: int) -> str:
    """Return the line that tells a waiting caller their place in line and the likely wait."""
    return f"いま{position}番目にお待ちいただいています。あと{minutes}分ほどでおつなぎできる見込みです。このままお待ちください。"


def en_queue_place(position: int, minutes: int) -> str:
    """The same in English."""
    return f"You are number {position} in line. We expect to connect you in about {minutes} minutes. Please stay on the line."


def queue_still(position: int, minutes: int) -> str:
    """Return what a caller hears on each later round of a wait: their place now and the likely wait (the apology was said once)."""
    return f"お待たせしています。いま{position}番目です。あと{minutes}分ほどの見込みです。"


def en_queue_still(position: int, minutes: int) -> str:
    """The same in English."""
    return f"Thank you for waiting. You are now number {position} in line, about {minutes} more minutes."

"""What a person reads in a chat before and around a counsellor: short, plain, kind Japanese (English for topic 8).

Text only, and the words people type that the intake recognises; no decisions. Every function
takes `english=True` for a person who chose the foreign-language topic, as the phone speaks
English to them. Quick-reply labels are at most 20 characters (LINE's limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import phonenumbers

from referral_directory.hours import JST
from referral_directory.records import TOPIC_LABELS_JA, TOPICS
from routing.engine import NextOpening

QUICK_LABEL_MAX = 20

# --- quick-reply labels --------------------------------------------------------------------

_TOPIC_NAMES = {**TOPIC_LABELS_JA, "youth": "18歳以下の方", "foreign": "English・外国語"}
TOPIC_LABELS = {topic: f"{n} {_TOPIC_NAMES[topic]}" for n, topic in enumerate(TOPICS, 1)}  # the number may be typed instead
CRISIS_LABEL = "死にたいほどつらい"
EN_CRISIS_LABEL = "Feeling suicidal"
UNKNOWN_LABEL = "わからない"
EN_UNKNOWN_LABEL = "I don't know"
AGE_LABELS = {
    "under18": "18歳未満",
    "18-29": "18〜29歳",
    "30-49": "30〜49歳",
    "50-64": "50〜64歳",
    "65plus": "65歳以上",
    "unknown": "答えたくない",
}
EN_AGE_LABELS = {
    "under18": "Under 18",
    "18-29": "18-29",
    "30-49": "30-49",
    "50-64": "50-64",
    "65plus": "65 or over",
    "unknown": "Prefer not to say",
}

# --- words people type, folded before matching (see crisis_words.fold) ---------------------

# Checked in this order, so that 夫の暴力 is violence before it is family.
TOPIC_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("violence", ("DV", "暴力", "性被害", "レイプ", "ストーカー", "虐待", "殴られ", "セクハラ")),
    ("sogi", ("性別", "同性愛", "LGBT", "ゲイ", "レズビアン", "トランスジェンダー", "性的少数", "セクシュアリティ")),
    ("foreign", ("English", "英語", "外国語", "foreign")),
    ("youth", ("18歳以下", "中学生", "高校生", "小学生", "未成年", "学校")),
    ("family", ("子育て", "育児", "家族", "ひとり親", "シングルマザー", "離婚", "介護", "夫婦")),
    ("life", ("暮らし", "生活", "お金", "借金", "仕事", "失業", "家賃", "生活保護")),
    ("mind", ("こころ", "心の", "気持ち", "人間関係", "うつ病", "鬱", "メンタル")),
    ("general", ("孤独", "孤立", "ひとりぼっち", "さみしい", "寂しい", "さびしい", "淋しい", "その他", "話を聞いて")),
)
UNKNOWN_WORDS = (
    "わからない",
    "分からない",
    "判らない",
    "わかりません",
    "分かりません",
    "不明",
    "知らない",
    "しらない",
    "dont know",
    "don t know",
)
DECLINE_WORDS = (
    "答えたくない",
    "こたえたくない",
    "言いたくない",
    "いいたくない",
    "秘密",
    "ひみつ",
    "内緒",
    "ないしょ",
    "prefer not",
    "rather not",
)

# --- the intake ----------------------------------------------------------------------------

_IN_DANGER = "いま命の危険があるときは、119番（救急）か110番（警察）に電話してください。"
_EN_IN_DANGER = "If your life is in danger now, please call 119 for an ambulance or 110 for the police."
_MISSED = "すみません、うまく受け取れませんでした。"
_EN_MISSED = "Sorry, we could not read that."


def greeting(channel: Literal["line", "web"] = "line") -> str:
    """Return the first message: whose chat this is, what is kept and what is not, that they may stop, and 119/110."""
    where = (
        "・お名前をうかがうことはありません。LINEのプロフィールも見ません。\n・相談ダイヤルが、LINEの中に相談の記録を残すことはありません。"
        if channel == "line"
        else "・お名前やアカウントは必要ありません。"
    )
    return (
        "孤独・孤立相談ダイヤルのチャットです。\nメッセージをありがとうございます。\n\n"
        "・ここでのやりとりは、相談ダイヤルが暗号化して、決められた期間だけ保管します。読むのは相談ダイヤルの相談員だけです。\n"
        f"{where}\n"
        "・やめたいときは、いつでもやめられます。\n\n"
        f"{_IN_DANGER}"
    )


def topic_question(*, again: bool = False) -> str:
    """Return the topic question, with the numbered topics (a number may be typed instead of a button)."""
    menu = "\n".join(TOPIC_LABELS.values())
    lead = (
        f"{_MISSED}\n1から9の番号を送るか、下のボタンから選んでください。"
        if again
        else ("はじめに、ご相談の内容を教えてください。\n近いものを下のボタンから選ぶか、番号を送ってください。\nFor English, choose 8.")
    )
    return f"{lead}\n\n{menu}"


def postal_question(topic: str | None, *, english: bool = False) -> str:
    """Return the postal-code question, after a word on the topic just chosen (None: the question alone, asked again)."""
    if english:
        thanks = "Thank you. " if topic else ""
        return (
            f"{thanks}To find services near you, please send your 7-digit postal code (for example 100-0001).\n"
            "If you don't know it, tap \"I don't know\"."
        )
    thanks = f"「{_TOPIC_NAMES[topic]}」ですね。ありがとうございます。\n" if topic else ""
    return (
        f"{thanks}お住まいの地域の窓口もお探しします。\n郵便番号を7桁で送ってください（例：100-0001）。\n"
        "わからないときは「わからない」を押してください。"
    )


def postal_again(*, english: bool = False) -> str:
    """Return the question asked once more when a postal code was not found."""
    if english:
        return 'We could not find that postal code. Please send the 7 digits again, or tap "I don\'t know".'
    return "その郵便番号が見つかりませんでした。\nもう一度、7桁の数字で送ってください。\nわからないときは「わからない」を押してください。"


def postal_unknown(*, english: bool = False) -> str:
    """Return the line that says the national services will answer (no place)."""
    return "Thank you. We will connect you to a national service." if english else "わかりました。全国の窓口におつなぎします。"


def read_back(place: str, *, english: bool = False) -> str:
    """Return the line that reads the person's place back to them."""
    return f"Thank you. We will also look for services in {place}." if english else f"{place}の窓口もお探しします。"


def prefecture_question(*, again: bool = False, english: bool = False) -> str:
    """Return the question for a postal code several prefectures share (the prefectures are the buttons)."""
    if english:
        lead = f"{_EN_MISSED}\n" if again else "That postal code is shared by more than one prefecture.\n"
        return f"{lead}Please choose the prefecture you live in."
    lead = f"{_MISSED}\n" if again else "この郵便番号は、いくつかの都道府県にまたがっています。\n"
    return f"{lead}お住まいの都道府県を、下のボタンから選んでください。"


def age_question(*, again: bool = False, english: bool = False) -> str:
    """Return the age-band question; not answering is allowed."""
    if english:
        lead = f"{_EN_MISSED}\n" if again else "If you don't mind, how old are you?\n"
        return f'{lead}Please choose below. If you would rather not say, tap "Prefer not to say".'
    lead = f"{_MISSED}\n下のボタンから選んでください。" if again else "差し支えなければ、年代を教えてください。"
    return f"{lead}\n答えたくないときは「答えたくない」を押してください。"


def intake_done(*, english: bool = False) -> str:
    """Return the thanks once every question is answered."""
    return (
        "Thank you. We are connecting you to a counsellor."
        if english
        else "お答えいただき、ありがとうございます。\n相談員におつなぎします。"
    )


def crisis_ack(*, english: bool = False) -> str:
    """Return the kind reply to crisis words or the crisis button: a counsellor comes as soon as possible; keep writing."""
    if english:
        return (
            "Thank you for telling us. We are glad you wrote.\nA counsellor will be with you as soon as possible.\n"
            f"Until then, you can keep writing here.\n{_EN_IN_DANGER}"
        )
    return (
        "おつらい中、メッセージをありがとうございます。\nできるだけ早く、相談員がお返事します。\n"
        f"それまでのあいだも、思っていることをここに書いてくださってかまいません。\n{_IN_DANGER}"
    )


def answer_in_words(*, english: bool = False) -> str:
    """Return the kind request, during the questions, to answer with the buttons or in words (after a sticker or image)."""
    if english:
        return "Sorry, we cannot read stickers or pictures. Please answer with the buttons below, or in words."
    return "ごめんなさい、スタンプや画像などは読み取ることができません。\n下のボタンを押すか、文字でお答えください。"


# --- around the counsellor -----------------------------------------------------------------


def waiting(position: int, minutes: int, open_phones: Sequence[tuple[str, str]], *, english: bool = False) -> str:
    """Return the message to a person in the queue: their place, the likely wait, that they may write, and the phones open now."""
    if english:
        text = (
            f"You are number {position} in line. A counsellor should reply in about {minutes} minutes.\n"
            "You can keep writing here while you wait; the counsellor will read it."
        )
    else:
        text = (
            f"いま{position}番目にお待ちいただいています。\nあと{minutes}分ほどで、相談員がお返事できる見込みです。\n"
            "お待ちのあいだも、ここに書いてくださってかまいません。相談員が読みます。"
        )
    return _with_phones(text, open_phones, english)


def topic_opens(topic: str, at: datetime, *, english: bool = False) -> str:
    """Return the word to a person whose topic's windows are all closed now, put in the queue of a general window instead."""
    if english:
        return (
            f"The services for your topic are closed now; they open again on {_en_when(at)}.\n"
            "Meanwhile, a general consultation service that is open now will answer you."
        )
    return (
        f"「{_TOPIC_NAMES[topic]}」の窓口は、いまは受付時間外で、{_when(at)}から受け付けています。\n"
        "それまでのあいだ、いま受け付けている、どなたでもご相談いただける窓口がお返事します。"
    )


def still_waiting(position: int, minutes: int, *, english: bool = False) -> str:
    """Return the reminder to a person still waiting: their place now and the likely wait."""
    if english:
        return f"Sorry to keep you waiting. You are now number {position} in line, about {minutes} more minutes."
    return f"お待たせしています。\nいま{position}番目です。あと{minutes}分ほどの見込みです。\nもう少しお待ちください。"


def closed(next_openings: Sequence[NextOpening], open_phones: Sequence[tuple[str, str]], *, english: bool = False) -> str:
    """Return the message when nothing is open for their topic now: when and where help opens next, and the phones open now.

    The openings are said in the order given, each window once, at most three.
    """
    openings = list({o.name: o for o in next_openings}.values())[:3]
    if english:
        if openings:
            lines = "\n".join(f"- {o.name}: from {_en_when(o.at)}" for o in openings)
            text = f"We are sorry. The services for your topic are closed now.\nHelp opens again at:\n{lines}"
        else:
            text = "We are sorry. We could not find a service that can answer you now."
        return f"{_with_phones(text, open_phones, english)}\n\n{_EN_IN_DANGER}"
    if openings:
        lines = "\n".join(f"・{o.name}：{_when(o.at)}から" for o in openings)
        text = f"申し訳ありません。\nいま、このご相談を受け付けている窓口は、受付時間外です。\n次に受け付けるのは、\n{lines}\nです。"
    else:
        text = "申し訳ありません。\nいま、このご相談をお受けできる窓口が見つかりませんでした。"
    return f"{_with_phones(text, open_phones, english)}\n\n{_IN_DANGER}"


def own_sns(name: str, url: str, open_phones: Sequence[tuple[str, str]], *, english: bool = False) -> str:
    """Return the link to a window that runs its own SNS consultation, which this chat cannot be handed to."""
    if english:
        text = f"{name} offers chat consultations on its own service. Please write to them here:\n{url}"
    else:
        text = f"このご相談は、{name}がSNSで受け付けています。\nお手数ですが、こちらからあらためてご相談ください。\n{url}"
    return _with_phones(text, open_phones, english)


def phones(open_phones: Sequence[tuple[str, str]], *, english: bool = False) -> str:
    """Return the phone lines open now, one per line as 「名前 03-1234-5678」, or "" when none is open."""
    if not open_phones:
        return ""
    listed = "\n".join(f"{'- ' if english else '・'}{name} {_national(number)}" for name, number in open_phones)
    lead = "You can also talk to us by phone now:" if english else "いま、お電話でも相談できます。"
    return f"{lead}\n{listed}"


def write_in_words(*, english: bool = False) -> str:
    """Return the kind request, while nobody is with them yet, to write in words (after a sticker or image)."""
    if english:
        return "Sorry, we cannot read stickers or pictures. Please tell the counsellor in words."
    return "ごめんなさい、スタンプや画像などは読み取ることができません。\n相談員には、文字で伝えていただけると助かります。"


def joined(*, english: bool = False) -> str:
    """Return the line that says a counsellor has joined the chat."""
    if english:
        return "Thank you for waiting. A counsellor is with you now."
    return "お待たせしました。\n相談員につながりました。ここからは相談員がお返事します。"


def transferred(window_name: str, *, english: bool = False) -> str:
    """Return the line that says the chat is handed on to another window, their place in line kept."""
    if english:
        return f"We are handing your chat on to {window_name}. Your place in line is kept. Please wait a little."
    return f"{window_name}の相談員におつなぎします。\nお待ちいただいた順番は、そのまま引き継ぎます。\n少しお待ちください。"


def callback_booked(caller_id: str, *, english: bool = False) -> str:
    """A phone callback is booked at the number the person gave: who will call, from which number."""
    shown = _national(caller_id)
    if english:
        return f"Thank you. A counsellor will call you back as soon as a line is free. The call will come from {shown}."
    return f"ありがとうございます。お電話の順番がきましたら、相談員からお電話します。{shown} からおかけします。"


def idle_check(*, english: bool = False) -> str:
    """Return the gentle question after a long silence, before the chat is closed for it."""
    if english:
        return "We have not heard from you for a while. Would you like to go on? If so, please send us a word."
    return "しばらくメッセージがないようです。\nお話を続けますか。続けるときは、なにか一言送ってください。"


def idle_close(*, english: bool = False) -> str:
    """Return the line that closes a chat left silent, with the door left open."""
    if english:
        return "As we have not heard from you for a while, we are closing this chat. You can write to us again at any time."
    return "しばらくメッセージがなかったため、このチャットを終わります。\nまた話したくなったら、いつでもメッセージを送ってください。"


def goodbye(*, english: bool = False) -> str:
    """Return the goodbye when a counsellor closes the chat."""
    if english:
        return f"Thank you for talking with us. This chat is now closed. You can write to us again at any time.\n{_EN_IN_DANGER}"
    return (
        "お話しくださって、ありがとうございました。\nこのチャットは、これで終わります。\n"
        f"また話したくなったら、いつでもメッセージを送ってください。\n{_IN_DANGER}"
    )


# --- helpers -------------------------------------------------------------------------------

_WEEKDAYS = "月火水木金土日"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _with_phones(text: str, open_phones: Sequence[tuple[str, str]], english: bool) -> str:
    listed = phones(open_phones, english=english)
    return f"{text}\n\n{listed}" if listed else text


def _when(at: datetime) -> str:
    """Return an instant in JST the way people say it: 1月4日（月）9時, or 9時30分."""
    jst = at.astimezone(JST)
    minutes = f"{jst.minute}分" if jst.minute else ""
    return f"{jst.month}月{jst.day}日（{_WEEKDAYS[jst.weekday()]}）{jst.hour}時{minutes}"


def _en_when(at: datetime) -> str:
    jst = at.astimezone(JST)
    return f"{_EN_WEEKDAYS[jst.weekday()]} {jst.day} {_EN_MONTHS[jst.month - 1]}, {jst.hour}:{jst.minute:02d} (Japan time)"


def _national(number: str) -> str:
    """Return a phone number written the Japanese way (03-1234-5678), or as given when it is not one."""
    try:
        parsed = phonenumbers.parse(number, "JP")
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)

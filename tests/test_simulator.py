"""The Twilio simulator against a scripted TwiML app that checks signatures as tsunagu does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from routing.telephony.simulator import Caller, CallResult, Line, TwilioSimulator
from routing.telephony.simulator_twiml import collect_digits, dial_outcome

PUBLIC_URL = "https://tsunagu.example.jp"
TOKEN = "test-auth-token"
VOICE = "/twilio/voice/incoming"
STATUS = "/twilio/voice/status"

Script = dict[str, Callable[[dict[str, str]], VoiceResponse | str]]


@dataclass
class Seen:
    path: str
    params: dict[str, str]


@dataclass
class ScriptedService:
    """A FastAPI app that answers each path with scripted TwiML and refuses unsigned requests with 403."""

    script: Script
    seen: list[Seen] = field(default_factory=list)
    status_code: int = 204

    def app(self) -> FastAPI:
        app = FastAPI()
        validator = RequestValidator(TOKEN)

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def answer(request: Request) -> Response:
            query = f"?{request.url.query}" if request.url.query else ""
            params = {key: str(value) for key, value in (await request.form()).items()}
            signature = request.headers.get("X-Twilio-Signature", "")
            if not validator.validate(PUBLIC_URL + request.url.path + query, params, signature):
                return Response(status_code=403)
            params |= dict(request.query_params) if request.method == "GET" else {}
            self.seen.append(Seen(request.url.path + query, params))
            if request.url.path == STATUS and STATUS not in self.script:
                return Response(status_code=self.status_code)
            twiml = self.script[request.url.path](params)
            return Response(str(twiml), media_type="application/xml")

        return app

    def posted_to(self, path: str) -> list[dict[str, str]]:
        return [seen.params for seen in self.seen if seen.path == path]


def make_simulator(service: ScriptedService, *, token: str = TOKEN, **options) -> TwilioSimulator:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app()), base_url="http://testserver")
    return TwilioSimulator(client, public_url=PUBLIC_URL, auth_token=token, **options)


async def place_call(
    script: Script, caller: Caller | None = None, *, call_sid: str | None = None, **options
) -> tuple[CallResult, ScriptedService]:
    service = ScriptedService(script)
    simulator = make_simulator(service, **options)
    async with simulator.client:
        result = await simulator.call(caller or Caller(), call_sid=call_sid)
    return result, service


def twiml(*build: Callable[[VoiceResponse], object]) -> Callable[[dict[str, str]], VoiceResponse]:
    """Return a script step that always answers the TwiML the builders make."""

    def respond(_: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        for step in build:
            step(response)
        return response

    return respond


def say(text: str) -> Callable[[VoiceResponse], object]:
    return lambda response: response.say(text, language="ja-JP", voice="Polly.Mizuki")


def gather(prompt: str, **attributes) -> Callable[[VoiceResponse], object]:
    def build(response: VoiceResponse) -> None:
        step = Gather(**attributes)
        step.say(prompt, language="ja-JP")
        response.append(step)

    return build


async def test_every_request_carries_call_params_and_a_signature_for_the_public_url() -> None:
    result, service = await place_call({VOICE: twiml(say("つなぐです。"))}, Caller(number="+819011112222"), call_sid="CA" + "1" * 32)
    assert result.ended_by == "end-of-twiml"
    assert result.errors() == []
    assert [request.detail["status"] for request in result.requests()] == [200, 204]
    first, status = service.posted_to(VOICE)[0], service.posted_to(STATUS)[0]
    assert first == {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+819011112222",
        "To": "+81120000000",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    assert status["CallStatus"] == "completed"
    assert status["CallDuration"] == "0"
    assert result.requests()[0].detail["url"] == PUBLIC_URL + VOICE


async def test_a_wrong_token_is_refused_and_ends_the_call_as_an_http_error() -> None:
    result, service = await place_call({VOICE: twiml(say("聞こえないはず"))}, token="not-the-token")
    assert result.ended_by == "http-error"
    assert [request.detail["status"] for request in result.requests()] == [403, 403]
    assert len(result.errors()) == 2
    assert "HTTP 403" in result.errors()[0]
    assert result.heard() == []
    assert service.seen == []


async def test_japanese_say_text_survives_and_later_requests_are_in_progress() -> None:
    script: Script = {
        VOICE: twiml(say("孤独・孤立相談ダイヤルです。"), lambda r: r.redirect("/next")),
        "/next": twiml(say("おつなぎします。")),
    }
    result, service = await place_call(script)
    assert result.heard() == ["孤独・孤立相談ダイヤルです。", "おつなぎします。"]
    assert result.events[1].detail == {"text": "孤独・孤立相談ダイヤルです。", "language": "ja-JP", "voice": "Polly.Mizuki"}
    assert service.posted_to("/next")[0]["CallStatus"] == "in-progress"


@pytest.mark.parametrize(
    ("keys", "attributes", "digits"),
    [
        ("3", {"num_digits": 1}, "3"),
        ("1000001#", {}, "1000001"),
        ("1000001", {"num_digits": 7}, "1000001"),
        ("12345", {"num_digits": 2}, "12"),
        ("1#", {"num_digits": 7}, "1"),
    ],
)
async def test_gather_posts_the_digits_to_its_action(keys: str, attributes: dict[str, int], digits: str) -> None:
    script: Script = {
        VOICE: twiml(gather("番号をどうぞ", action="/menu", **attributes), say("入力がありません")),
        "/menu": twiml(say("ありがとう")),
    }
    result, service = await place_call(script, Caller(keys=[keys]))
    assert service.posted_to("/menu")[0]["Digits"] == digits
    assert result.heard() == ["番号をどうぞ", "ありがとう"]


async def test_silence_runs_the_next_verb_without_a_request_and_counts_the_timeout() -> None:
    script: Script = {
        VOICE: twiml(gather("番号をどうぞ", action="/menu", timeout=7), say("入力がありません")),
        "/menu": twiml(say("ありがとう")),
    }
    result, service = await place_call(script, Caller(keys=[None]))
    assert result.heard() == ["番号をどうぞ", "入力がありません"]
    assert service.posted_to("/menu") == []
    assert result.duration == 7
    assert service.posted_to(STATUS)[0]["CallDuration"] == "7"


async def test_a_lone_finish_key_is_no_input() -> None:
    script: Script = {
        VOICE: twiml(gather("郵便番号をどうぞ", action="/postal", num_digits=7), say("わからなくても大丈夫です")),
        "/postal": twiml(say("ありがとう")),
    }
    result, service = await place_call(script, Caller(keys=["#"]))
    assert service.posted_to("/postal") == []
    assert result.heard()[-1] == "わからなくても大丈夫です"
    gathered = next(event for event in result.events if event.kind == "gather")
    assert (gathered.detail["input"], gathered.detail["posted"]) == ("#", None)


async def test_action_on_empty_result_posts_empty_digits() -> None:
    script: Script = {
        VOICE: twiml(gather("郵便番号をどうぞ", action="/postal", action_on_empty_result=True), say("届かない")),
        "/postal": twiml(say("地域なし")),
    }
    result, service = await place_call(script, Caller(keys=[None]))
    assert service.posted_to("/postal")[0]["Digits"] == ""
    assert result.heard() == ["郵便番号をどうぞ", "地域なし"]


async def test_speech_posts_speech_result_and_confidence() -> None:
    script: Script = {
        VOICE: twiml(gather("ご用件をお話しください", action="/topic", input="dtmf speech", language="ja-JP")),
        "/topic": twiml(say("承りました")),
    }
    result, service = await place_call(script, Caller(speech={0: "お金のことで困っています"}))
    posted = service.posted_to("/topic")[0]
    assert posted["SpeechResult"] == "お金のことで困っています"
    assert float(posted["Confidence"]) > 0
    assert "Digits" not in posted


async def test_speech_is_not_heard_by_a_dtmf_only_gather() -> None:
    script: Script = {VOICE: twiml(gather("番号をどうぞ", action="/topic"), say("入力がありません")), "/topic": twiml(say("承りました"))}
    result, service = await place_call(script, Caller(speech={0: "いち"}))
    assert service.posted_to("/topic") == []


def dial(*numbers: str, **attributes) -> Callable[[VoiceResponse], object]:
    def build(response: VoiceResponse) -> None:
        step = Dial(**attributes)
        for number in numbers:
            step.number(number)
        response.append(step)

    return build


@pytest.mark.parametrize(
    ("line", "status", "seconds"),
    [
        (Line("answer", talk_seconds=300, ring_seconds=4), "completed", 304),
        (Line("busy"), "busy", 0),
        (Line("no-answer"), "no-answer", 20),
        (Line("failed"), "failed", 0),
        (Line("answer", ring_seconds=25), "no-answer", 20),
    ],
)
async def test_dial_action_gets_the_dial_call_status(line: Line, status: str, seconds: int) -> None:
    script: Script = {
        VOICE: twiml(dial("+81312345678", action="/dialled", timeout=20, caller_id="+81120000000")),
        "/dialled": twiml(say("終わりました")),
    }
    result, service = await place_call(script, Caller(lines={"+81312345678": line}))
    posted = service.posted_to("/dialled")[0]
    assert posted["DialCallStatus"] == status
    assert posted["DialCallSid"].startswith("CA")
    assert posted.get("DialCallDuration") == ("300" if status == "completed" else None)
    assert result.rung() == ["+81312345678"]
    assert result.duration == seconds
    event = next(event for event in result.events if event.kind == "dial")
    assert event.detail["callerId"] == "+81120000000"
    assert event.detail["timeout"] == 20
    assert event.detail["outcome"] == status


async def test_numbers_dialled_together_are_won_by_the_first_to_answer() -> None:
    lines = {
        "+81311111111": Line("busy"),
        "+81322222222": Line("answer", ring_seconds=9, talk_seconds=30),
        "+81333333333": Line("answer", ring_seconds=3, talk_seconds=50),
    }
    script: Script = {VOICE: twiml(dial(*lines, action="/dialled")), "/dialled": twiml()}
    result, service = await place_call(script, Caller(lines=lines))
    assert result.rung() == list(lines)
    dialled = next(event for event in result.events if event.kind == "dial")
    assert dialled.detail["answered_number"] == "+81333333333"
    assert service.posted_to("/dialled")[0]["DialCallDuration"] == "50"


async def test_a_dial_without_action_goes_on_to_the_next_verb() -> None:
    script: Script = {VOICE: twiml(lambda r: r.dial("+81312345678", timeout=10), say("おつなぎできませんでした"))}
    result, service = await place_call(script, Caller(default_line=Line("no-answer")))
    assert result.rung() == ["+81312345678"]
    assert result.heard() == ["おつなぎできませんでした"]
    assert len(result.requests()) == 2  # the voice URL and the status callback


async def test_redirect_and_relative_action_urls_resolve_like_twilio() -> None:
    script: Script = {
        VOICE: twiml(lambda r: r.redirect("menu?step=1")),
        "/twilio/voice/menu": twiml(gather("番号をどうぞ", action="postal?topic=life", num_digits=1)),
        "/twilio/voice/postal": twiml(say("ありがとう")),
    }
    result, service = await place_call(script, Caller(keys=["1"]))
    assert [request.detail["url"] for request in result.requests()] == [
        PUBLIC_URL + VOICE,
        PUBLIC_URL + "/twilio/voice/menu?step=1",
        PUBLIC_URL + "/twilio/voice/postal?topic=life",
        PUBLIC_URL + STATUS,
    ]
    assert service.posted_to("/twilio/voice/postal?topic=life")[0]["Digits"] == "1"
    assert result.errors() == []


async def test_get_redirects_put_params_in_the_signed_query() -> None:
    script: Script = {VOICE: twiml(lambda r: r.redirect("/next", method="GET")), "/next": twiml(say("届きました"))}
    result, service = await place_call(script)
    assert result.heard() == ["届きました"]
    assert result.requests()[1].detail["method"] == "GET"
    assert service.seen[1].params["CallStatus"] == "in-progress"


def wait_music(response: VoiceResponse) -> None:
    response.say("順番にお待ちください", language="ja-JP")
    response.pause(length=20)


async def test_enqueue_loops_the_wait_url_until_leave_then_posts_the_action() -> None:
    def wait(params: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        if int(params["QueueTime"]) >= 40:
            response.leave()
        else:
            wait_music(response)
        return response

    script: Script = {
        VOICE: twiml(lambda r: r.enqueue("national", wait_url="/queue/wait", action="/queue/left"), say("届かない")),
        "/queue/wait": wait,
        "/queue/left": twiml(say("ただいま混み合っています。折り返しをご希望の方は1を。")),
    }
    result, service = await place_call(script)
    assert [params["QueueTime"] for params in service.posted_to("/queue/wait")] == ["0", "20", "40"]
    assert service.posted_to("/queue/wait")[0]["QueuePosition"] == "1"
    left = service.posted_to("/queue/left")[0]
    assert (left["QueueResult"], left["QueueTime"]) == ("leave", "40")
    assert left["QueueSid"].startswith("QU")
    assert result.heard()[-1].startswith("ただいま混み合っています")
    assert result.ended_by == "end-of-twiml"


async def test_a_caller_who_abandons_in_the_queue_still_gets_a_status_callback() -> None:
    script: Script = {
        VOICE: twiml(lambda r: r.enqueue("national", wait_url="/queue/wait", action="/queue/left")),
        "/queue/wait": twiml(wait_music),
    }
    script["/queue/left"] = twiml()
    result, service = await place_call(script, Caller(hang_up_after=5))
    assert result.ended_by == "caller-hung-up"
    assert len(service.posted_to("/queue/wait")) == 2  # Enqueue, Say, Pause, Say, Pause: then the caller is gone
    assert service.posted_to("/queue/left")[0]["QueueResult"] == "hangup"
    status = service.posted_to(STATUS)[0]
    assert (status["CallStatus"], status["CallDuration"]) == ("completed", "40")


async def test_a_queue_caller_can_key_their_way_out_from_the_wait_url() -> None:
    script: Script = {
        VOICE: twiml(lambda r: r.enqueue("national", wait_url="/queue/wait", action="/queue/left")),
        "/queue/wait": twiml(gather("折り返しをご希望の方は1を", action="/queue/key", num_digits=1), lambda r: r.pause(length=30)),
        "/queue/key": lambda params: twiml(lambda r: r.leave() if params["Digits"] == "1" else r.redirect("/queue/wait"))(params),
        "/queue/left": twiml(say("折り返しのご案内です")),
    }
    result, service = await place_call(script, Caller(keys=[None, "2", "1"]))
    assert [params["Digits"] for params in service.posted_to("/queue/key")] == ["2", "1"]
    assert service.posted_to("/queue/wait")[2]["QueueSid"]  # the Redirect back carries the queue's params
    assert service.posted_to("/queue/left")[0]["QueueResult"] == "leave"
    assert result.heard()[-1] == "折り返しのご案内です"
    assert result.errors() == []


async def test_without_a_wait_url_the_caller_hears_hold_music_until_they_give_up() -> None:
    script: Script = {VOICE: twiml(lambda r: r.enqueue("national", action="/queue/left")), "/queue/left": twiml()}
    result, service = await place_call(script, Caller(hang_up_after=4))
    assert [event.detail["url"] for event in result.events if event.kind == "play"] == ["default-hold-music"] * 3
    assert service.posted_to("/queue/left")[0]["QueueTime"] == "90"
    assert service.posted_to(STATUS)[0]["CallDuration"] == "90"


async def test_a_queue_that_never_ends_stops_at_the_step_limit_and_tells_the_action() -> None:
    script: Script = {
        VOICE: twiml(lambda r: r.enqueue("national", wait_url="/queue/wait", action="/queue/left")),
        "/queue/wait": twiml(wait_music),
    }
    script["/queue/left"] = twiml()
    result, service = await place_call(script, max_steps=4)
    assert result.ended_by == "loop-limit"
    assert len(service.posted_to("/queue/wait")) == 3
    assert service.posted_to("/queue/left")[0]["QueueResult"] == "hangup"


async def test_a_caller_who_hangs_up_while_it_rings_is_canceled() -> None:
    result, service = await place_call({VOICE: twiml(say("届かない"))}, Caller(hang_up_after=0))
    assert result.ended_by == "caller-hung-up"
    assert result.heard() == []
    assert service.posted_to(STATUS)[0]["CallStatus"] == "canceled"


async def test_hangup_ends_the_call_there() -> None:
    result, service = await place_call({VOICE: twiml(say("さようなら"), lambda r: r.hangup(), say("届かない"))})
    assert result.ended_by == "hangup-verb"
    assert result.heard() == ["さようなら"]
    assert service.posted_to(STATUS)[0]["CallStatus"] == "completed"


async def test_reject_as_the_first_verb_leaves_the_call_unanswered() -> None:
    result, service = await place_call({VOICE: twiml(lambda r: r.reject(reason="busy"))})
    assert result.ended_by == "hangup-verb"
    assert service.posted_to(STATUS)[0]["CallStatus"] == "busy"


async def test_a_redirect_loop_stops_at_the_step_limit() -> None:
    result, service = await place_call({VOICE: twiml(lambda r: r.redirect(VOICE))}, max_steps=5)
    assert result.ended_by == "loop-limit"
    assert len(service.posted_to(VOICE)) == 5
    assert len(service.posted_to(STATUS)) == 1


async def test_record_posts_the_recording_to_its_action() -> None:
    script: Script = {VOICE: twiml(lambda r: r.record(action="/recorded", max_length=4)), "/recorded": twiml(say("録音しました"))}
    result, service = await place_call(script)
    posted = service.posted_to("/recorded")[0]
    assert posted["RecordingDuration"] == "4"
    assert posted["RecordingUrl"].startswith("https://")
    assert result.duration == 4


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("<Response><Dance/></Response>", "unknown verb <Dance>"),
        ("<Response><Say>a<Hangup/></Say></Response>", "<Hangup> cannot be nested in <Say>"),
        ("<Response><Gather><Dial>+81312345678</Dial></Gather></Response>", "<Dial> cannot be nested in <Gather>"),
        ("<Response><Leave/></Response>", "<Leave> outside a queue"),
        ('<Response><Pause length="soon"/></Response>', "not a whole number"),
        ("Internal Server Error", "not XML"),
        ("<html/>", "not <Response>"),
    ],
)
async def test_invalid_twiml_is_an_error_the_caller_would_hear(body: str, why: str) -> None:
    result, service = await place_call({VOICE: lambda _: body})
    assert result.ended_by == "http-error"
    assert why in result.errors()[0]
    assert len(service.posted_to(STATUS)) == 1


async def test_a_wait_url_may_not_dial() -> None:
    script: Script = {
        VOICE: twiml(lambda r: r.enqueue("national", wait_url="/queue/wait")),
        "/queue/wait": twiml(lambda r: r.dial("+81312345678")),
    }
    result, _ = await place_call(script)
    assert "not allowed in a queue's wait TwiML" in result.errors()[0]


async def test_a_status_callback_that_fails_is_an_error() -> None:
    service = ScriptedService({VOICE: twiml(say("はい"))}, status_code=500)
    simulator = make_simulator(service)
    async with simulator.client:
        result = await simulator.call(Caller())
    assert result.ended_by == "end-of-twiml"
    assert result.errors() == [f"POST {PUBLIC_URL}{STATUS}: answered HTTP 500"]


async def test_post_sends_one_signed_request_or_a_forged_one() -> None:
    service = ScriptedService({})
    simulator = make_simulator(service)
    params = {"CallSid": "CA" + "2" * 32, "CallStatus": "completed", "CallDuration": "12"}
    async with simulator.client:
        assert (await simulator.post(STATUS, params)).status_code == 204
        assert (await simulator.post(PUBLIC_URL + STATUS, params)).status_code == 204
        assert (await simulator.post(STATUS, params, signature="forged")).status_code == 403
    assert service.posted_to(STATUS) == [params, params]
    assert simulator.sign(PUBLIC_URL + STATUS, params) == RequestValidator(TOKEN).compute_signature(PUBLIC_URL + STATUS, params)


async def test_a_public_url_with_a_path_prefix_is_stripped_for_the_client() -> None:
    simulator = TwilioSimulator(httpx.AsyncClient(base_url="http://testserver"), public_url="https://example.jp/tsunagu/", auth_token=TOKEN)
    assert simulator.local_path("https://example.jp/tsunagu/twilio/voice/incoming?x=1") == "/twilio/voice/incoming?x=1"
    with pytest.raises(ValueError, match="not under the public URL"):
        simulator.local_path("https://example.jp/twilio/voice/incoming")


@pytest.mark.parametrize(
    ("keys", "num_digits", "finish", "collected"),
    [
        (None, None, "#", ("", "", True)),
        ("#", 7, "#", ("", "#", False)),
        ("123#", None, "#", ("123", "#", False)),
        ("123", 7, "#", ("123", "", True)),
        ("1234567", 7, "#", ("1234567", "", False)),
        ("12#", 1, "#", ("1", "", False)),
        ("12#", None, "", ("12#", "", True)),
        ("*9", None, "*", ("", "*", False)),
    ],
)
def test_collect_digits(keys: str | None, num_digits: int | None, finish: str, collected: tuple[str, str, bool]) -> None:
    assert collect_digits(keys, num_digits, finish) == collected


@pytest.mark.parametrize(
    ("rings", "outcome"),
    [
        ([("answer", 5)], ("completed", 0, 5)),
        ([("answer", 30)], ("no-answer", None, 30)),
        ([("busy", 0), ("answer", 8), ("answer", 2)], ("completed", 2, 2)),
        ([("answer", 4), ("answer", 4)], ("completed", 0, 4)),
        ([("busy", 0), ("no-answer", 0)], ("no-answer", None, 30)),
        ([("busy", 0), ("failed", 0)], ("busy", None, 0)),
        ([("failed", 0)], ("failed", None, 0)),
    ],
)
def test_dial_outcome_of_numbers_rung_together(rings: list[tuple[str, int]], outcome: tuple[str, int | None, int]) -> None:
    assert dial_outcome(rings, 30) == outcome

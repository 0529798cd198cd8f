"""The baseline for loadtests/benchmarks/webhook.py and line_webhook.py: the least a FastAPI webhook can do.

POST /twilio/voice/incoming reads the form (as tsunagu does, through python-multipart) and
answers ~90 bytes of XML; POST /line/webhook reads the body and answers `{}`. No middleware, no
signature check, no Redis. Served by the benchmarks as `uvicorn loadtests.harness.trivial_app:app --loop uvloop --http httptools
--no-access-log --workers 1`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="ja-JP">ok</Say></Response>'

app = FastAPI()


@app.post("/twilio/voice/incoming")
async def incoming(request: Request) -> Response:
    form = await request.form()
    if "CallSid" not in form:
        return Response(status_code=400)
    return Response(TWIML, media_type="application/xml")


@app.post("/line/webhook")
async def line_webhook(request: Request) -> Response:
    body = await request.body()
    if not body:
        return Response(status_code=400)
    return Response("{}", media_type="application/json")

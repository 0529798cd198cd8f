"""Twilio's request signature, checked against the public URL Twilio requested (not the one we were reached by)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from twilio.request_validator import RequestValidator


async def twilio_form(request: Request) -> dict[str, str]:
    """Return the webhook's form fields after checking X-Twilio-Signature (403, and no TwiML, when it fails)."""
    runtime = request.app.state.runtime
    form = {key: str(value) for key, value in (await request.form()).items()}
    if not runtime.settings.verify_twilio_signatures:
        return form
    url = runtime.settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    if not signature or not RequestValidator(runtime.settings.twilio_auth_token).validate(url, form, signature):
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return form


TwilioForm = Annotated[dict[str, str], Depends(twilio_form)]

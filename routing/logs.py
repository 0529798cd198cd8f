"""One logging setup: structlog JSON lines on stdout, a request id bound per request, phone numbers and sensitive fields redacted."""

from __future__ import annotations

import logging
import re
import sys
import unicodedata
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

# E.164 (+81…), Japanese domestic forms (03-1234-5678, 090 1234 5678, 0120-123-456, 09012345678),
# full-width digits and dashes and URL-encoded "+" are caught; redaction runs on every string in every event.
_PHONE = re.compile(r"(?<![0-9])(?:\+|%2[bB])?[0-9](?:[\s\-‐−ー()]?[0-9]){8,14}(?![0-9])")
REDACTED = "[redacted-number]"
# An identifier, left whole: 32 or more hex digits with a letter among them, alone or after a two-letter prefix (a request
# id, a Twilio SID such as CA…, a hash). A phone number has at most 15 digits, so none is one; the digit runs inside
# an identifier are not phone numbers, and masking them only made request ids unreadable.
_IDENTIFIER = re.compile(r"(?<![0-9A-Za-z])((?:[A-Z]{2})?(?=[0-9]*[A-Fa-f])[0-9A-Fa-f]{32,})(?![0-9A-Za-z])")
# Fields whose value is never logged, whatever it looks like: what a person said or gave, and secrets.
SENSITIVE_FIELDS = frozenset(
    {
        "note",
        "notes",
        "text",
        "body",
        "contact",
        "reason",
        "exception_reason",
        "why",
        "speech",
        "speechresult",
        "from",
        "caller",
        "number",
        "password",
        "token",
        "authorization",
        "cookie",
        "session",
        "csrf_token",
    }
)
WITHHELD = "[redacted]"


def redact_text(text: str) -> str:
    """Replace anything that looks like a phone number (after folding full-width characters), outside identifiers."""
    folded = unicodedata.normalize("NFKC", text)
    if not _PHONE.search(folded):
        return text
    parts = _IDENTIFIER.split(folded)  # identifiers at the odd places
    return "".join(part if i % 2 else _PHONE.sub(REDACTED, part) for i, part in enumerate(parts))


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: WITHHELD if str(k).lower() in SENSITIVE_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_processor(_logger: Any, _method: str, event: EventDict) -> dict[str, Any]:
    """structlog processor: withhold sensitive fields, and redact phone numbers in every other field of the event."""
    return {key: WITHHELD if key.lower() in SENSITIVE_FIELDS else _redact(value) for key, value in event.items()}


def configure_logging(level: str = "INFO") -> None:
    """Send structlog and stdlib logging as JSON lines to stdout."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer(ensure_ascii=False)],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry query strings
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)  # a line per statement, with its bound values, from its own thread
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # uvicorn's access lines carry the query string; our own request log writes the path alone.
    access = logging.getLogger("uvicorn.access")
    access.handlers, access.propagate, access.disabled = [], False, True

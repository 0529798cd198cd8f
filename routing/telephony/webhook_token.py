"""The token Twilio's webhooks are signed with: TWILIO_AUTH_TOKEN, or, with no Twilio account, a development token in var/.

Without it, the embedded default could not take a single call: Twilio's webhooks are refused unless
signed, and with no account nobody has a token to sign with. So the first `tsunagu serve` or
`tsunagu call` on a var dir writes a random token there (mode 0600), and both sign and check with it.
As soon as a Twilio account or auth token is configured, the development token is never read again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import structlog

from routing.settings import Settings

log = structlog.get_logger()

DEVELOPMENT_TOKEN_FILE = "twilio-development-token"


def webhook_token(settings: Settings) -> str:
    """Return the token webhooks are signed and checked with; empty (every webhook refused) when none can be had."""
    real = settings.twilio_auth_token.get_secret_value()
    if real or settings.twilio_account_sid:
        return real  # a real account: its token alone, and none at all if it lacks one
    try:
        return development_token(settings.var_dir)
    except OSError as error:
        log.warning("twilio_development_token_unavailable", path=str(settings.var_dir / DEVELOPMENT_TOKEN_FILE), error=str(error))
        return ""


def development_token(var_dir: Path) -> str:
    """Return the var dir's development token, writing a new random one (mode 0600) the first time."""
    path = var_dir / DEVELOPMENT_TOKEN_FILE
    if not path.exists():
        _write_once(path, secrets.token_urlsafe(32))
    return path.read_text(encoding="ascii").strip()


def _write_once(path: Path, token: str) -> None:
    """Write the token whole under a temporary name, then link it into place unless another process was first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # whatever the umask
        os.write(descriptor, token.encode("ascii") + b"\n")
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, path)  # never replaces: two workers starting at once agree on the first token
    except FileExistsError:
        pass
    finally:
        temporary.unlink()

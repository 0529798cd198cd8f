"""Every Redis key, prefix and channel of tsunagu's live state, named once.

Nothing here holds a number, a name or a message: keys carry service ids, routing keys (topic and
prefecture), Twilio CallSids and random ids only. The staff pages' own keys (sessions, flashes,
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
CALLBACK_DISPATCHER_LOCK = "tsunagu:callbacks:dispatcher"
PURGE_LOCK = "tsunagu:purge:lock"
QUEUE_SECONDS = 6 * 3600  # a queue nobody joined for this long is dropped
CALL_STATE_SECONDS = 6 * 3600  # long after any call has ended


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

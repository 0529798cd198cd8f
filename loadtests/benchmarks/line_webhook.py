"""Benchmark: tsunagu's LINE webhook acknowledgement against a trivial FastAPI endpoint, on one uvicorn worker each.

Run from the repository root (wrk is installed by loadtests/harness/install_tools when missing):

    .venv/bin/python -m loadtests.benchmarks.line_webhook [--seconds N] [--rounds R] [--check]

What it measures: the answer LINE waits for — the signature checked on the raw body, each event
accepted once (its id remembered, the event sealed into its person's inbox) — with the worker's
drainer processing those inboxes beside it, for events the chat accepts and then ignores
(`videoPlayComplete` from 2,000 people), so that no SQL or LINE call is in the figure. After each
tsunagu round, how long the drainer still took to process every accepted event is printed (it
must finish within a minute). Every request
is a distinct webhook (its own event id, signed with the channel secret), 60,000 of them built
before the run and cycled by wrk; between rounds the remembered event ids are dropped from Redis,
so a round never meets a redelivery. The trivial endpoint (loadtests/harness/trivial_app.py) reads
the body and answers `{}`.

Before the load: one signed request gets 200, an unsigned one 403. The two servers take turns
(ABBA) for --rounds rounds of `wrk -t2 -c32`; the figure is the median of the per-round ratios.
Target: >= 0.5. Afterwards every event the rounds sent must have been drained (no inbox left).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis

from loadtests.harness.servers import BIN, ROOT, Processes, free_port, run_with_processes, start_redis, start_tsunagu, summary, wait_until

PATH = "/line/webhook"
SECRET = "bench-line-channel-secret"
REQUESTS = 60_000
PEOPLE = 2_000


def signed(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def bodies(count: int) -> list[bytes]:
    """Distinct webhook bodies, one event each, as LINE sends them."""
    people = ["U" + secrets.token_hex(16) for _ in range(PEOPLE)]
    out = []
    now = int(time.time() * 1000)
    for i in range(count):
        event = {
            "type": "videoPlayComplete",
            "mode": "active",
            "timestamp": now + i,
            "source": {"type": "user", "userId": people[i % PEOPLE]},
            "webhookEventId": f"01BENCH{i:019d}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": secrets.token_hex(16),
            "videoPlayComplete": {"trackingId": "bench"},
        }
        out.append(json.dumps({"destination": "U" + "0" * 32, "events": [event]}, separators=(",", ":")).encode())
    return out


def wrk_script(tmp: Path, requests: list[bytes]) -> Path:
    """A wrk script that sends the signed requests in turn, each thread from its own offset."""
    lines = ["local reqs = {"]
    for body in requests:
        lines.append(f"{{{json.dumps(body.decode())}, {json.dumps(signed(body))}}},")
    lines += [
        "}",
        "local n = #reqs",
        "local i = 0",
        "offset = 0  -- set per thread by setup(), so the two threads start half the list apart",
        "threads = 0",
        "function setup(thread) thread:set('offset', threads * math.floor(n / 2)); threads = threads + 1 end",
        "function request()",
        "  i = i + 1",
        "  local r = reqs[((offset + i) % n) + 1]",
        '  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Line-Signature"] = r[2]}, r[1])',
        "end",
        "function done(s, latency, requests)",
        "  local e = s.errors",
        '  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d\\n", s.requests, s.duration, e.connect, e.read,',
        "    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))",
        "end",
    ]
    path = tmp / "line.lua"
    path.write_text("\n".join(lines))
    return path


def wrk(url: str, script: Path, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    fields = [int(x) for x in re.search(r"^RESULT (.*)$", out, re.M).group(1).split()]  # type: ignore[union-attr]
    requests, duration_us, *errors, p50, p99 = fields
    return {"n": requests, "rps": requests / (duration_us / 1e6), "errors": sum(errors), "p50": p50 / 1000, "p99": p99 / 1000}


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **headers}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def inboxes_left(client: redis.Redis) -> int:
    return sum(1 for _ in client.scan_iter(match="tsunagu:line:inbox:*", count=5000))


def drained_within(client: redis.Redis, seconds: float) -> float | None:
    """Wait until the worker has processed every accepted event; return how long it took (None: not within `seconds`)."""
    started = time.monotonic()
    while inboxes_left(client):
        if time.monotonic() - started > seconds:
            return None
        time.sleep(0.05)
    return time.monotonic() - started


def forget_events(client: redis.Redis) -> None:
    """Drop the remembered event ids, so the next round's events are new again."""
    for key in client.scan_iter(match="tsunagu:line:event:*", count=5000):
        client.delete(key)


def run(args: argparse.Namespace, processes: Processes) -> bool:
    if not shutil.which("wrk"):
        subprocess.run([str(ROOT / "loadtests" / "harness" / "install_tools")], check=True)
    redis_url = start_redis(processes)
    trivial_port = free_port()
    trivial = f"http://127.0.0.1:{trivial_port}"
    processes.start(
        "trivial",
        [str(BIN / "uvicorn"), "loadtests.harness.trivial_app:app", "--app-dir", str(ROOT), "--host", "127.0.0.1"]
        + ["--port", str(trivial_port), "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        + ["--log-level", "warning"],
    )
    env = {"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "bench-token", "TSUNAGU_LINE_API_URL": "http://127.0.0.1:9"}
    base, _ = start_tsunagu(processes, redis_url, workers=1, env=env)
    wait_until("trivial app", lambda: post(trivial + PATH, b"{}", {}) == 200, processes, 60)
    client = redis.Redis.from_url(redis_url)
    requests = bodies(REQUESTS)
    first = requests[0]
    status = post(base + PATH, first, {"X-Line-Signature": signed(first)})
    unsigned = post(base + PATH, first, {})
    print(f"signed request: {status}; unsigned: {unsigned}; {REQUESTS:,} distinct signed webhooks from {PEOPLE:,} people")
    responses_ok = status == 200 and unsigned == 403
    script = wrk_script(processes.tmp, requests)
    for url in (trivial + PATH, base + PATH):  # warm-up
        wrk(url, script, 2)
    forget_events(client)

    print(f"\nthroughput: wrk -t2 -c32, {args.seconds:g} s per run")
    results: dict[str, list[dict[str, float]]] = {"trivial": [], "tsunagu": []}
    drains: list[float | None] = []
    urls = {"trivial": trivial + PATH, "tsunagu": base + PATH}
    for r in range(args.rounds):
        for name in ("trivial", "tsunagu") if r % 2 == 0 else ("tsunagu", "trivial"):
            results[name].append(wrk(urls[name], script, args.seconds))
            processes.check_alive()
            if name == "tsunagu":
                drained = drained_within(client, 60)
                drains.append(drained)
                responses_ok &= drained is not None
                forget_events(client)
        t, s = results["trivial"][-1], results["tsunagu"][-1]
        print(
            f"  round {r + 1}: trivial {t['rps']:7,.0f} req/s (p99 {t['p99']:.1f} ms)   "
            f"tsunagu {s['rps']:7,.0f} req/s (p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms)   ratio {s['rps'] / t['rps']:.2f}   "
            + (f"every event processed {drains[-1]:.1f} s after the round" if drains[-1] is not None else "events left after 60 s")
        )
    errors = {name: sum(x["errors"] for x in runs) for name, runs in results.items()}
    too_many = max(x["n"] for x in results["tsunagu"]) > REQUESTS
    ratio = statistics.median(s["rps"] / t["rps"] for t, s in zip(results["trivial"], results["tsunagu"], strict=True))
    responses_ok &= errors["tsunagu"] == 0 and errors["trivial"] == 0
    checks = [
        (
            "responses: signed 200, unsigned 403, no error under load, every event drained",
            responses_ok,
            f"wrk errors trivial {errors['trivial']}, tsunagu {errors['tsunagu']}",
        ),
        (
            "throughput: LINE acknowledgement >= 0.5 x trivial",
            ratio >= 0.5,
            f"{statistics.median(x['rps'] for x in results['tsunagu']):,.0f} / "
            f"{statistics.median(x['rps'] for x in results['trivial']):,.0f} req/s = {ratio:.2f}"
            + (" (a round sent more requests than were built: later ones were redeliveries)" if too_many else ""),
        ),
    ]
    return summary(checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating wrk rounds (default 3)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    return run_with_processes(lambda processes: run(args, processes), prefix="tsunagu-bench-line-", check=args.check)


if __name__ == "__main__":
    sys.exit(main())

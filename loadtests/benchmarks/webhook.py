"""Benchmark: tsunagu's Twilio voice webhook against a trivial FastAPI endpoint, on one uvicorn worker each.

Run from the repository root (wrk and hey are installed by loadtests/harness/install_tools when missing):

    .venv/bin/python -m loadtests.benchmarks.webhook [--seconds N] [--rounds R] [--profile FILE.svg] [--check]

What it starts (all stopped at the end, also on Ctrl-C or an error):
- /usr/bin/redis-server on a unix socket in a temp dir (no persistence);
- the baseline, loadtests/harness/trivial_app.py (read the form, answer 89 bytes of XML), under
  `uvicorn --workers 1 --loop uvloop --http httptools --no-access-log`;
- tsunagu itself, by the real `tsunagu serve --workers 1`, with TSUNAGU_VAR_DIR=<temp dir>
  (fresh SQLite, the demo directory loaded), TSUNAGU_REDIS_URL=<that socket>, a bench
  TWILIO_AUTH_TOKEN, TSUNAGU_PUBLIC_URL=http://127.0.0.1:<port>, TSUNAGU_LOG_LEVEL=WARNING; the
  benchmark waits for GET /readyz to answer 200.
Every request is the same POST /twilio/voice/incoming (a fixed form with a fixed CallSid),
signed with X-Twilio-Signature computed by twilio's RequestValidator for that URL and body.
Before the load, one signed request must get 200 TwiML with the topic menu (<Gather>) and an
unsigned one 403; during the load, wrk must see no non-2xx answer and tsunagu's
tsunagu_webhook_fallbacks_total must not grow (a 200 that dials the fallback number is a failure).

The figures:
1. throughput: req/s of `wrk -t2 -c32` for --seconds, after a 2 s warm-up of each server; the
   two servers take turns (ABBA order) for --rounds rounds so that the shared machine's drift
   hits both alike. Each round prints both and their ratio; the figure kept is the median.
   wrk's p50/p99 are shown too: at saturation they measure queueing (32 in flight), not speed.
2. ratio = tsunagu / trivial (median of the per-round ratios). Target: >= 0.5.
3. latency at a fixed 300 webhooks/s against tsunagu: `hey -c 6 -q 50` for 3 x --seconds
   (hey paces each worker with its own ticker and all tickers start together, so requests leave in
   bursts of -c every 1/q s: 6 every 20 ms keeps bursts small while each worker still has 20 ms
   for an answer before it falls behind). p50/p95/p99 are computed from hey's per-request CSV
   (answered requests only). Target: p99 < 50 ms, and at least 285/s achieved: a lower rate means
   the server could not keep up (or requests failed), and then its p99 says nothing about 300/s.
--check exits 1 when a target or a response check fails. --profile records a py-spy flame graph
of the tsunagu worker during one extra (unmeasured) wrk run.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from twilio.request_validator import RequestValidator

from loadtests.harness.servers import (
    BENCH_TOKEN,
    BIN,
    ROOT,
    Processes,
    free_port,
    get,
    run_with_processes,
    start_redis,
    start_tsunagu,
    summary,
    wait_until,
)

PATH = "/twilio/voice/incoming"
TOKEN = BENCH_TOKEN
FORM = {
    "AccountSid": "AC" + "0" * 32,
    "ApiVersion": "2010-04-01",
    "CallSid": "CA" + "b" * 32,
    "CallStatus": "ringing",
    "Called": "+81120000000",
    "Caller": "+819012345678",
    "Direction": "inbound",
    "From": "+819012345678",
    "FromCountry": "JP",
    "To": "+81120000000",
    "ToCountry": "JP",
}
BODY = urllib.parse.urlencode(FORM)
CONTENT_TYPE = "application/x-www-form-urlencoded"
RATE, HEY_WORKERS = 300, 6
FALLBACKS = re.compile(r'^tsunagu_webhook_fallbacks_total\{step="incoming",[^}]*\} ([0-9.e+]+)$', re.M)  # every reason


def post(url: str, headers: dict[str, str]) -> tuple[int, str, str]:
    request = urllib.request.Request(url, BODY.encode(), {"Content-Type": CONTENT_TYPE, **headers}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("content-type", ""), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read().decode()


def wrk_script(tmp: Path, signature: str) -> Path:
    path = tmp / "post.lua"
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = "{BODY}"\n'
        f'wrk.headers["Content-Type"] = "{CONTENT_TYPE}"\nwrk.headers["X-Twilio-Signature"] = "{signature}"\n'
        "function done(s, latency, requests)\n  local e = s.errors\n"
        '  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d\\n", s.requests, s.duration, e.connect, e.read,\n'
        "    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))\nend\n"
    )
    return path


def wrk(url: str, script: Path, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    fields = [int(x) for x in re.search(r"^RESULT (.*)$", out, re.M).group(1).split()]  # type: ignore[union-attr]
    requests, duration_us, *errors, p50, p99 = fields
    return {"rps": requests / (duration_us / 1e6), "errors": sum(errors), "non2xx": errors[3], "p50": p50 / 1000, "p99": p99 / 1000}


def hey(url: str, signature: str, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{seconds:g}s",
            "-c",
            str(HEY_WORKERS),
            "-q",
            str(RATE / HEY_WORKERS),
            "-m",
            "POST",
            "-T",
            CONTENT_TYPE,
            "-H",
            f"X-Twilio-Signature: {signature}",
            "-d",
            BODY,
            "-o",
            "csv",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    latencies = sorted(float(r["response-time"]) * 1000 for r in rows)
    statuses = [r["status-code"] for r in rows]
    span = max(float(r["offset"]) for r in rows) if rows else seconds

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {
        "n": len(rows),
        "rate": len(rows) / span,
        "non200": sum(s != "200" for s in statuses),
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": latencies[-1] if latencies else float("nan"),
    }


def fallbacks(base: str) -> float:
    return sum(float(value) for value in FALLBACKS.findall(get(base + "/metrics")[1]))


def run(args: argparse.Namespace, processes: Processes) -> bool:
    if not (shutil.which("wrk") and shutil.which("hey")):
        subprocess.run([str(ROOT / "loadtests" / "harness" / "install_tools")], check=True)
    tmp = processes.tmp
    redis_url = start_redis(processes)
    trivial_port = free_port()
    trivial = f"http://127.0.0.1:{trivial_port}"
    processes.start(
        "trivial",
        [
            str(BIN / "uvicorn"),
            "loadtests.harness.trivial_app:app",
            "--app-dir",
            str(ROOT),
            "--host",
            "127.0.0.1",
            "--port",
            str(trivial_port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    )
    started = time.monotonic()
    base, server = start_tsunagu(processes, redis_url, workers=1)
    wait_until("trivial app", lambda: post(trivial + PATH, {})[0] == 200, processes, 60)
    print(f"servers ready (tsunagu: migrate, demo directory and /readyz in {time.monotonic() - started:.1f} s)")

    signature = RequestValidator(TOKEN).compute_signature(base + PATH, FORM)
    status, media, text = post(base + PATH, {"X-Twilio-Signature": signature})
    responses_ok = status == 200 and "xml" in media and "<Response>" in text and "<Gather" in text
    unsigned = post(base + PATH, {})[0]
    print(f"signed request: {status} {media}, {'topic menu TwiML' if '<Gather' in text else text[:200]!r}; unsigned: {unsigned}")
    responses_ok &= unsigned == 403
    script = wrk_script(tmp, signature)  # the same request to both: only the URL differs
    urls = {"trivial": (trivial + PATH, script), "tsunagu": (base + PATH, script)}
    fallbacks_before = fallbacks(base)
    for url, _ in urls.values():  # warm-up
        wrk(url, script, 2)

    print(f"\nthroughput: wrk -t2 -c32, {args.seconds:g} s per run")
    results: dict[str, list[dict[str, float]]] = {"trivial": [], "tsunagu": []}
    for r in range(args.rounds):
        for name in ("trivial", "tsunagu") if r % 2 == 0 else ("tsunagu", "trivial"):
            results[name].append(wrk(*urls[name], args.seconds))
            processes.check_alive()
        t, s = results["trivial"][-1], results["tsunagu"][-1]
        print(
            f"  round {r + 1}: trivial {t['rps']:7,.0f} req/s (p50 {t['p50']:.1f} ms, p99 {t['p99']:.1f} ms)   "
            f"tsunagu {s['rps']:7,.0f} req/s (p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms)   ratio {s['rps'] / t['rps']:.2f}"
        )
    errors = {name: sum(x["errors"] for x in runs) for name, runs in results.items()}
    trivial_rps = statistics.median(x["rps"] for x in results["trivial"])
    tsunagu_rps = statistics.median(x["rps"] for x in results["tsunagu"])
    ratio = statistics.median(s["rps"] / t["rps"] for t, s in zip(results["trivial"], results["tsunagu"], strict=True))

    print(f"\nlatency: hey -c {HEY_WORKERS} -q {RATE / HEY_WORKERS:g} (= {RATE} webhooks/s) against tsunagu, {3 * args.seconds:g} s")
    lat = hey(base + PATH, signature, 3 * args.seconds)
    print(
        f"  {lat['n']:,} requests at {lat['rate']:.1f}/s, non-200: {lat['non200']}; p50 {lat['p50']:.1f} ms, "
        f"p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms"
    )
    degraded = fallbacks(base) - fallbacks_before
    if args.profile:
        print(f"\nprofile: py-spy record on pid {server.pid} during an extra {args.seconds:g} s wrk run -> {args.profile}")
        spy = processes.start(
            "py-spy",
            [
                str(BIN / "py-spy"),
                "record",
                "-p",
                str(server.pid),
                "-o",
                str(Path(args.profile).resolve()),
                "-d",
                f"{args.seconds:g}",
                "--nonblocking",
                "-r",
                "200",
            ],
        )
        time.sleep(1)
        wrk(*urls["tsunagu"], args.seconds)
        spy.wait(timeout=60)

    responses_ok &= errors["tsunagu"] == 0 and errors["trivial"] == 0 and lat["non200"] == 0 and degraded == 0
    checks = [
        (
            "responses: all 200 TwiML, no socket errors, no fallback",
            responses_ok,
            f"wrk errors trivial {errors['trivial']}, tsunagu {errors['tsunagu']}; hey non-200 {lat['non200']}; fallbacks {degraded:g}",
        ),
        ("throughput: tsunagu >= 0.5 x trivial", ratio >= 0.5, f"{tsunagu_rps:,.0f} / {trivial_rps:,.0f} req/s = {ratio:.2f}"),
        (
            f"latency: p99 < 50 ms at {RATE}/s (achieved >= {0.95 * RATE:g}/s)",
            lat["p99"] < 50 and lat["rate"] >= 0.95 * RATE,
            f"p50 {lat['p50']:.1f}, p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f} ms at {lat['rate']:.0f}/s",
        ),
    ]
    return summary(checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10, help="seconds per wrk run; the latency run takes 3x (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating wrk rounds (default 3)")
    parser.add_argument("--profile", metavar="SVG", help="record a py-spy flame graph of the tsunagu worker under load")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    return run_with_processes(lambda processes: run(args, processes), prefix="tsunagu-bench-", check=args.check)


if __name__ == "__main__":
    sys.exit(main())

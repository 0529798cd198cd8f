"""CI smoke run of the surge drill: real redis-server, real `tsunagu serve`, the fake LINE platform, Locust, every gate.

Needs /usr/bin/redis-server (scripts/install --test installs it): without it this test fails, it
does not skip — a surge drill that cannot run is a broken drill.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_the_new_year_smoke_run_passes_every_gate_with_chats_in_it(tmp_path: Path) -> None:
    assert Path("/usr/bin/redis-server").exists(), "redis-server is not installed: run scripts/install --test"
    out = tmp_path / "surge"
    run = subprocess.run(
        [sys.executable, "-m", "loadtests.surge", "--smoke", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=280
    )
    report = f"exit {run.returncode}\n--- stdout ---\n{run.stdout[-6000:]}\n--- stderr ---\n{run.stderr[-4000:]}"
    assert run.returncode == 0, report

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    text = (out / "summary.txt").read_text(encoding="utf-8")
    assert summary["passed"] and "RESULT: PASS" in text, report
    assert summary["attempts"]["placed"] >= 10, summary["attempts"]
    outcomes = summary["outcomes"]
    assert sum(outcomes["world"].values()) == summary["attempts"]["placed"] == sum(outcomes["call_record"].values())
    assert outcomes["call_record"].get("connected", 0) > 0, outcomes
    assert [g["name"] for g in summary["gates"] if g["passed"]] == [
        "no failed request",
        "no fallback answer",
        "webhook p99",
        "every call has an outcome",
        "no slot over-assignment",
        "no slot held after drain",
        "no failed LINE webhook",
        "LINE webhook p99",
        "first automated reply p99",
        "no message lost or sent twice",
        "no chat window over capacity_sns",
        "no chat held after drain",
    ]
    assert {"/twilio/voice/incoming", "/twilio/voice/status"} <= set(summary["latency_ms"])
    # Counsellors worked their desks through the case API (their requests count in "no failed request"). Inboxes may
    # stay unread: on New Year's Eve most prefecture windows are shut, and their referrals wait for Jan 4.
    assert {"/api/cases", "/api/referrals?box=outbox"} <= set(summary["latency_ms"])
    # The reach in the handoff counts every referral in the database once, each hop's outcomes adding up to its referrals.
    reach = summary["handoff_reach"]
    assert sum(h["referred"] for h in reach["hops"].values()) + reach["not_counted"] == sum(summary["referrals"].values()), reach
    for hop in reach["hops"].values():
        outcomes = ("contacted_in_time", "contacted_late", "closed_uncontacted", "declined", "expired", "open")
        assert sum(hop[k] for k in outcomes) == hop["referred"] and hop["open_in_time"] <= hop["open"], reach
    assert "Reach in the handoff" in text and list(reach["hops"]) == ["national → prefecture", "prefecture → municipal"]
    # People on LINE went through the questions to a counsellor at the console, who answered and closed; every message
    # the service sent reached their LINE once (LINE holds back what is sent to someone who has just blocked the account).
    chats = summary["chats"]
    assert chats["chats_started"] >= 5 and chats["service"]["chats"] == chats["chats_started"], chats
    assert chats["people"]["reached_a_counsellor"] > 0 and chats["service"]["closed_by"].get("counsellor", 0) > 0, chats
    messages = chats["messages"]
    assert messages["stored_as_sent"] > 0 and messages["lost"] == 0 and messages["twice"] == 0, chats
    assert messages["delivered"] + messages["held_back_after_a_block"] >= messages["stored_as_sent"], chats
    assert chats["fake_line"]["replies"] > 0 and chats["fake_line"].get("duplicates", 0) == 0, chats
    assert {"/line/webhook", "/api/chats/next", "/api/chats/{id}/messages", "/api/chats/{id}/close"} <= set(summary["latency_ms"])
    for name in ("locust_stats.csv", "locust_failures.csv", "locust.html"):
        assert (out / name).exists(), name

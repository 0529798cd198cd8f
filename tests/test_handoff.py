"""The referral state machine and the deadline counted in the receiving window's opening hours."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from referral_directory.hours import JST, Hours, japanese_holidays, window
from routing.cases.handoff import HandoffError, Status, accept_deadline, check_move, next_tier

HOLIDAYS = japanese_holidays(2026, 2027)
OFFICE = Hours(weekly=(window("MO,TU,WE,TH,FR", "09:00", "17:00"),), closures=((date(2026, 12, 29), date(2027, 1, 3)),))
ALWAYS = Hours(weekly=(window("MO,TU,WE,TH,FR,SA,SU", "00:00", "24:00"),), closed_on_holidays=False)
NIGHTS = Hours(weekly=(window("MO,TU,WE,TH,FR,SA,SU", "22:00", "06:00"),), closed_on_holidays=False)
NEVER = Hours(weekly=(window("MO", "09:00", "17:00"),), closures=((date(2026, 1, 1), date(2028, 12, 31)),))


def jst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JST)


@pytest.mark.parametrize(
    ("hours", "made", "hours_to_accept", "due"),
    [
        (OFFICE, "2026-12-01 10:00", 4, "2026-12-01 14:00"),  # inside one window
        (OFFICE, "2026-12-01 15:00", 4, "2026-12-02 11:00"),  # runs over the night
        (OFFICE, "2026-12-04 16:00", 4, "2026-12-07 12:00"),  # Friday → Monday
        (OFFICE, "2026-12-01 07:00", 4, "2026-12-01 13:00"),  # made before opening
        (OFFICE, "2026-12-30 11:00", 4, "2027-01-04 13:00"),  # 年末年始: due after Jan 4 opens
        (OFFICE, "2026-11-20 16:00", 8, "2026-11-24 16:00"),  # Nov 23 勤労感謝の日 is a holiday (Monday)
        (ALWAYS, "2026-12-31 23:00", 4, "2027-01-01 03:00"),  # a 24-hour line counts every hour
        (NIGHTS, "2026-12-01 12:00", 10, "2026-12-03 00:00"),  # 8 h the first night, 2 h the next
    ],
)
def test_the_deadline_counts_only_the_receiving_windows_opening_hours(hours, made, hours_to_accept, due) -> None:
    assert accept_deadline(hours, HOLIDAYS, jst(made), timedelta(hours=hours_to_accept)) == jst(due)


def test_a_window_that_never_opens_gives_no_deadline() -> None:
    assert accept_deadline(NEVER, HOLIDAYS, jst("2026-12-01 10:00"), timedelta(hours=4)) is None
    with pytest.raises(ValueError):
        accept_deadline(OFFICE, HOLIDAYS, jst("2026-12-01 10:00"), timedelta(0))


@pytest.mark.parametrize(
    ("current", "target", "extra"),
    [
        (Status.PROPOSED, Status.ACCEPTED, {}),
        (Status.PROPOSED, Status.DECLINED, {"reason": "対象地域外です"}),
        (Status.PROPOSED, Status.EXPIRED, {}),
        (Status.ACCEPTED, Status.CONTACTED, {}),
        (Status.ACCEPTED, Status.CLOSED, {"outcome": "unreachable"}),
        (Status.CONTACTED, Status.CLOSED, {"outcome": "supported"}),
    ],
)
def test_allowed_moves(current: Status, target: Status, extra: dict) -> None:
    check_move(current, target, **extra)


@pytest.mark.parametrize(
    ("current", "target", "extra", "says"),
    [
        (Status.PROPOSED, Status.CONTACTED, {}, "can become accepted, declined, expired"),
        (Status.PROPOSED, Status.DECLINED, {"reason": "  "}, "needs a reason"),
        (Status.CONTACTED, Status.CLOSED, {}, "needs its outcome"),
        (Status.DECLINED, Status.ACCEPTED, {}, "it is finished"),
        (Status.EXPIRED, Status.ACCEPTED, {}, "it is finished"),
        (Status.CLOSED, Status.CONTACTED, {}, "it is finished"),
        (Status.ACCEPTED, Status.PROPOSED, {}, "cannot become proposed"),
    ],
)
def test_refused_moves_say_why(current: Status, target: Status, extra: dict, says: str) -> None:
    with pytest.raises(HandoffError, match=says):
        check_move(current, target, **extra)


def test_the_chain_goes_national_prefecture_municipal_and_ends() -> None:
    assert [next_tier("national"), next_tier("prefecture"), next_tier("municipal")] == ["prefecture", "municipal", None]

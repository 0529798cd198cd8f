"""The access policy as one matrix: every role × action × own/other organisation or region."""

from __future__ import annotations

import itertools

import pytest
from builders import make_service

from referral_directory.records import NATION
from referral_directory.staff.access import Action, CaseScope, ChatScope, CoverageScope, ReferralScope, ServiceScope, StatsScope, decide
from referral_directory.staff.accounts import Role, Staff

OWN, OTHER, THIRD = "org-own", "org-other", "org-third"
TOKYO, CHIYODA, OSAKA_CITY, OSAKA = "130001", "131016", "271004", "270008"

TARGETS = {
    "case held by own org": CaseScope(holder=OWN, proposed_to=frozenset({OTHER})),
    "case referred to own org, not yet accepted": CaseScope(holder=OTHER, proposed_to=frozenset({OWN})),
    "case accepted by own org": CaseScope(holder=OTHER, working=frozenset({OWN})),
    "case whose referral own org closed": CaseScope(holder=OTHER, finished=frozenset({OWN})),
    "case own org closed, whose onward referral came back": CaseScope(
        holder=OTHER, finished=frozenset({OWN}), returned_to=frozenset({OWN})
    ),
    "case of another chain": CaseScope(
        holder=OTHER, proposed_to=frozenset({THIRD}), working=frozenset({THIRD}), finished=frozenset({THIRD})
    ),
    "referral to own org": ReferralScope(receiver=OWN),
    "referral to another org": ReferralScope(receiver=OTHER),
    "stats of own org": StatsScope(organization=OWN),
    "stats of another org": StatsScope(organization=OTHER),
    "stats of a municipality in own region": StatsScope(region=CHIYODA),
    "stats of another region": StatsScope(region=OSAKA_CITY),
    "a service in own region": ServiceScope(make_service(areas=(CHIYODA,))),
    "a service of another region": ServiceScope(make_service(areas=(OSAKA_CITY,))),
    "chat at own org, with them": ChatScope(OWN, holder="me"),
    "chat at own org, with a colleague": ChatScope(OWN, holder="colleague"),
    "chat waiting at own org": ChatScope(OWN),
    "chat at another org": ChatScope(OTHER, holder="me"),
    "coverage of own prefecture": CoverageScope(TOKYO),
    "coverage of another prefecture": CoverageScope(OSAKA),
    "coverage of the whole country": CoverageScope(NATION),
    "nothing": None,
}
COVERAGE = ("coverage of own prefecture", "coverage of another prefecture", "coverage of the whole country")
OWN_CHATS = ("chat at own org, with them", "chat at own org, with a colleague", "chat waiting at own org")
# A counsellor reads and answers the chats they hold; a supervisor also reads along with every chat at
# their organisation, takes any of them over, and keeps the templates and word lists.
CHAT_WORK = {(Action.ANSWER_CHAT, "chat at own org, with them"), (Action.READ_CHAT, "chat at own org, with them")}
# The holder does everything with its case; a receiver reads it from the moment it is proposed, works it
# (its own notes, passing it on) once accepted, and never changes the holder's intake or consent record.
CASE_WORK = {
    *{(a, "case held by own org") for a in (Action.READ_CASE, Action.RECORD_INTAKE, Action.RECORD_CONSENT, Action.ADD_NOTE, Action.REFER)},
    (Action.READ_CASE, "case referred to own org, not yet accepted"),
    *{(a, "case accepted by own org") for a in (Action.READ_CASE, Action.ADD_NOTE, Action.REFER)},
    (Action.READ_CASE, "case whose referral own org closed"),
    *{(a, "case own org closed, whose onward referral came back") for a in (Action.READ_CASE, Action.REFER)},
}
ALLOWED = {
    Role.COUNSELLOR: {*CASE_WORK, *CHAT_WORK, (Action.ANSWER_REFERRAL, "referral to own org")},
    Role.SUPERVISOR: {
        *CASE_WORK,
        *CHAT_WORK,
        *{(Action.READ_CHAT, t) for t in OWN_CHATS},
        *{(Action.TAKE_OVER_CHAT, t) for t in OWN_CHATS},
        *{(Action.KEEP_CHAT_TEXTS, t) for t in TARGETS},
        (Action.ANSWER_REFERRAL, "referral to own org"),
        (Action.READ_STATS, "stats of own org"),
    },
    Role.COORDINATOR: {
        (Action.READ_STATS, "stats of a municipality in own region"),
        (Action.READ_COVERAGE, "coverage of own prefecture"),
        *{(Action.CHANGE_DIRECTORY, t) for t in TARGETS if t != "a service of another region"},  # other targets: no region to check
    },
    Role.AUDITOR: {(Action.READ_AUDIT, t) for t in TARGETS},
    Role.ADMIN: {
        *{(Action.READ_AUDIT, t) for t in TARGETS},
        *{(Action.CHANGE_DIRECTORY, t) for t in TARGETS},
        *{(Action.READ_COVERAGE, t) for t in COVERAGE},
    },
}


def staff(role: Role) -> Staff:
    return Staff(id="me", name=role.value, role=role, organization_id=OWN, regions=(TOKYO,))


@pytest.mark.parametrize("role", list(Role))
def test_the_authorisation_matrix(role: Role, regions) -> None:
    allowed = {
        (action, name)
        for action, (name, target) in itertools.product(Action, TARGETS.items())
        if decide(staff(role), action, target, regions=regions)
    }
    assert allowed == ALLOWED[role]


def test_every_decision_gives_a_reason(regions) -> None:
    for role, action, target in itertools.product(Role, Action, TARGETS.values()):
        assert decide(staff(role), action, target, regions=regions).reason


@pytest.mark.parametrize(
    ("scope", "region", "allowed"),
    [
        (CHIYODA, TOKYO, True),  # a municipality's coordinator sees the prefecture holding it
        (CHIYODA, OSAKA, False),
        (CHIYODA, NATION, False),
        (NATION, OSAKA, True),
        (NATION, NATION, True),
    ],
)
def test_the_coverage_map_by_the_coordinators_region(scope: str, region: str, allowed: bool, regions) -> None:
    coordinator = Staff(id="c", name="c", role=Role.COORDINATOR, organization_id=None, regions=(scope,))
    assert bool(decide(coordinator, Action.READ_COVERAGE, CoverageScope(region), regions=regions)) is allowed


def test_a_counsellor_without_an_organisation_reaches_no_case() -> None:
    lost = Staff(id="s", name="n", role=Role.COUNSELLOR, organization_id=None, regions=())
    assert not decide(lost, Action.READ_CASE, CaseScope(holder=OWN, working=frozenset({OTHER})))


@pytest.mark.parametrize(
    ("target", "pending"),
    [
        ("case referred to own org, not yet accepted", {Action.ADD_NOTE, Action.REFER}),  # accepting opens these
        ("case whose referral own org closed", set()),  # finished: nothing opens again
        ("case accepted by own org", set()),  # the holder's record stays the holder's
    ],
)
def test_a_refusal_waits_for_accepting_only_where_accepting_would_allow_it(target: str, pending: set[Action]) -> None:
    refused = {a: decide(staff(Role.COUNSELLOR), a, TARGETS[target]) for a in Action}
    assert {a for a, decision in refused.items() if not decision and decision.pending} == pending
    for action in (Action.RECORD_INTAKE, Action.RECORD_CONSENT):
        assert not refused[action].pending and "holding the case" in refused[action].reason


def test_an_organisation_both_holding_and_receiving_its_case_is_its_holder() -> None:
    returned = CaseScope(holder=OWN, proposed_to=frozenset({OWN}), finished=frozenset({OWN}))  # a transfer came back, say
    assert all(decide(staff(Role.COUNSELLOR), a, returned) for a in (Action.RECORD_INTAKE, Action.RECORD_CONSENT, Action.ADD_NOTE))


def test_a_closed_referral_and_a_new_one_waiting_read_as_waiting() -> None:
    again = CaseScope(holder=OTHER, proposed_to=frozenset({OWN}), finished=frozenset({OWN}))
    decision = decide(staff(Role.COUNSELLOR), Action.ADD_NOTE, again)
    assert not decision and decision.pending and "accept the referral first" in decision.reason

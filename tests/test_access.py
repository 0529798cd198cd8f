"""The access policy as one matrix: every role × action × own/other organisation or region."""

from __future__ import annotations

import itertools

import pytest
from builders import make_service

from referral_directory.staff.access import Action, CaseScope, ReferralScope, ServiceScope, StatsScope, decide
from referral_directory.staff.accounts import Role, Staff

OWN, OTHER, THIRD = "org-own", "org-other", "org-third"
TOKYO, CHIYODA, OSAKA_CITY = "130001", "131016", "271004"

TARGETS = {
    "case held by own org": CaseScope(holder=OWN),
    "case referred to own org": CaseScope(holder=OTHER, referred_to=frozenset({OWN})),
    "case of another chain": CaseScope(holder=OTHER, referred_to=frozenset({THIRD})),
    "referral to own org": ReferralScope(receiver=OWN),
    "referral to another org": ReferralScope(receiver=OTHER),
    "stats of own org": StatsScope(organization=OWN),
    "stats of another org": StatsScope(organization=OTHER),
    "stats of a municipality in own region": StatsScope(region=CHIYODA),
    "stats of another region": StatsScope(region=OSAKA_CITY),
    "a service in own region": ServiceScope(make_service(areas=(CHIYODA,))),
    "a service of another region": ServiceScope(make_service(areas=(OSAKA_CITY,))),
    "nothing": None,
}
CASES = ["case held by own org", "case referred to own org"]
ALLOWED = {
    Role.COUNSELLOR: {
        *{(a, t) for a in (Action.READ_CASE, Action.UPDATE_CASE, Action.REFER, Action.RECORD_EXCEPTION) for t in CASES},
        (Action.ANSWER_REFERRAL, "referral to own org"),
    },
    Role.SUPERVISOR: {
        *{(a, t) for a in (Action.READ_CASE, Action.UPDATE_CASE, Action.REFER, Action.RECORD_EXCEPTION) for t in CASES},
        (Action.ANSWER_REFERRAL, "referral to own org"),
        (Action.READ_STATS, "stats of own org"),
    },
    Role.COORDINATOR: {
        (Action.READ_STATS, "stats of a municipality in own region"),
        *{(Action.CHANGE_DIRECTORY, t) for t in TARGETS if t != "a service of another region"},  # other targets: no region to check
    },
    Role.AUDITOR: {(Action.READ_AUDIT, t) for t in TARGETS},
    Role.ADMIN: {*{(Action.READ_AUDIT, t) for t in TARGETS}, *{(Action.CHANGE_DIRECTORY, t) for t in TARGETS}},
}


def staff(role: Role) -> Staff:
    return Staff(id=f"staff-{role.value}", name=role.value, role=role, organization_id=OWN, regions=(TOKYO,))


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


def test_a_counsellor_without_an_organisation_reaches_no_case() -> None:
    lost = Staff(id="s", name="n", role=Role.COUNSELLOR, organization_id=None, regions=())
    assert not decide(lost, Action.READ_CASE, CaseScope(holder=OWN, referred_to=frozenset({OTHER})))

"""Who may do what with a case, a referral, statistics, the audit log or the directory: the one policy function.

Every access decision of the case and referral API goes through `decide`, so that the whole
policy can be read here and tested as one matrix (role × action × own/other organisation or
region). The rule is need-to-know (docs/design.md, "Who sees what"):

- a counsellor works the cases held by their organisation and those referred to it (until the
  referral is declined or expires), and answers referrals made to their organisation;
- a supervisor (an organisation's lead) does the same, and sees their organisation's statistics;
- a coordinator sees statistics for their regions, never a case;
- an auditor reads the audit log and the life-safety exception report, never a case's content;
- an admin manages staff and the directory, never a case's content;
- the directory is changed by coordinators, each within their regions, and by admins.

Nobody reaches a case outside their chain: the API answers 404 for it, exactly as for an id
that does not exist, so guessing ids tells nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from referral_directory.records import ServiceRecord
from referral_directory.regions import Regions
from referral_directory.staff.accounts import Role, Staff, area_within, may_change_service


class Action(StrEnum):
    READ_CASE = "case.read"
    UPDATE_CASE = "case.update"  # intake: topics, age band, risk, note
    REFER = "case.refer"  # propose a referral, or transfer the live call
    RECORD_EXCEPTION = "case.exception"  # a life-safety exception to share without consent
    ANSWER_REFERRAL = "referral.answer"  # accept, decline, contacted, close
    READ_STATS = "stats.read"
    READ_AUDIT = "audit.read"
    CHANGE_DIRECTORY = "directory.change"  # organisations, services, lines, hours


CASE_ACTIONS = frozenset({Action.READ_CASE, Action.UPDATE_CASE, Action.REFER, Action.RECORD_EXCEPTION})
CASE_WORKERS = frozenset({Role.COUNSELLOR, Role.SUPERVISOR})


@dataclass(frozen=True)
class CaseScope:
    """What the policy needs to know about a case: who holds it and who it was passed on to."""

    holder: str  # organisation id
    referred_to: frozenset[str] = frozenset()  # organisations with a live or finished (not declined, not expired) referral


@dataclass(frozen=True)
class ReferralScope:
    receiver: str  # organisation id the referral was made to


@dataclass(frozen=True)
class StatsScope:
    """Statistics asked for: one organisation's, or a region's (NATION, a prefecture or a municipality lgcode)."""

    organization: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class ServiceScope:
    """A directory service to be changed: who may depends on the areas it serves."""

    service: ServiceRecord


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def decide(
    staff: Staff,
    action: Action,
    target: CaseScope | ReferralScope | StatsScope | ServiceScope | None = None,
    *,
    regions: Regions | None = None,
) -> Decision:
    """Return whether `staff` may do `action` on `target`, and why (the reason is for logs and audits, not for callers)."""
    if action in CASE_ACTIONS:
        if staff.role not in CASE_WORKERS or not isinstance(target, CaseScope):
            return Decision(False, f"a {staff.role.value} does not work cases")
        if staff.organization_id == target.holder or staff.organization_id in target.referred_to:
            return Decision(True, "the case is held by, or referred to, their organisation")
        return Decision(False, "the case is outside their organisation's chain")
    if action is Action.ANSWER_REFERRAL:
        if staff.role in CASE_WORKERS and isinstance(target, ReferralScope) and staff.organization_id == target.receiver:
            return Decision(True, "the referral was made to their organisation")
        return Decision(False, "only the receiving organisation answers a referral")
    if action is Action.READ_STATS:
        return _stats(staff, target, regions)
    if action is Action.CHANGE_DIRECTORY:
        return _directory(staff, target, regions)
    if action is Action.READ_AUDIT:
        if staff.role in (Role.AUDITOR, Role.ADMIN):
            return Decision(True, "auditors and admins read the audit log")
        return Decision(False, "only auditors and admins read the audit log")
    return Decision(False, f"unknown action {action}")


def _directory(staff: Staff, target: object, regions: Regions | None) -> Decision:
    if staff.role not in (Role.COORDINATOR, Role.ADMIN):
        return Decision(False, f"only coordinators and admins change the directory; your role is {staff.role.value}")
    if not isinstance(target, ServiceScope):
        return Decision(True, "coordinators and admins change the directory")
    if regions is None:
        raise ValueError("a service's areas need the regions to compare")
    if may_change_service(staff, target.service, regions):
        return Decision(True, "the service serves areas within the staff member's regions")
    return Decision(False, "the service serves areas outside the staff member's regions")


def _stats(staff: Staff, target: object, regions: Regions | None) -> Decision:
    if not isinstance(target, StatsScope):
        return Decision(False, "statistics need a scope")
    if target.organization is not None:
        if staff.role is Role.SUPERVISOR and staff.organization_id == target.organization:
            return Decision(True, "a supervisor sees their organisation's statistics")
        return Decision(False, "an organisation's statistics are for its supervisors")
    if target.region is not None and staff.role is Role.COORDINATOR:
        if regions is None:
            raise ValueError("a regional scope needs the regions to compare areas")
        if any(area_within(target.region, scope, regions) for scope in staff.regions):
            return Decision(True, "the region is within the coordinator's regions")
        return Decision(False, "the region is outside the coordinator's regions")
    return Decision(False, "regional statistics are for coordinators of that region")

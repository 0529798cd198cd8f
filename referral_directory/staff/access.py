"""Who may do what with a case, a referral, statistics, the audit log or the directory: the one policy function.

Every access decision of the case and referral API goes through `decide`, so that the whole
policy can be read here and tested as one matrix (role × action × own/other organisation or
region). The rule is need-to-know (docs/design.md, "Who sees what"):

- a counsellor works the cases held by their organisation, and answers referrals made to it;
- a case referred to their organisation they may read from the moment it is proposed (to decide
  whether to accept it) until the referral is declined or expires; once their organisation has
  accepted it, and until it closes the referral, they work it too: they add their own notes and
  may pass it on. The shared record stays the holder's: only the organisation holding the case
  changes its intake (topics, age band, risk) and records the person's consent and contact
  number, which a receiver may not even be able to read;
- a supervisor (an organisation's lead) does the same, and sees their organisation's statistics;
- a coordinator sees statistics for their regions, never a case;
- an auditor reads the audit log and the life-safety exception report, never a case's content;
- an admin manages staff and the directory, never a case's content;
- the directory is changed by coordinators, each within their regions, and by admins;
- the coverage-gap map (which municipalities have no local window open) is for admins, for any
  prefecture or the whole country, and for coordinators, for a prefecture within their regions
  or holding one of them (a municipality's coordinator sees its gaps against the prefecture's).

Nobody reaches a case outside their chain: the API answers 404 for it, exactly as for an id
that does not exist, so guessing ids tells nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from referral_directory.records import NATION, ServiceRecord
from referral_directory.regions import Regions
from referral_directory.staff.accounts import Role, Staff, area_within, may_change_service


class Action(StrEnum):
    READ_CASE = "case.read"
    RECORD_INTAKE = "case.intake"  # topics, age band, risk level: the holder's assessment
    RECORD_CONSENT = "case.consent"  # the person's consent, with the contact number they gave
    ADD_NOTE = "case.note"  # a note of the staff member's own organisation
    REFER = "case.refer"  # propose a referral (with a life-safety exception, if need be), or transfer the live call
    ANSWER_REFERRAL = "referral.answer"  # accept, decline, contacted, close
    READ_STATS = "stats.read"
    READ_AUDIT = "audit.read"
    CHANGE_DIRECTORY = "directory.change"  # organisations, services, lines, hours
    ANSWER_CHAT = "chat.answer"  # take the next chat, write in it, close it, hand it on
    READ_CHAT = "chat.read"  # read a chat's transcript
    TAKE_OVER_CHAT = "chat.take_over"  # a supervisor takes a colleague's chat
    KEEP_CHAT_TEXTS = "chat.texts"  # templates (定型文) and the words that raise a chat's band
    READ_COVERAGE = "coverage.read"  # the coverage-gap map of a prefecture or of the whole country


RECEIVER_WORK = frozenset({Action.READ_CASE, Action.ADD_NOTE, Action.REFER})  # what a receiver that accepted the case does too
HOLDER_ONLY = {  # what only the holder does, and why, in words a receiver can act on
    Action.RECORD_INTAKE: "the intake is the record of the organisation holding the case: write what your organisation found in a note",
    Action.RECORD_CONSENT: "the person's consent and contact number are recorded by the organisation holding the case",
}
CASE_ACTIONS = RECEIVER_WORK | frozenset(HOLDER_ONLY)
CASE_WORKERS = frozenset({Role.COUNSELLOR, Role.SUPERVISOR})
CHAT_ACTIONS = frozenset({Action.ANSWER_CHAT, Action.READ_CHAT, Action.TAKE_OVER_CHAT, Action.KEEP_CHAT_TEXTS})


@dataclass(frozen=True)
class CaseScope:
    """What the policy needs to know about a case: who holds it and where each referral of it stands.

    An organisation may appear in several sets (a referral closed, and a later one proposed).
    Declined and expired referrals give nothing, so they are in none of them.
    """

    holder: str  # organisation id
    proposed_to: frozenset[str] = frozenset()  # a referral waits for their answer: they may read, to decide
    working: frozenset[str] = frozenset()  # they accepted a referral (accepted or contacted): they work the case
    finished: frozenset[str] = frozenset()  # they closed their referral: they may still read it
    # A referral they made was declined or let expire, and none they made is still open: the hop came back
    # to them, so they may pass the case on again (a window that closed its own referral as "referred on"
    # stays responsible for the hop it made; otherwise nobody would act on the declined one).
    returned_to: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChatScope:
    """A chat: the organisation whose window it waits at or is answered by, and the staff member with it (if any)."""

    organization: str | None
    holder: str | None = None


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
class CoverageScope:
    """The coverage-gap map asked for: of a prefecture (its lgcode) or of the whole country (NATION)."""

    region: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    pending: bool = False  # refused only until the organisation accepts the referral made to it

    def __bool__(self) -> bool:
        return self.allowed


def decide(
    staff: Staff,
    action: Action,
    target: CaseScope | ReferralScope | StatsScope | ServiceScope | ChatScope | CoverageScope | None = None,
    *,
    regions: Regions | None = None,
) -> Decision:
    """Return whether `staff` may do `action` on `target`, and why.

    The reason is for logs and audits; a caller reads it only about a case they may read anyway.
    """
    if action in CASE_ACTIONS:
        if staff.role not in CASE_WORKERS or not isinstance(target, CaseScope):
            return Decision(False, f"a {staff.role.value} does not work cases")
        return _case(staff.organization_id, action, target)
    if action is Action.ANSWER_REFERRAL:
        if staff.role in CASE_WORKERS and isinstance(target, ReferralScope) and staff.organization_id == target.receiver:
            return Decision(True, "the referral was made to their organisation")
        return Decision(False, "only the receiving organisation answers a referral")
    if action in CHAT_ACTIONS:
        return _chat(staff, action, target)
    if action is Action.READ_STATS:
        return _stats(staff, target, regions)
    if action is Action.CHANGE_DIRECTORY:
        return _directory(staff, target, regions)
    if action is Action.READ_COVERAGE:
        return _coverage(staff, target, regions)
    if action is Action.READ_AUDIT:
        if staff.role in (Role.AUDITOR, Role.ADMIN):
            return Decision(True, "auditors and admins read the audit log")
        return Decision(False, "only auditors and admins read the audit log")
    return Decision(False, f"unknown action {action}")


def _case(org: str | None, action: Action, case: CaseScope) -> Decision:
    if org is not None and org == case.holder:
        return Decision(True, "their organisation holds the case")
    if org is None or org not in case.proposed_to | case.working | case.finished:
        return Decision(False, "the case is outside their organisation's chain")
    if action is Action.READ_CASE:
        return Decision(True, "the case was referred to their organisation")
    if action in HOLDER_ONLY:
        return Decision(False, HOLDER_ONLY[action])
    if org in case.working:
        return Decision(True, "their organisation accepted the referral and works the case")
    if action is Action.REFER and org in case.returned_to:
        return Decision(True, "the referral their organisation made came back: they pass the case on again")
    if org in case.proposed_to:
        return Decision(False, "accept the referral first: a window works the case once it has accepted it", pending=True)
    return Decision(False, "their organisation's referral is closed: the case is there to read, no longer to work")


def _chat(staff: Staff, action: Action, target: object) -> Decision:
    if staff.role not in CASE_WORKERS or not staff.organization_id:
        return Decision(False, f"a {staff.role.value} does not answer chats")
    if action is Action.KEEP_CHAT_TEXTS:
        if staff.role is Role.SUPERVISOR:
            return Decision(True, "supervisors keep the templates and the words that raise a chat's band")
        return Decision(False, "only supervisors change the templates and the word lists")
    if not isinstance(target, ChatScope) or target.organization != staff.organization_id:
        return Decision(False, "the chat is not at their organisation")
    if action is Action.TAKE_OVER_CHAT:
        if staff.role is Role.SUPERVISOR:
            return Decision(True, "a supervisor may take over a chat at their organisation")
        return Decision(False, "only a supervisor takes over a colleague's chat")
    if target.holder == staff.id:
        return Decision(True, "the chat is with them")
    if action is Action.READ_CHAT and staff.role is Role.SUPERVISOR:
        return Decision(True, "a supervisor may read along with the chats at their organisation")
    return Decision(False, "the chat is with a colleague" if target.holder else "take the chat first (次の相談へ)")


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


def _coverage(staff: Staff, target: object, regions: Regions | None) -> Decision:
    if staff.role not in (Role.COORDINATOR, Role.ADMIN):
        return Decision(False, f"the coverage map is for coordinators and admins; your role is {staff.role.value}")
    if not isinstance(target, CoverageScope):
        return Decision(False, "the coverage map needs a prefecture or the whole country")
    if staff.role is Role.ADMIN:
        return Decision(True, "admins see the coverage of every region")
    if regions is None:
        raise ValueError("a regional scope needs the regions to compare areas")
    if any(area_within(target.region, scope, regions) for scope in staff.regions):
        return Decision(True, "the region is within the coordinator's regions")
    if target.region != NATION and any(area_within(scope, target.region, regions) for scope in staff.regions if scope != NATION):
        return Decision(True, "the prefecture holds the coordinator's region")
    return Decision(False, "the region is outside the coordinator's regions")

"""The minutes (procès-verbal) of a committee meeting, students pseudonymised: gathered once (``gather``), then
written as a printable HTML page (``render``) or as a PDF ready to sign (``fund.meetings.minutes_pdf``)."""

from __future__ import annotations

import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from fund.applications import workflow
from fund.auth.models import User
from fund.core.money import format_euros_fr
from fund.core.uow import UnitOfWork
from fund.funds.calendar import PARIS, local_day
from fund.funds.models import Fund
from fund.funds.policy import category_label
from fund.meetings import service
from fund.schools.models import School
from fund.students.models import Student, age_on

_env = Environment(loader=PackageLoader("fund.meetings", "templates"), autoescape=select_autoescape(["html"]))

VOTE_FR = {"approve": "pour", "reject": "contre", "abstain": "abstention"}
STATUS_FR = {
    "approved": "accordée",
    "rejected": "refusée",
    "paid": "accordée (payée)",
    "cancelled": "annulée",
    "withdrawn": "retirée",
    "info_requested": "complément d'information demandé",
    "submitted": "ajournée (aucun vote)",
    "under_review": "ajournée (pas de majorité)",
}
RATIFICATION_FR = {"ratified": "ratifiée", "disavowed": "désavouée", None: "non examinée"}


def _date_fr(day: datetime.date) -> str:
    return day.strftime("%d/%m/%Y")


def _decision(status: str, amount: int | None) -> str:
    label = STATUS_FR.get(status, status)
    return f"{label} — {format_euros_fr(amount)}" if status in workflow.GRANTED and amount else label


def _time_fr(moment: datetime.datetime) -> str:
    return moment.astimezone(PARIS).strftime("%H h %M")


async def render(uow: UnitOfWork, user: User, meeting_id: Any) -> tuple[str, str]:
    """(file name, HTML) of the minutes. Before closing they are marked as a draft."""
    context = await gather(uow, user, meeting_id)
    html = _env.get_template("minutes.html").render(**context)
    return f"pv-comite-{context['meeting'].held_on.isoformat()}.html", html


async def gather(uow: UnitOfWork, user: User, meeting_id: Any) -> dict[str, Any]:
    """What the minutes say, as French texts: the meeting, who attended, each item with its votes and decision.

    The student of each request is shown as the committee sees it: age on the day, trade and school, no name."""
    view = await service.view(uow, user, meeting_id)
    meeting = view.meeting
    fund = await uow.session.get(Fund, meeting.fund_id)
    chair = await uow.session.get(User, meeting.opened_by_id)
    assert fund is not None
    assert chair is not None
    applications = [application for _, application in view.items]
    students = {s.id: s for s in await _load(uow, Student, {a.student_id for a in applications})}
    schools = {s.id: s for s in await _load(uow, School, {a.school_id for a in applications})}
    votes = await service.votes_by_application(uow, {a.id for a in applications})
    decisions: list[dict[str, Any]] = []
    ratifications: list[dict[str, Any]] = []
    for item, application in view.items:
        status = item.final_status or application.status
        amount = item.final_amount_cents if item.final_status else application.amount_granted_cents
        student = students[application.student_id]
        school = schools[application.school_id]
        entry = {
            "position": item.position,
            "reference": application.reference,
            "category": category_label(application.category).lower(),
            "amount_requested": format_euros_fr(application.amount_requested_cents),
            "amount_granted": format_euros_fr(amount) if amount else "—",
            "urgent": application.urgent,
            "student": f"{age_on(student.birth_date, meeting.held_on)} ans, {student.trade or 'métier non précisé'}, "
            f"{school.name}",
            "votes": [
                {
                    "member": name,
                    "choice": VOTE_FR.get(vote.choice, vote.choice),
                    "amount": format_euros_fr(vote.amount_cents) if vote.amount_cents else "",
                }
                for vote, name in votes.get(application.id, [])
            ],
            "decision": _decision(status, amount),
            "ratification": RATIFICATION_FR.get(application.ratification, application.ratification),
        }
        (decisions if item.kind == "decision" else ratifications).append(entry)
    by_status: dict[str | None, list[str]] = {}
    for member in view.roll:
        by_status.setdefault(member.status, []).append(member.member.full_name)
    return {
        "meeting": meeting,
        "fund_name": fund.name,
        "held_on": _date_fr(meeting.held_on),
        "place": meeting.place,
        "opened_at": f"{_date_fr(local_day(meeting.created_at))} à {_time_fr(meeting.created_at)}",
        "closed_at": _date_fr(local_day(meeting.closed_at)) if meeting.closed_at else None,
        "closed_time": f"{_date_fr(local_day(meeting.closed_at))} à {_time_fr(meeting.closed_at)}"
        if meeting.closed_at
        else None,
        "chair_name": chair.full_name,
        "attendees": [a.full_name for a in view.attendees],
        "absent": by_status.get("absent", []),
        "excused": by_status.get("excused", []),
        "unknown": by_status.get(None, []),
        "decisions": decisions,
        "ratifications": ratifications,
        "draft": meeting.status != "closed",
    }


async def _load(uow: UnitOfWork, model: Any, ids: set[Any]) -> list[Any]:
    if not ids:
        return []
    return list(await uow.session.scalars(select(model).where(model.id.in_(ids))))

"""The committee's pages: fast-tracked decisions to ratify (the chair), committee meetings — « Séances »: every
member sees the fund's meetings, joins the open one and votes item by item; the chair opens it, keeps the attendance,
closes it; everyone downloads the minutes as a PDF.

They call the same services as ``POST /api/v1/applications/{id}/ratification``, ``GET /api/v1/ratifications`` and
``/api/v1/meetings``; students stay pseudonymised (no name, no payee), as in the committee's view.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError

from fund.applications import decisions, workflow
from fund.applications.access import Member, may_vote
from fund.applications.schemas import RatificationIn, VoteIn
from fund.applications.views import payment_standings
from fund.auth.models import User
from fund.core.errors import Conflict, DomainError, Forbidden, NotFound
from fund.core.pagination import PageRequest
from fund.core.uow import UnitOfWork
from fund.meetings import attendance, minutes_pdf, service
from fund.meetings.schemas import AttendanceIn, MeetingOpen
from fund.privacy.service import record_access
from fund.web.formatting import date_fr
from fund.web.pages import (
    Confirmation,
    PageController,
    actor_of,
    flash,
    page,
    parse_date,
    parse_euros,
    signed_in,
    unconfirmed,
    uow_of,
    validation_errors,
)

PAGE_SIZE = 50


def status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 422


def page_request(cursor: str | None) -> PageRequest:
    """A keyset page; a damaged cursor falls back to the first page."""
    request = PageRequest(limit=PAGE_SIZE, cursor=cursor or None)
    try:
        request.after_id()
    except DomainError:
        return PageRequest(limit=PAGE_SIZE)
    return request


def minutes_file_name(held_on: datetime.date, closed: bool) -> tuple[str, str]:
    """(ASCII name, UTF-8 name) of the minutes' PDF; a draft says so."""
    prefix = "" if closed else "projet-"
    return (
        f"{prefix}proces-verbal-comite-{held_on.isoformat()}.pdf",
        f"{prefix}procès-verbal-comité-{held_on.isoformat()}.pdf",
    )


MEMBERS = ("committee", "chair")  # who uses the meetings' pages; the chair alone opens, keeps attendance, closes
NO_VOTE_CHOSEN = "Choisissez votre vote : Pour, Contre ou Abstention."
NO_ATTENDANCE_CHOSEN = "Choisissez la présence : présent(e), absent(e) ou excusé(e)."


# --- ratifications -----------------------------------------------------------------------------------------------


class RatificationForm(BaseModel):
    outcome: str = ""
    comment: str = ""
    seance: str = ""  # set when the form is on a meeting's page: back there afterwards


class RatificationPages(PageController):
    """Fast-tracked decisions awaiting the committee's ratification, recorded by the chair."""

    path = "/presidence/ratifications"

    @get()
    async def ratifications_page(
        self, request: Request[Any, Any, Any], state: State, apres: FromQuery[str | None] = None
    ) -> Template:
        user = await signed_in(request, state, "chair")
        return await self._page(request, state, user, page_request(apres))

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        paging: PageRequest,
        *,
        errors: dict[str, str] | None = None,
        failed_id: UUID | None = None,
        form: RatificationForm | None = None,
        status_code: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            rows, cursor = await decisions.awaiting_ratification(UnitOfWork(session, None), user, paging)
        return page(
            request,
            "meetings/ratifications.html",
            user,
            errors=errors,
            status_code=status_code,
            rows=rows,
            next_cursor=cursor,
            first_page=paging.cursor is None,
            failed_id=failed_id,
            form=form or RatificationForm(),
        )

    @post("/{application_id:uuid}", status_code=303)
    async def record_ratification(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[RatificationForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "chair")
        meeting_id = _uuid(data.seance)
        errors: dict[str, str] = {}
        status_code: int | None = None
        try:
            verdict = RatificationIn(outcome=data.outcome, comment=data.comment.strip() or None)
        except ValidationError as exc:
            errors = validation_errors(exc, {"comment": "comment", "outcome": "_"}, "_")
            if "_" in errors:
                errors["_"] = "Choisissez « Ratifier » ou « Désavouer »."
        else:
            async with state.session_factory() as session:
                try:
                    application = await decisions.ratify(
                        uow_of(state, session), user, application_id, verdict, actor_of(request, user)
                    )
                except DomainError as exc:
                    errors, status_code = {"_": exc.detail}, status_of(exc)
        if errors:
            if meeting_id is not None:
                return await meeting_page(
                    request, state, user, meeting_id, errors=errors, failed_id=application_id, status_code=status_code
                )
            return await self._page(
                request,
                state,
                user,
                PageRequest(limit=PAGE_SIZE),
                errors=errors,
                failed_id=application_id,
                form=data,
                status_code=status_code,
            )
        done = "ratifiée" if verdict.outcome == "ratified" else "désavouée"
        flash(request, f"Décision {application.reference} {done}.")
        return Redirect(f"/seances/{meeting_id}" if meeting_id else "/presidence/ratifications", status_code=303)


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text) if text else None
    except ValueError:
        return None


# --- committee meetings ------------------------------------------------------------------------------------------


class NewSessionForm(BaseModel):
    held_on: str = ""
    place: str = ""


class AttendanceForm(BaseModel):
    status: str = ""


class VoteForm(BaseModel):
    vote: str = ""
    amount: str = ""


async def meeting_page(
    request: Request[Any, Any, Any],
    state: State,
    user: User,
    meeting_id: UUID,
    *,
    errors: dict[str, str] | None = None,
    failed_id: UUID | None = None,
    vote_form: VoteForm | None = None,
    status_code: int | None = None,
) -> Template:
    """One meeting: agenda with where each item stands, attendance, the chair's actions while it is open."""
    async with state.session_factory() as session:
        uow = UnitOfWork(session, None)
        try:
            view = await service.view(uow, user, meeting_id)
        except NotFound:
            return page(request, "meetings/introuvable.html", user, status_code=404)
        on_agenda = {a.id for _, a in view.items}
        votes = await service.votes_by_application(uow, on_agenda)
        recused = await service.recused_from(uow, user, on_agenda)
        chair = await session.get(User, view.meeting.opened_by_id)
        money = await payment_standings(session, [a for _, a in view.items])
    s = view.meeting
    mine = next((a for a in view.roll if a.member.id == user.id), None)
    member = Member.of(user)
    to_decide: list[dict[str, Any]] = []
    to_ratify: list[dict[str, Any]] = []
    for item, application in view.items:
        cast = votes.get(application.id, [])
        status = item.final_status or application.status
        my_vote = next((v for v, _ in cast if v.member_id == user.id), None)
        row = {
            "my_vote": my_vote,
            "item": item,
            "a": application,
            "status": status,
            # As the meeting left it once closed; while open, where the request stands now (its money included)
            "shown": workflow.label(item.final_status)
            if item.final_status
            else workflow.shown_status(application.status, money.get(application.id)),
            "granted": item.final_amount_cents if item.final_status else application.amount_granted_cents,
            "tally": {
                choice: sum(1 for v, _ in cast if v.choice == choice) for choice in ("approve", "reject", "abstain")
            },
            "can_vote": s.status == "open"
            and may_vote(
                member,
                application,
                recused=application.id in recused,
                voted=my_vote is not None,
            ),
            "can_ratify": s.status == "open"
            and user.has_role("chair")
            and application.fast_tracked
            and application.ratification is None
            and application.status in workflow.GRANTED,
        }
        (to_decide if item.kind == "decision" else to_ratify).append(row)
    return page(
        request,
        "meetings/seance.html",
        user,
        errors=errors,
        status_code=status_code,
        s=s,
        is_chair=user.has_role("chair"),
        chair_name=chair.full_name if chair else "",
        roll=view.roll,
        my_status=mine.status if mine else None,
        my_label=mine.label if mine else "",
        attendance_choices=list(attendance.LABELS.items()),
        attendees=view.attendees,
        to_decide=to_decide,
        to_ratify=to_ratify,
        failed_id=failed_id,
        vote_form=vote_form or VoteForm(),
    )


class MeetingPages(PageController):
    """The committee meetings: list, « Nouvelle séance » (chair), one meeting, joining it, attendance (chair), votes
    item by item, closing (chair), the minutes as a PDF."""

    path = "/seances"

    async def _list(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        paging: PageRequest,
        *,
        form: NewSessionForm | None = None,
        errors: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            rows, cursor = await service.list_for(uow, user, paging)
            counts = await service.agenda_counts(uow, {s.id for s in rows})
            open_meeting = await service.current(uow, user)
        return page(
            request,
            "meetings/seances.html",
            user,
            errors=errors,
            status_code=status_code,
            rows=[(s, counts.get(s.id, {})) for s in rows],
            next_cursor=cursor,
            first_page=paging.cursor is None,
            open_meeting=open_meeting,
            is_chair=user.has_role("chair"),
            form=form or NewSessionForm(held_on=datetime.date.today().isoformat()),
        )

    @get()
    async def meetings_page(
        self, request: Request[Any, Any, Any], state: State, apres: FromQuery[str | None] = None
    ) -> Template:
        user = await signed_in(request, state, *MEMBERS)
        return await self._list(request, state, user, page_request(apres))

    @post(status_code=303)
    async def open_meeting(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[NewSessionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "chair")
        first = PageRequest(limit=PAGE_SIZE)
        try:
            held_on = parse_date(data.held_on)
        except ValueError as exc:  # parse_date's message is French
            return await self._list(request, state, user, first, form=data, errors={"held_on": str(exc)})
        try:
            opened = MeetingOpen(held_on=held_on, place=data.place.strip() or None)
        except ValidationError as exc:
            errors = validation_errors(exc, {"place": "place"}, "place")
            return await self._list(request, state, user, first, form=data, errors=errors)
        async with state.session_factory() as session:
            try:
                created = await service.open_meeting(uow_of(state, session), user, opened, actor_of(request, user))
            except DomainError as exc:
                return await self._list(
                    request, state, user, first, form=data, errors={"_": exc.detail}, status_code=status_of(exc)
                )
            counts = (await service.agenda_counts(UnitOfWork(session, None), {created.id})).get(created.id, {})
        flash(
            request,
            f"Séance du {date_fr(created.held_on)} ouverte : {counts.get('decision', 0)} demande(s) à décider, "
            f"{counts.get('ratification', 0)} décision(s) à ratifier.",
        )
        return Redirect(f"/seances/{created.id}", status_code=303)

    @get("/{meeting_id:uuid}")
    async def meeting_detail(
        self, meeting_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template:
        user = await signed_in(request, state, *MEMBERS)
        return await meeting_page(request, state, user, meeting_id)

    @post("/{meeting_id:uuid}/presence", status_code=303)
    async def join_meeting(
        self, meeting_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        """« Rejoindre la séance »: the member records themself present."""
        user = await signed_in(request, state, *MEMBERS)
        async with state.session_factory() as session:
            try:
                await service.attend(uow_of(state, session), user, meeting_id, actor_of(request, user))
            except NotFound:
                return page(request, "meetings/introuvable.html", user, status_code=404)
            except DomainError as exc:
                return await meeting_page(
                    request, state, user, meeting_id, errors={"_": exc.detail}, status_code=status_of(exc)
                )
        flash(request, "Vous avez rejoint la séance : vous êtes enregistré(e) présent(e).")
        return Redirect(f"/seances/{meeting_id}", status_code=303)

    @post("/{meeting_id:uuid}/presences/{member_id:uuid}", status_code=303)
    async def set_attendance(
        self,
        meeting_id: FromPath[UUID],
        member_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[AttendanceForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        """The chair marks a member present, absent or excused."""
        user = await signed_in(request, state, "chair")
        if data.status not in attendance.LABELS:
            return await meeting_page(request, state, user, meeting_id, errors={"_": NO_ATTENDANCE_CHOSEN})
        async with state.session_factory() as session:
            uow = uow_of(state, session)
            try:
                chosen = AttendanceIn.model_validate({"status": data.status})
                await service.set_attendance(uow, user, meeting_id, member_id, chosen, actor_of(request, user))
            except DomainError as exc:
                return await meeting_page(
                    request, state, user, meeting_id, errors={"_": exc.detail}, status_code=status_of(exc)
                )
            member = await session.get(User, member_id)
        name = member.full_name if member else ""
        flash(request, f"Présence de {name} enregistrée : {attendance.LABELS[data.status].lower()}.")
        return Redirect(f"/seances/{meeting_id}#membre-{member_id}", status_code=303)

    @post("/{meeting_id:uuid}/points/{application_id:uuid}/vote", status_code=303)
    async def vote_in_meeting(
        self,
        meeting_id: FromPath[UUID],
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[VoteForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, *MEMBERS)
        errors: dict[str, str] = {}
        amount: int | None = None
        if not data.vote:
            errors["vote"] = NO_VOTE_CHOSEN
        elif data.vote == "approve":
            try:
                amount = parse_euros(data.amount)
            except ValueError as exc:
                errors["amount"] = str(exc)
        if not errors:
            try:
                vote_in = VoteIn(vote=data.vote, amount_cents=amount)
            except ValidationError as exc:
                errors = validation_errors(exc, {"vote": "vote", "amount_cents": "amount"}, "vote")
                if "vote" in errors and data.vote not in ("approve", "reject", "abstain"):
                    errors["vote"] = NO_VOTE_CHOSEN
        if errors:
            return await meeting_page(
                request, state, user, meeting_id, errors=errors, failed_id=application_id, vote_form=data
            )
        async with state.session_factory() as session:
            try:
                application = await service.vote(
                    uow_of(state, session), user, meeting_id, application_id, vote_in, actor_of(request, user)
                )
            except DomainError as exc:
                if exc.errors and exc.errors[0].field == "amount_cents":
                    errors, status_code = {"amount": exc.errors[0].message}, 422
                else:
                    errors, status_code = {"_": exc.detail}, status_of(exc)
                return await meeting_page(
                    request,
                    state,
                    user,
                    meeting_id,
                    errors=errors,
                    failed_id=application_id,
                    vote_form=data,
                    status_code=status_code,
                )
        outcome = {"approved": " La demande est accordée.", "rejected": " La demande est refusée."}
        flash(request, f"Vote enregistré sur la demande {application.reference}.{outcome.get(application.status, '')}")
        return Redirect(f"/seances/{meeting_id}", status_code=303)

    @post("/{meeting_id:uuid}/cloture", status_code=303)
    async def close_meeting(
        self,
        meeting_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[Confirmation, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "chair")
        if errors := unconfirmed(data, "cloture"):
            return await meeting_page(request, state, user, meeting_id, errors=errors, status_code=422)
        async with state.session_factory() as session:
            try:
                closed = await service.close(uow_of(state, session), user, meeting_id, actor_of(request, user))
            except DomainError as exc:
                return await meeting_page(
                    request, state, user, meeting_id, errors={"_": exc.detail}, status_code=status_of(exc)
                )
        flash(request, f"Séance du {date_fr(closed.held_on)} close : ses résultats sont figés au procès-verbal.")
        return Redirect(f"/seances/{meeting_id}", status_code=303)

    @get("/{meeting_id:uuid}/proces-verbal", media_type="application/pdf")
    async def meeting_minutes(
        self, meeting_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Response[bytes] | Template:
        """The minutes as a PDF ready to sign (a draft while the meeting is open); the download is recorded."""
        user = await signed_in(request, state, *MEMBERS)
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                meeting, pdf = await minutes_pdf.render(uow, user, meeting_id)
            except NotFound:
                return page(request, "meetings/introuvable.html", user, status_code=404)
            await record_access(session, user.id, "minutes", meeting.id, actor_of(request, user).ip)
        ascii_name, utf8_name = minutes_file_name(meeting.held_on, meeting.status == "closed")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf8_name)}"
            },
        )


PAGES: list[type[Controller]] = [RatificationPages, MeetingPages]

"""The pages of aid requests: the referent's list and form, the committee's queue, one request's page."""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from fund.applications import decisions
from fund.applications import service as applications
from fund.applications.models import Application
from fund.applications.schemas import ApplicationCreate, VoteIn, check_period
from fund.applications.service import ListFilters, list_for
from fund.auth.models import User
from fund.errors import DomainError, NotFound
from fund.funds.policy import Policy
from fund.funds.service import policy_of
from fund.pagination import PageRequest
from fund.students import service as students_service
from fund.students.models import Student, age_on
from fund.uow import UnitOfWork
from fund.web.pages import PageController, actor_of, page, parse_euros, signed_in

REFERENT_GROUPS = [
    ("À compléter", ("info_requested", "draft")),
    ("En attente du comité", ("submitted", "under_review")),
    ("Décidées", ("approved", "paid", "rejected")),
    ("Closes", ("withdrawn", "cancelled")),
]


class HomePages(PageController):
    path = "/"

    @get("/referent")
    async def referent_home(self, request: Request[Any, Any, Any], state: State) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        async with state.session_factory() as session:
            rows, _ = await list_for(UnitOfWork(session, None), user, ListFilters(), PageRequest(limit=200))
        groups = [(title, [a for a in rows if a.status in statuses]) for title, statuses in REFERENT_GROUPS]
        return page(request, "applications/referent.html", user, groups=groups)

    @get("/comite")
    async def committee_queue(self, request: Request[Any, Any, Any], state: State) -> Template | Redirect:
        user = await signed_in(request, state, "committee", "chair")
        async with state.session_factory() as session:
            policy: Policy = await policy_of(session, user.fund_id)
            waiting = list(
                await session.scalars(
                    select(Application)
                    .where(Application.fund_id == user.fund_id, Application.status.in_(("submitted", "under_review")))
                    .order_by(Application.urgent.desc(), Application.submitted_at, Application.id)
                    .limit(200)
                )
            )
        rows = [
            (
                a,
                (a.submitted_at or a.created_at)
                + datetime.timedelta(
                    hours=policy.target_decision_hours_urgent if a.urgent else policy.target_decision_hours
                ),
            )
            for a in waiting
        ]
        return page(request, "applications/comite.html", user, rows=rows)


ACTIONS_FR = {
    "application.created": "demande créée",
    "application.updated": "demande modifiée",
    "application.submit": "demande déposée",
    "application.withdraw": "demande retirée",
    "application.start_review": "examen commencé",
    "application.request_info": "complément demandé",
    "application.vote": "vote enregistré",
    "application.recusal": "un membre s'est récusé",
    "application.approve": "demande accordée",
    "application.reject": "demande refusée",
    "application.cancel": "décision annulée",
    "application.appeal": "recours déposé",
    "application.ratified": "décision ratifiée",
    "application.disavowed": "décision désavouée",
    "application.mark_paid": "aide payée",
    "application.payee_changed": "bénéficiaire modifié",
    "application.deadline_reminder": "rappel au comité",
    "application.escalation": "alerte à la présidence",
}


class VoteForm(BaseModel):
    vote: str = "approve"
    amount: str = ""
    comment: str = ""


class CaseController(PageController):
    """One request's page: its facts for this reader, votes, history; the committee votes from it."""

    path = "/demandes"

    async def _page(
        self, state: State, user: User, application_id: UUID, *, errors: dict[str, str] | None = None, **extra: Any
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                application = await applications.get(uow, user, application_id)
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            student = await session.get(Student, application.student_id)
            votes = await applications.votes_of(uow, application)
            history = await applications.history_of(uow, user, application_id)
        assert student is not None
        age = age_on(student.birth_date, datetime.date.today())
        can_vote = (
            user.has_role("committee", "chair")
            and application.status in ("submitted", "under_review")
            and application.created_by_id != user.id
            and application.school_id not in {s.id for s in user.schools}
            and not any(v.member_id == user.id and v.round == application.review_round for v in votes)
        )
        return Template(
            "applications/demande.html",
            context={
                "user": user,
                "a": application,
                "student": student,
                "age": age,
                "owner": applications.is_owner(user, application),
                "votes": [v for v in votes if v.round == application.review_round],
                "history": history,
                "can_vote": can_vote,
                "errors": errors or {},
                "action_fr": lambda action: ACTIONS_FR.get(action, action),
                **extra,
            },
            status_code=422 if errors else 200,
        )

    @get("/{application_id:uuid}")
    async def case_page(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template:
        return await self._page(state, await signed_in(request, state), application_id)

    @post("/{application_id:uuid}/vote", status_code=303)
    async def vote(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[VoteForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state)
        try:
            amount = parse_euros(data.amount) if data.vote == "approve" else None
            vote_in = VoteIn(vote=data.vote, amount_cents=amount, comment=data.comment.strip() or None)
        except (ValueError, ValidationError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            return await self._page(state, user, application_id, errors={"amount": message}, form_amount=data.amount)
        async with state.session_factory() as session:
            try:
                uow = UnitOfWork(session, state.redis, state.books)
                await decisions.vote(uow, user, application_id, vote_in, actor_of(request, user))
            except DomainError as exc:
                if exc.errors and exc.errors[0].field == "amount_cents":
                    errors = {"amount": exc.errors[0].message}
                else:
                    errors = {"_": exc.detail}
                return await self._page(state, user, application_id, errors=errors, form_amount=data.amount)
        return Redirect(f"/demandes/{application_id}", status_code=303)


class RequestForm(BaseModel):
    student_id: str = ""
    category: str = "transport"
    amount: str = ""
    period_start: str = ""
    period_end: str = ""
    urgent: str = ""
    justification: str = ""
    payee_kind: str = "guardian"
    payee_name: str = ""
    payee_iban: str = ""


CATEGORIES = [("transport", "Transport"), ("housing", "Logement"), ("food", "Alimentation"), ("other", "Autre")]
PAYEE_KINDS = [
    ("guardian", "Responsable légal"),
    ("student", "L'élève"),
    ("third_party", "Un tiers (bailleur, cantine…)"),
]
# Where a schema error lands in the form.
FORM_FIELDS = {
    "student_id": "student_id",
    "category": "category",
    "amount_requested_cents": "amount",
    "period_start": "period_start",
    "period_end": "period_end",
    "justification": "justification",
    "payee.name": "payee_name",
    "payee.iban": "payee_iban",
    "payee": "payee_name",
}


class NewRequestController(PageController):
    """The referent's « Nouvelle demande »: the same validation as the API, errors next to their field."""

    path = "/demandes/nouvelle"

    async def _form(self, state: State, user: User, form: RequestForm, errors: dict[str, str]) -> Template:
        async with state.session_factory() as session:
            students, _ = await students_service.list_for(UnitOfWork(session, None), user, PageRequest(limit=200))
        return Template(
            "applications/nouvelle_demande.html",
            context={
                "user": user,
                "students": sorted(students, key=lambda s: (s.last_name, s.first_name)),
                "categories": CATEGORIES,
                "payee_kinds": PAYEE_KINDS,
                "form": form,
                "errors": errors,
            },
            status_code=422 if errors else 200,
        )

    @get()
    async def new_request_page(self, request: Request[Any, Any, Any], state: State) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        today = datetime.date.today()
        form = RequestForm(period_start=today.isoformat(), period_end=(today + datetime.timedelta(days=30)).isoformat())
        return await self._form(state, user, form, {})

    @post(status_code=303)
    async def file_request(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[RequestForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        errors: dict[str, str] = {}
        try:
            amount = parse_euros(data.amount)
            if amount is None:
                errors["amount"] = "indiquer le montant demandé"
        except ValueError as exc:
            errors["amount"] = str(exc)
            amount = None
        body = {
            "student_id": data.student_id,
            "category": data.category,
            "amount_requested_cents": amount or 1,
            "justification": data.justification,
            "urgent": bool(data.urgent),
            "period_start": data.period_start,
            "period_end": data.period_end,
            "payee": {"kind": data.payee_kind, "name": data.payee_name, "iban": data.payee_iban},
        }
        try:
            filed = ApplicationCreate.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                key = ".".join(str(p) for p in error["loc"])
                message = str(error["msg"]).removeprefix("Value error, ")
                head, sep, rest = message.partition(": ")
                if sep and " " not in head and head.islower():
                    key, message = (f"payee.{head}" if key == "payee" else head), rest
                errors.setdefault(FORM_FIELDS.get(key, "justification"), message)
        try:  # the period rule is a model rule: pydantic skips it when a field already failed
            check_period(datetime.date.fromisoformat(data.period_start), datetime.date.fromisoformat(data.period_end))
        except ValueError as exc:
            errors.setdefault("period_end", str(exc).removeprefix("period_end: "))
        if errors:
            return await self._form(state, user, data, errors)
        async with state.session_factory() as session:
            uow = UnitOfWork(session, state.redis, state.books)
            try:
                application = await applications.create(uow, user, filed, state.cipher, actor_of(request, user))
            except DomainError as exc:
                field = FORM_FIELDS.get(exc.errors[0].field, "student_id") if exc.errors else "student_id"
                return await self._form(state, user, data, {field: exc.errors[0].message if exc.errors else exc.detail})
        return Redirect(f"/demandes/{application.id}", status_code=303)


PAGES = [HomePages, NewRequestController, CaseController]

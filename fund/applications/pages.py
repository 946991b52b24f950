"""The pages of aid requests: the referent's list and form, the committee's queue, one request's page with the
actions its reader may take. Every action goes through the same service as the API, with the same rules."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError
from schwifty import IBAN
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import load_only

from fund.applications import caps, deadlines, decisions, views, workflow
from fund.applications import service as applications
from fund.applications.access import Member, conflict_of_interest, is_committee, is_owner, readable
from fund.applications.models import Application
from fund.applications.schemas import (
    ApplicationCreate,
    ChairDecisionIn,
    PayeeIn,
    ReasonIn,
    RequestInfoIn,
    VoteIn,
    check_period,
)
from fund.applications.service import ListFilters, list_for
from fund.audit.models import AuditEvent
from fund.auth.models import COMMITTEE_ROLES, User
from fund.core.banking import normalize_iban
from fund.core.errors import DomainError, InvalidInput, NotFound
from fund.core.pagination import PageRequest
from fund.core.uow import UnitOfWork
from fund.disbursements.models import Disbursement
from fund.funds.policy import CATEGORIES, Policy, category_label
from fund.funds.service import get_fund, policy_of
from fund.payments.camt import return_reason_fr
from fund.privacy.service import record_access
from fund.search import duplicates
from fund.students import service as students_service
from fund.web.formatting import STATUS_FR
from fund.web.pages import (
    Confirmation,
    PageController,
    actor_of,
    domain_errors,
    flash,
    page,
    parse_euros,
    signed_in,
    unconfirmed,
    uow_of,
    validation_errors,
)

# The referent's requests, what needs their action first.
REFERENT_GROUPS = [
    ("À compléter par vous", ("info_requested", "draft")),
    ("En attente du comité", workflow.AWAITING_DECISION),
    ("Décidées", ("approved", "paid", "rejected")),
    ("Closes", ("withdrawn", "cancelled")),
]
# The statuses in the order of the groups: the counts above the list.
REFERENT_ORDER = [
    "info_requested",
    "draft",
    "submitted",
    "under_review",
    "approved",
    "paid",
    "rejected",
    "withdrawn",
    "cancelled",
]
# Requests a page of the referent's home: more than one reads at once; the others are a link away.
HOME_ROWS = 50
Cursor = Annotated[str | None, QueryParameter(max_length=80, required=False)]
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
    "application.payment_returned": "virement retourné par la banque : aide de nouveau à verser",
    "application.payee_changed": "bénéficiaire corrigé",
    "application.deadline_reminder": "rappel au comité",
    "application.escalation": "alerte à la présidence",
    "application.anonymised": "dossier anonymisé (durée de conservation écoulée)",
    "application.flag_checked": "signalement de doublon vérifié par le comité",
    "disbursement.instalments": "paiement en plusieurs fois",
    # the money after the vote: each transfer (issue 14)
    "disbursement.scheduled": "versement programmé",
    "disbursement.sent": "virement envoyé",
    "disbursement.paid": "virement payé",
    "disbursement.returned": "virement retourné par la banque",
    "disbursement.reissued": "virement réémis",
    # issue 16: a student marked as having left the school (student list import)
    "application.student_left": "l'élève a quitté l'école : versements non encore payés annulés",
    "disbursement.cancelled": "versement annulé",
    "document.added": "pièce justificative ajoutée",
    "document.removed": "pièce justificative retirée",
    "documents.purged": "pièces justificatives supprimées (durée de conservation écoulée)",
    # issue 15, the family's page
    "family.access_given": "accord de la famille enregistré, lien envoyé",
    "family.link_renewed": "nouveau lien envoyé à la famille",
    "family.access_revoked": "accès de la famille retiré",
    "family.access_erased": "accès de la famille supprimé (durée de conservation écoulée)",
    "document.family_added": "pièce envoyée par la famille, à vérifier",
    "document.family_accepted": "pièce de la famille acceptée",
    "document.family_refused": "pièce de la famille refusée",
    # decision letters (issue 15)
    "letter.created": "lettre de décision établie",
    "letter.requested": "nouvelle version de la lettre de décision demandée",
    "letters.purged": "lettres de décision supprimées (durée de conservation écoulée)",
}
PAYMENT_FR = {
    "scheduled": "programmé",
    "batched": "dans une remise en préparation",
    "sent": "envoyé à la banque",
    "paid": "payé",
    "returned": "retourné par la banque",
    "cancelled": "annulé",
}


def event_fr(event: AuditEvent) -> str:
    """A timeline entry in French; a transfer's return says the bank's reason, a re-issue without correction why."""
    text = ACTIONS_FR.get(event.action, event.action)
    detail = event.detail or {}
    if event.action == "disbursement.returned" and detail.get("reason"):
        code = str(detail["reason"])
        return f"{text} : {return_reason_fr(code)} ({code})"
    if event.action == "disbursement.reissued" and detail.get("override_reason"):
        return f"{text} sans correction du bénéficiaire (motif : {detail['override_reason']})"
    return text


PAYEE_KINDS = [
    ("guardian", "Responsable légal"),
    ("student", "L'élève"),
    ("third_party", "Un tiers (bailleur, cantine…)"),
]
# Where a schema field's error lands in the request form.
FORM_FIELDS = {
    "student_id": "student_id",
    "category": "category",
    "amount_requested_cents": "amount",
    "period_start": "period_start",
    "period_end": "period_end",
    "justification": "justification",
    "urgent": "urgent",
    "payee.kind": "payee_kind",
    "payee.name": "payee_name",
    "payee.iban": "payee_iban",
    "payee.town": "payee_name",
    "payee.country": "payee_name",
    "payee": "payee_name",
}


class HomePages(PageController):
    path = "/"

    @get("/referent")
    async def referent_home(
        self, request: Request[Any, Any, Any], state: State, statut: FromQuery[str] = "", apres: Cursor = None
    ) -> Template:
        """The referent's requests, newest first, ``HOME_ROWS`` a page (« Demandes plus anciennes »: the next, by
        keyset), grouped by what they wait for; above them, every status with its count, each a link to its list."""
        user = await signed_in(request, state, "referent")
        status = statut if statut in STATUS_FR else None
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            filters = ListFilters(status=status)
            try:
                rows, cursor = await list_for(uow, user, filters, PageRequest(HOME_ROWS, apres))
            except InvalidInput:  # a stale or edited cursor: back to the first page
                rows, cursor = await list_for(uow, user, filters, PageRequest(HOME_ROWS))
            counts = await applications.counts_by_status(uow, user)
            money = await views.payment_standings(session, rows)
        # Each row with what it shows, worked out here once rather than by calls from the template.
        shown = [(a, money.get(a.id), workflow.shown_status(a.status, money.get(a.id))) for a in rows]
        # A request whose transfer came back waits for its referent's correction: first, with what waits for them.
        to_correct = [r for r in shown if r[1] == "returned"]
        groups = [
            (title, [r for r in shown if r[0].status in statuses and r[1] != "returned"])
            for title, statuses in REFERENT_GROUPS
        ]
        groups[0] = (groups[0][0], to_correct + groups[0][1])
        return page(
            request,
            "applications/referent.html",
            user,
            groups=groups,
            statut=status,
            counts=[(code, STATUS_FR[code], counts[code]) for code in REFERENT_ORDER if counts.get(code)],
            total=sum(counts.values()),
            next_cursor=cursor,
            first_page=not apres,
        )

    @get("/comite")
    async def committee_queue(self, request: Request[Any, Any, Any], state: State, apres: Cursor = None) -> Template:
        """What awaits the committee, urgent first then by due date, ``QUEUE_ROWS`` a page (« Demandes suivantes »:
        the next, by keyset on that order), with how many there are in all."""
        user = await signed_in(request, state, *COMMITTEE_ROLES)
        after = _queue_cursor(apres)
        async with state.session_factory() as session:
            policy: Policy = await policy_of(session, user.fund_id)
            awaiting = select(Application).where(readable(user), Application.status.in_(workflow.AWAITING_DECISION))
            # Only what the queue shows and sorts by, and what tells whether the member may vote.
            query = awaiting.options(load_only(*QUEUE_COLUMNS))
            if after is not None:
                query = query.where(tuple_(~Application.urgent, Application.submitted_at, Application.id) > after)
            waiting = list(
                await session.scalars(
                    query.order_by(Application.urgent.desc(), Application.submitted_at, Application.id).limit(
                        QUEUE_ROWS + 1
                    )
                )
            )
            more = len(waiting) > QUEUE_ROWS
            waiting = waiting[:QUEUE_ROWS]
            total = await session.scalar(select(func.count()).select_from(awaiting.subquery()))
            mine = await decisions.my_votes(UnitOfWork(session, None), user, waiting)
        now = datetime.datetime.now(datetime.UTC)
        rows = sorted(
            ((a, deadlines.decision_due(a, policy), deadlines.is_late(a, policy, now)) for a in waiting),
            key=lambda r: (not r[0].urgent, r[1]),
        )
        # « À voter » first; then what the member voted on, waiting for the others; then what they take no part in.
        member = Member.of(user)
        groups: dict[str, list[tuple[Application, datetime.datetime, bool]]] = {"vote": [], "voted": [], "aside": []}
        for row in rows:
            done = mine.get(row[0].id)
            if done is None and conflict_of_interest(member, row[0]) is None:
                groups["vote"].append(row)
            else:
                groups["voted" if done is not None and done.choice != "recused" else "aside"].append(row)
        return page(
            request,
            "applications/comite.html",
            user,
            rows=rows,
            groups=groups,
            mine=mine,
            total=total or 0,
            next_cursor=_queue_cursor_of(waiting[-1]) if more else None,
            first_page=after is None,
        )


# Requests a page of the committee's queue.
QUEUE_ROWS = 50
QUEUE_COLUMNS = (
    Application.reference,
    Application.urgent,
    Application.category,
    Application.amount_requested_cents,
    Application.status,
    Application.submitted_at,
    Application.created_at,
    Application.review_round,
    Application.school_id,
    Application.created_by_id,
)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _queue_cursor_of(application: Application) -> str:
    """Where the queue's next page starts: after this request, in the queue's order (urgent first, then filed),
    as ``<0 urgent, 1 not>_<filed, µs since 1970>_<id>``."""
    assert application.submitted_at is not None  # awaiting a decision: filed
    filed = (application.submitted_at - EPOCH) // datetime.timedelta(microseconds=1)
    return f"{int(not application.urgent)}_{filed}_{application.id.hex}"


def _queue_cursor(text: str | None) -> tuple[bool, datetime.datetime, UUID] | None:
    """The position ``_queue_cursor_of`` wrote; None for none or one unreadable (the first page, then)."""
    parts = (text or "").split("_")
    if len(parts) != 3 or parts[0] not in ("0", "1") or not parts[1].isdigit():
        return None
    try:
        return parts[0] == "1", EPOCH + datetime.timedelta(microseconds=int(parts[1])), UUID(hex=parts[2])
    except (ValueError, OverflowError):
        return None


async def _panel_shown(
    uow: UnitOfWork, user: User, application: Application, owner: bool, committee: bool
) -> tuple[caps.RequestLimits, caps.Recused | None] | None:
    """The limits the page shows (with the member's recusal): to the committee before the decision, to the referent
    while they may edit."""
    if (committee and application.status in workflow.PENDING) or (owner and application.status in workflow.EDITABLE):
        fund = await get_fund(uow.session, application.fund_id)
        return await caps.panel(uow.session, fund, application, user.id if committee else None)
    return None


def _warnings(limits: caps.RequestLimits | None, typed: str, committee: bool) -> list[str]:
    """What an amount typed in the field (empty: the amount requested) goes over."""
    if limits is None:
        return []
    try:
        amount = parse_euros(typed)
    except ValueError as exc:
        return [f"Montant illisible : {exc}."]
    return limits.warnings(amount, envelope=committee)


def _filing_warnings(aid: caps.AidSummary | None, category: str, typed: str) -> list[str]:
    """What the amount the referent typed goes over, for this student and category (nothing while unreadable: the
    field's own check says why)."""
    if aid is None:
        return []
    try:
        return caps.filing_warnings(aid, category, parse_euros(typed))
    except ValueError:
        return []


class ReasonForm(BaseModel):
    reason: str = ""


class VoteForm(BaseModel):
    vote: str = "approve"
    amount: str = ""
    comment: str = ""


class PayeeForm(BaseModel):
    payee_kind: str = "guardian"
    payee_name: str = ""
    payee_iban: str = ""


# Where an error of the payee correction lands in its form.
PAYEE_FIELDS = {"kind": "payee_kind", "name": "payee_name", "iban": "payee_iban", "town": "payee_name"}


class ChairForm(BaseModel):
    outcome: str = "approve"
    amount: str = ""
    reason: str = ""


# The refusals of an approving vote that concern its amount.
OVER_A_LIMIT = {code: "amount" for code in ("category_ceiling_exceeded", "yearly_ceiling_exceeded", "budget_exhausted")}
Action = Callable[[UnitOfWork, User], Awaitable[object]]
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
HOUR = datetime.timedelta(hours=1)


class CaseController(PageController):
    """One request's page: its facts for this reader, the votes, the payments, the history; the actions."""

    path = "/demandes"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        application_id: UUID,
        *,
        errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                # With its student and fund, which the page reads again (held here, found in the session then).
                application, student, fund = await applications.get_for_reading(uow, user, application_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            # Committed with the page's reads, below: one transaction rather than two.
            ip = actor_of(request, user).ip
            await record_access(session, user.id, "application", application.id, ip, commit=False)
            owner = is_owner(user, application)
            committee = is_committee(user)
            aid = await applications.caps_for(uow, application, fund) if owner else None
            panel = await _panel_shown(uow, user, application, owner, committee)
            limits = panel[0] if panel else None
            # Every round's votes, read once: the case shows them all, the member's standing counts this round's.
            every_vote = [] if application.status == "draft" else await applications.votes_of(uow, application)
            case = await views.detailed(
                uow, user, application, student, fund, aid=aid, panel=panel if committee else None, votes=every_vote
            )
            history = await applications.history_of(uow, user, application_id)
            flags = await duplicates.flags_of(uow, user, application) if owner or committee else []
            this_round = [v for v in every_vote if v.round == application.review_round]
            standing = await decisions.standing_of(uow, user, application, this_round) if committee else None
            payments = list(
                await session.scalars(
                    select(Disbursement)
                    .where(Disbursement.application_id == application.id)
                    .order_by(Disbursement.sequence)
                )
            )
            await session.commit()
        return page(
            request,
            "applications/demande.html",
            user,
            errors=errors,
            status_code=status_code,
            a=case,
            owner=owner,
            votes=[v for v in case.votes or () if v.round == case.review_round],
            history=history,
            standing=standing,
            can_vote=bool(standing and standing.may_vote),
            can_recuse=bool(standing and standing.may_vote),
            aid=aid,
            limits=limits,
            amount_warnings=_warnings(limits, (form or {}).get("amount", ""), committee),
            payments=payments,
            payment_fr=PAYMENT_FR,
            form=form or {},
            action_fr=lambda action: ACTIONS_FR.get(action, action),
            event_fr=event_fr,
            reason_fr=return_reason_fr,
            payee_kinds=PAYEE_KINDS,
            flags=flags,
        )

    async def _act(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        application_id: UUID,
        action: Action,
        done: str,
        *,
        fields: dict[str, str],
        form: dict[str, str],
        codes: dict[str, str] | None = None,
    ) -> Template | Redirect:
        """Run ``action``; on success, back to the page with ``done``; on a refusal, the page with the error (on the
        field ``codes`` names for its code, else in the banner)."""
        async with state.session_factory() as session:
            try:
                await action(uow_of(state, session), user)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                errors = domain_errors(exc, fields, codes=codes)
                return await self._page(request, state, user, application_id, errors=errors, form=form)
        flash(request, done)
        return Redirect(f"/demandes/{application_id}", status_code=303)

    async def _invalid(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        application_id: UUID,
        errors: dict[str, str],
        form: dict[str, str],
    ) -> Template:
        return await self._page(request, state, user, application_id, errors=errors, form=form)

    @get("/{application_id:uuid}/alertes-montant")
    async def amount_warnings(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        amount: FromQuery[str] = "",
        vide: FromQuery[str] = "",
    ) -> Template:
        """The fragment next to the committee's amount field, as it is typed: the limits the amount goes over. An
        empty field is the amount requested (the vote's), or nothing to check (``vide=rien``: the chair's, whose
        empty field grants the lowest approving amount)."""
        user = await signed_in(request, state, *COMMITTEE_ROLES)
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                application = await applications.get(uow, user, application_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            panel = await _panel_shown(uow, user, application, False, True)
        limits = panel[0] if panel and (amount.strip() or vide != "rien") else None
        return page(
            request, "applications/_alertes_montant.html", user, amount_warnings=_warnings(limits, amount, True)
        )

    @get("/{application_id:uuid}")
    async def case_page(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template:
        return await self._page(request, state, await signed_in(request, state), application_id)

    # ------------------------------------------------------------------ the referent's actions

    @post("/{application_id:uuid}/soumettre", status_code=303)
    async def submit(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        actor = actor_of(request, user)

        async def action(uow: UnitOfWork, user: User) -> object:
            return await applications.submit(uow, user, application_id, actor)

        return await self._act(
            request, state, user, application_id, action, "Demande déposée : le comité est prévenu.", fields={}, form={}
        )

    @post("/{application_id:uuid}/retirer", status_code=303)
    async def withdraw(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[Confirmation, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        actor = actor_of(request, user)
        if errors := unconfirmed(data, "retrait"):
            return await self._page(request, state, user, application_id, errors=errors, status_code=422)

        async def action(uow: UnitOfWork, user: User) -> object:
            return await applications.withdraw(uow, user, application_id, actor)

        return await self._act(request, state, user, application_id, action, "Demande retirée.", fields={}, form={})

    @post("/{application_id:uuid}/reponse", status_code=303)
    async def answer(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReasonForm, FORM],
    ) -> Template | Redirect:
        return await self._reasoned(
            request, state, application_id, data, "answer", decisions.answer, "Réponse envoyée au comité.", "referent"
        )

    @post("/{application_id:uuid}/recours", status_code=303)
    async def appeal(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReasonForm, FORM],
    ) -> Template | Redirect:
        return await self._reasoned(
            request, state, application_id, data, "appeal", decisions.appeal, "Recours déposé.", "referent"
        )

    @post("/{application_id:uuid}/beneficiaire", status_code=303)
    async def correct_payee(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[PayeeForm, FORM],
    ) -> Template | Redirect:
        """The referent corrects the payee (after a returned transfer): the same rules as the API's
        ``PUT /applications/{id}/payee``; the IBAN is checked as typed (``/demandes/nouvelle/verifier-iban``)."""
        user = await signed_in(request, state, "referent")
        form = {"payee_kind": data.payee_kind, "payee_name": data.payee_name, "payee_iban": data.payee_iban}
        try:
            payee = PayeeIn.model_validate({"kind": data.payee_kind, "name": data.payee_name, "iban": data.payee_iban})
        except ValidationError as exc:
            errors = validation_errors(exc, PAYEE_FIELDS, "payee_name")
            return await self._page(request, state, user, application_id, errors=errors, form=form, status_code=422)
        actor = actor_of(request, user)

        async def action(uow: UnitOfWork, user: User) -> object:
            return await applications.change_payee(uow, user, application_id, payee, state.cipher, actor)

        return await self._act(
            request,
            state,
            user,
            application_id,
            action,
            "Bénéficiaire corrigé : le service comptable est prévenu et réémettra le virement vers ce compte.",
            fields=PAYEE_FIELDS,
            form=form,
        )

    # ------------------------------------------------------------------ the committee's actions

    @post("/{application_id:uuid}/recusation", status_code=303)
    async def recuse(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReasonForm, FORM],
    ) -> Template | Redirect:
        return await self._reasoned(
            request,
            state,
            application_id,
            data,
            "recusal",
            decisions.recuse,
            "Récusation enregistrée.",
            "committee",
            "chair",
        )

    @post("/{application_id:uuid}/annulation", status_code=303)
    async def cancel(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReasonForm, FORM],
    ) -> Template | Redirect:
        return await self._reasoned(
            request, state, application_id, data, "cancel", decisions.cancel, "Décision annulée.", "chair"
        )

    async def _reasoned(
        self,
        request: Request[Any, Any, Any],
        state: State,
        application_id: UUID,
        data: ReasonForm,
        name: str,
        service: Callable[..., Awaitable[object]],
        done: str,
        *roles: str,
    ) -> Template | Redirect:
        user = await signed_in(request, state, *roles)
        field = f"{name}_reason"
        form = {field: data.reason}
        try:
            reason = ReasonIn(reason=data.reason)
        except ValidationError as exc:
            errors = validation_errors(exc, {"reason": field}, field)
            return await self._invalid(request, state, user, application_id, errors, form)
        actor = actor_of(request, user)

        async def action(uow: UnitOfWork, user: User) -> object:
            return await service(uow, user, application_id, reason, actor)

        return await self._act(request, state, user, application_id, action, done, fields={"reason": field}, form=form)

    @post("/{application_id:uuid}/complement", status_code=303)
    async def request_info(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReasonForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, *COMMITTEE_ROLES)
        form = {"question": data.reason}
        try:
            question = RequestInfoIn(message=data.reason)
        except ValidationError as exc:
            errors = validation_errors(exc, {"message": "question"}, "question")
            return await self._invalid(request, state, user, application_id, errors, form)
        actor = actor_of(request, user)

        async def action(uow: UnitOfWork, user: User) -> object:
            return await decisions.request_info(uow, user, application_id, question, actor)

        return await self._act(
            request,
            state,
            user,
            application_id,
            action,
            "Question envoyée au référent.",
            fields={"message": "question"},
            form=form,
        )

    @post("/{application_id:uuid}/vote", status_code=303)
    async def vote(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[VoteForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, *COMMITTEE_ROLES)
        # Each way of voting has its own form: its errors go next to its own fields.
        amount_field, comment_field = ("amount", "approve_comment") if data.vote == "approve" else ("", "reject_reason")
        form = {amount_field: data.amount, comment_field: data.comment}
        errors: dict[str, str] = {}
        amount = None
        try:
            amount = parse_euros(data.amount) if data.vote == "approve" else None
        except ValueError as exc:
            errors["amount"] = str(exc)
        if data.vote == "reject" and not data.comment.strip():
            errors["reject_reason"] = "un refus doit être motivé"
        try:
            vote_in = VoteIn(vote=data.vote, amount_cents=amount, comment=data.comment.strip() or None)
        except ValidationError as exc:
            errors.update(validation_errors(exc, {"amount_cents": "amount", "comment": comment_field}, "_"))
        if errors:
            return await self._invalid(request, state, user, application_id, errors, form)
        actor = actor_of(request, user)

        async def action(uow: UnitOfWork, user: User) -> object:
            application = (await decisions.vote(uow, user, application_id, vote_in, actor)).application
            return application

        return await self._act(
            request,
            state,
            user,
            application_id,
            action,
            "Vote enregistré.",
            fields={"amount_cents": "amount", "comment": comment_field},
            form=form,
            codes=OVER_A_LIMIT,  # the refusal next to the amount field
        )

    @post("/{application_id:uuid}/decision-presidence", status_code=303)
    async def chair_decision(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ChairForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "chair")
        form = {"chair_amount": data.amount, "chair_reason": data.reason}
        errors: dict[str, str] = {}
        amount = None
        try:
            amount = parse_euros(data.amount) if data.outcome == "approve" else None
        except ValueError as exc:
            errors["chair_amount"] = str(exc)
        try:
            decision = ChairDecisionIn(outcome=data.outcome, amount_cents=amount, reason=data.reason.strip() or None)
        except ValidationError as exc:
            errors.update(validation_errors(exc, {"amount_cents": "chair_amount", "reason": "chair_reason"}, "_"))
        if errors:
            return await self._invalid(request, state, user, application_id, errors, form)
        actor = actor_of(request, user)

        async def action(uow: UnitOfWork, user: User) -> object:
            return await decisions.decide_as_chair(uow, user, application_id, decision, actor)

        return await self._act(
            request,
            state,
            user,
            application_id,
            action,
            "Décision de la présidence enregistrée.",
            fields={"amount_cents": "chair_amount", "reason": "chair_reason"},
            form=form,
            codes={code: "chair_amount" for code in OVER_A_LIMIT},
        )


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


class IbanForm(BaseModel):
    payee_iban: str = ""


class NewRequestController(PageController):
    """The referent's « Nouvelle demande »: the same validation as the API, errors next to their field; the
    student's aid so far and the IBAN check come back as the referent fills the form (htmx)."""

    path = "/demandes/nouvelle"

    async def _form(
        self, request: Request[Any, Any, Any], state: State, user: User, form: RequestForm, errors: dict[str, str]
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            students, _ = await students_service.list_for(uow, user, PageRequest(limit=200))
            students = sorted(students, key=lambda s: (s.last_name, s.first_name))
            chosen = next((s for s in students if str(s.id) == form.student_id), students[0] if students else None)
            aid = await students_service.aid_of(uow, user, chosen.id) if chosen else None
            policy = await policy_of(session, user.fund_id)
        return page(
            request,
            "applications/nouvelle_demande.html",
            user,
            errors=errors,
            students=students,
            categories=[(c, category_label(c)) for c in CATEGORIES],
            payee_kinds=PAYEE_KINDS,
            form=form,
            aid=aid,
            amount_warnings=_filing_warnings(aid, form.category, form.amount),
            category=form.category,
            # the fund's own targets (the policy), in hours
            target_hours={urgent: deadlines.decision_target(policy, urgent) // HOUR for urgent in (False, True)},
        )

    @get()
    async def new_request_page(
        self, request: Request[Any, Any, Any], state: State, eleve: FromQuery[str] = ""
    ) -> Template:
        user = await signed_in(request, state, "referent")
        today = datetime.date.today()
        form = RequestForm(
            student_id=eleve,
            period_start=today.isoformat(),
            period_end=(today + datetime.timedelta(days=30)).isoformat(),
        )
        return await self._form(request, state, user, form, {})

    @get("/aide-accordee")
    async def aid_so_far(
        self,
        request: Request[Any, Any, Any],
        state: State,
        student_id: FromQuery[str] = "",
        category: FromQuery[str] = "",
        amount: FromQuery[str] = "",
    ) -> Template:
        """The fragment under the student's field: aid this year, room left under the ceilings; and, next to the
        amount field, the limits the amount typed goes over."""
        user = await signed_in(request, state, "referent")
        aid = None
        try:
            async with state.session_factory() as session:
                aid = await students_service.aid_of(UnitOfWork(session, None), user, UUID(student_id))
        except (ValueError, NotFound):
            aid = None
        return page(
            request,
            "applications/_aide.html",
            user,
            aid=aid,
            category=category,
            amount_warnings=_filing_warnings(aid, category, amount),
        )

    @post("/verifier-iban", status_code=200)
    async def check_iban(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[IbanForm, FORM]
    ) -> Template:
        """The fragment under the IBAN field, as it is typed: valid (with the bank when known) or what is wrong.
        A POST, so that the IBAN stays out of URLs and access logs."""
        user = await signed_in(request, state, "referent")
        text, valid, bank = data.payee_iban.strip(), False, None
        message = None
        if len(text.replace(" ", "")) >= 5:
            try:
                compact = normalize_iban(text)
                valid = True
                bank = IBAN(compact).bank_name
            except ValueError as exc:
                message = str(exc)
        return page(request, "applications/_iban.html", user, valid=valid, bank=bank, message=message)

    @post(status_code=303)
    async def file_request(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[RequestForm, FORM]
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
        filed = None
        try:
            filed = ApplicationCreate.model_validate(body)
        except ValidationError as exc:
            for field, message in validation_errors(exc, FORM_FIELDS, "justification").items():
                errors.setdefault(field, message)
        try:  # the period rule is a model rule: pydantic skips it when a field already failed
            check_period(datetime.date.fromisoformat(data.period_start), datetime.date.fromisoformat(data.period_end))
        except ValueError as exc:
            errors.setdefault("period_end", str(exc).removeprefix("period_end: "))
        if errors or filed is None:
            return await self._form(request, state, user, data, errors)
        async with state.session_factory() as session:
            try:
                application = await applications.create(
                    uow_of(state, session), user, filed, state.cipher, actor_of(request, user)
                )
            except DomainError as exc:
                return await self._form(request, state, user, data, domain_errors(exc, FORM_FIELDS, "student_id"))
        flash(request, f"Brouillon {application.reference} enregistré : relisez-le, puis soumettez-le au comité.")
        return Redirect(f"/demandes/{application.id}", status_code=303)


PAGES: list[type[Controller]] = [HomePages, NewRequestController, CaseController]

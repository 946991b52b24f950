"""The referent edits their request while it is still theirs to change (a draft, or a request the committee asked
a question about: ``workflow.EDITABLE``), with the filing form filled in; the same rules and audit as the API's
``PATCH /api/v1/applications/{id}`` (the service's ``patch``). The IBAN is never sent back to the browser: left empty
it is kept, retyped it replaces the one on file."""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError

from fund.applications import service as applications
from fund.applications import workflow
from fund.applications.access import is_owner
from fund.applications.models import Application
from fund.applications.pages import FORM_FIELDS, PAYEE_KINDS
from fund.applications.schemas import ApplicationPatch, check_period
from fund.auth.models import User
from fund.core.errors import DomainError, NotFound, refusal
from fund.core.uow import UnitOfWork
from fund.funds.policy import CATEGORIES, category_label
from fund.students.models import Student
from fund.web.pages import (
    PageController,
    actor_of,
    domain_errors,
    flash,
    page,
    parse_euros,
    signed_in,
    uow_of,
    validation_errors,
)

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


class DraftForm(BaseModel):
    version: str = ""
    category: str = ""
    amount: str = ""
    period_start: str = ""
    period_end: str = ""
    urgent: str = ""
    justification: str = ""
    payee_kind: str = ""
    payee_name: str = ""
    payee_iban: str = ""  # empty: the IBAN on file is kept


def euros_text(cents: int) -> str:
    """``12000`` → ``120``, ``12050`` → ``120,50`` (as the referent types it)."""
    return str(cents // 100) if cents % 100 == 0 else f"{cents // 100},{cents % 100:02d}"


def form_of(application: Application) -> DraftForm:
    return DraftForm(
        version=str(application.version),
        category=application.category,
        amount=euros_text(application.amount_requested_cents),
        period_start=application.period_start.isoformat(),
        period_end=application.period_end.isoformat(),
        urgent="1" if application.urgent else "",
        justification=application.justification,
        payee_kind=application.payee_kind,
        payee_name=application.payee_name,
    )


class NotYours(Exception):
    """Not this referent's to edit now (another school's, or no longer editable): the request's page says why."""

    def __init__(self, application_id: UUID, message: str) -> None:
        self.application_id = application_id
        self.message = message


async def editable(uow: UnitOfWork, user: User, application_id: UUID) -> tuple[Application, Student]:
    """The request and its student, when ``user`` may edit it now; NotFound (not visible), NotYours otherwise."""
    application = await applications.get(uow, user, application_id)
    if not is_owner(user, application):
        raise NotYours(application_id, refusal("referent_only"))
    if application.status not in workflow.EDITABLE:
        raise NotYours(
            application_id,
            refusal("not_editable", reference=application.reference, status=workflow.label(application.status)),
        )
    student = await uow.session.get(Student, application.student_id)
    assert student is not None
    return application, student


def changes_of(application: Application, data: DraftForm, cipher: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The PATCH body's fields that differ from the request on file (and the form's own errors)."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    try:
        amount = parse_euros(data.amount)
        if amount is None:
            errors["amount"] = "indiquer le montant demandé"
        elif amount != application.amount_requested_cents:
            body["amount_requested_cents"] = amount
    except ValueError as exc:
        errors["amount"] = str(exc)
    if data.category != application.category:
        body["category"] = data.category
    if data.justification != application.justification:
        body["justification"] = data.justification
    if bool(data.urgent) != application.urgent:
        body["urgent"] = bool(data.urgent)
    for name in ("period_start", "period_end"):
        if getattr(data, name) != getattr(application, name).isoformat():
            body[name] = getattr(data, name)
    typed_iban = data.payee_iban.strip()
    if typed_iban or data.payee_kind != application.payee_kind or data.payee_name != application.payee_name:
        payee: dict[str, Any] = {"kind": data.payee_kind, "name": data.payee_name}
        if typed_iban:
            payee["iban"] = typed_iban
        else:  # the account on file, with what the bank needs with it
            payee["iban"] = cipher.decrypt(application.payee_iban_encrypted)
            payee["bic"] = application.payee_bic
        for extra in ("town", "country", "address_line"):
            if getattr(application, f"payee_{extra}"):
                payee[extra] = getattr(application, f"payee_{extra}")
        body["payee"] = payee
    return body, errors


class DraftPages(PageController):
    """``/demandes/{id}/modifier``: the filing form, filled in, for a request its referent may still change."""

    path = "/demandes"

    async def _form(
        self,
        request: Request[Any, Any, Any],
        user: User,
        application: Application,
        student: Student,
        form: DraftForm,
        errors: dict[str, str],
    ) -> Template:
        return page(
            request,
            "applications/modifier_demande.html",
            user,
            errors=errors,
            a=application,
            student=student,
            categories=[(c, category_label(c)) for c in CATEGORIES],
            payee_kinds=PAYEE_KINDS,
            form=form,
        )

    @get("/{application_id:uuid}/modifier")
    async def edit_page(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        async with state.session_factory() as session:
            try:
                application, student = await editable(UnitOfWork(session, None), user, application_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except NotYours as exc:
                flash(request, exc.message)
                return Redirect(f"/demandes/{exc.application_id}", status_code=303)
        return await self._form(request, user, application, student, form_of(application), {})

    @post("/{application_id:uuid}/modifier", status_code=303)
    async def save(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[DraftForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        async with state.session_factory() as session:
            try:
                application, student = await editable(UnitOfWork(session, None), user, application_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except NotYours as exc:
                flash(request, exc.message)
                return Redirect(f"/demandes/{exc.application_id}", status_code=303)
            shown = data.model_copy(update={"payee_iban": ""})  # never sent back, even retyped
            body, errors = changes_of(application, data, state.cipher)
            if not data.version.isdigit():
                errors["_"] = "Formulaire incomplet : rechargez la page."
            patch = None
            if not errors:
                try:
                    patch = ApplicationPatch.model_validate({"version": int(data.version), **body})
                except ValidationError as exc:
                    errors = validation_errors(exc, FORM_FIELDS, "justification")
            try:  # the period rule over both dates, when only one changed (pydantic skips it then)
                applications_check_period(data.period_start, data.period_end)
            except ValueError as exc:
                errors.setdefault("period_end", str(exc).removeprefix("period_end: "))
            if errors or patch is None:
                return await self._form(request, user, application, student, shown, errors)
            if not body:
                flash(request, f"Aucune modification : la demande {application.reference} est inchangée.")
                return Redirect(f"/demandes/{application_id}", status_code=303)
        async with state.session_factory() as session:  # the service locks the row and checks the version again
            try:
                await applications.patch(
                    uow_of(state, session), user, application_id, patch, state.cipher, actor_of(request, user)
                )
            except DomainError as exc:
                await session.rollback()
                errors = domain_errors(exc, FORM_FIELDS)
            else:
                flash(request, f"Demande {application.reference} modifiée.")
                return Redirect(f"/demandes/{application_id}", status_code=303)
        async with state.session_factory() as session:  # refused: the form again, over the request as it is now
            try:
                application, student = await editable(UnitOfWork(session, None), user, application_id)
            except (NotFound, NotYours):
                flash(request, errors.get("_") or next(iter(errors.values())))
                return Redirect(f"/demandes/{application_id}", status_code=303)
        return await self._form(request, user, application, student, shown, errors)


def applications_check_period(start: str, end: str) -> None:
    try:
        first, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
    except ValueError:
        return  # the field's own error says so
    check_period(first, last)


PAGES: list[type[Controller]] = [DraftPages]

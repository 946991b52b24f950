"""The referent's pages to import the school's student list: upload (CSV or XLSX), the preview (created, updated
with the fields that change, left alone, refused lines with their reason, students absent), apply it, then mark
the students absent as having left after a confirmation. The same services as the API, with the same rules."""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import func, select

from fund.auth.models import User
from fund.core.errors import DomainError, NotFound
from fund.core.uow import UnitOfWork
from fund.core.validation import phone_display
from fund.students import importing, imports
from fund.students.import_controllers import UPLOAD_BODY_LIMIT, template_file
from fund.students.importing import FIELD_LABELS
from fund.students.models import Student, StudentImport
from fund.web.formatting import euros
from fund.web.pages import (
    NOT_CONFIRMED,
    PageController,
    actor_of,
    flash,
    page,
    signed_in,
    uow_of,
)

TOO_LARGE = "Fichier trop volumineux : 2 Mo au plus. Découpez la liste."
MULTIPART = Body(media_type=RequestEncodingType.MULTI_PART)


def _on_too_large(request: Request[Any, Any, Any], _: RequestEntityTooLarge) -> Redirect:
    return Redirect("/eleves/import?erreur=taille", status_code=303)


def _message(exc: DomainError) -> str:
    text = exc.errors[0].message if exc.errors else exc.detail
    return text[:1].upper() + text[1:]


def shown(name: str, value: str | None) -> str:
    """A value of the preview as a French reader reads it."""
    if value is None or value == "":
        return "—"
    if name in ("birth_date", "left_on"):
        return datetime.date.fromisoformat(value).strftime("%d/%m/%Y")
    if name == "guardian_phone":
        return phone_display(value)
    return value


def _schools(user: User) -> list[tuple[str, str]]:
    return [(str(s.id), s.name) for s in sorted(user.schools, key=lambda s: s.name)]


class StudentImportPages(PageController):
    path = "/eleves/import"

    async def _form(
        self, request: Request[Any, Any, Any], user: User, errors: dict[str, str], school_id: str = ""
    ) -> Template:
        return page(
            request,
            "students/import.html",
            user,
            errors=errors,
            schools=_schools(user),
            school_id=school_id,
            max_lines=f"{importing.MAX_LINES:,}".replace(",", "\u202f"),
        )

    @get()
    async def import_page(self, request: Request[Any, Any, Any], state: State, erreur: FromQuery[str] = "") -> Template:
        user = await signed_in(request, state, "referent")
        errors = {"fichier": TOO_LARGE} if erreur == "taille" else {}
        return await self._form(request, user, errors)

    @get("/modele.csv")
    async def template_csv(self, request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        await signed_in(request, state, "referent")
        return template_file("csv")

    @get("/modele.xlsx")
    async def template_xlsx(self, request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        await signed_in(request, state, "referent")
        return template_file("xlsx")

    @post(
        status_code=303,
        request_max_body_size=UPLOAD_BODY_LIMIT,
        exception_handlers={RequestEntityTooLarge: _on_too_large},
    )
    async def upload(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[dict[str, Any], MULTIPART]
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        schools = _schools(user)
        chosen = str(data.get("school_id") or (schools[0][0] if len(schools) == 1 else ""))
        upload = data.get("fichier")
        errors: dict[str, str] = {}
        if not chosen:
            errors["school_id"] = "Choisissez l'école."
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["fichier"] = "Choisissez le fichier de la liste (CSV ou XLSX)."
        if errors or not isinstance(upload, UploadFile):
            return await self._form(request, user, errors, chosen)
        try:
            school_id = UUID(chosen)
        except ValueError:
            return await self._form(request, user, {"school_id": "Choisissez l'école dans la liste."})
        content = await upload.read(importing.MAX_BYTES + 1)
        async with state.session_factory() as session:
            try:
                stored = await imports.preview(
                    uow_of(state, session),
                    user,
                    school_id,
                    upload.filename or "liste",
                    content,
                    actor_of(request, user),
                )
            except NotFound:
                return await self._form(request, user, {"school_id": "Choisissez l'école dans la liste."})
            except DomainError as exc:
                return await self._form(request, user, {"fichier": _message(exc)}, chosen)
        return Redirect(f"/eleves/import/{stored.id}", status_code=303)

    async def _preview(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        import_id: UUID,
        errors: dict[str, str] | None = None,
        chosen: list[str] | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            stored = await session.get(StudentImport, import_id)
            try:
                if stored is None:
                    raise NotFound("student_import_not_found")
                stored = await imports.get(uow, user, stored.school_id, import_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            absent_ids = [UUID(a["student_id"]) for a in stored.plan["absent"]]
            unpaid = await imports.unpaid_of(uow, absent_ids)
            rows = await session.execute(select(Student.id, Student.left_on).where(Student.id.in_(absent_ids)))
            left = {student_id: left_on for student_id, left_on in rows}
            now = await session.scalar(select(func.now()))
        plan = stored.plan
        return page(
            request,
            "students/import_apercu.html",
            user,
            errors=errors,
            imported=stored,
            plan=plan,
            counts=imports.counts(plan),
            school=next((name for sid, name in _schools(user) if sid == str(stored.school_id)), ""),
            expired=now is not None and stored.expires_at < now,
            absent=[
                {
                    **a,
                    "unpaid": unpaid.get(UUID(a["student_id"]), imports.Unpaid()),
                    "left_on": left.get(UUID(a["student_id"])),
                }
                for a in plan["absent"]
            ],
            chosen=set(chosen or []),
            label=lambda name: FIELD_LABELS.get(name, name),
            shown=shown,
        )

    @get("/{import_id:uuid}")
    async def preview_page(self, import_id: FromPath[UUID], request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "referent")
        return await self._preview(request, state, user, import_id)

    @post("/{import_id:uuid}/appliquer", status_code=303)
    async def apply(
        self, import_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        form = await request.form()
        checksum = str(form.get("empreinte") or "") or None
        async with state.session_factory() as session:
            stored = await session.get(StudentImport, import_id)
            if stored is None:
                return page(request, "web/introuvable.html", user, status_code=404)
            school_id = stored.school_id
            try:
                applied, now = await imports.apply(
                    uow_of(state, session), user, school_id, import_id, actor_of(request, user), checksum
                )
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                return await self._preview(request, state, user, import_id, {"_": _message(exc)})
        result = applied.result or {}
        if not now or not (result.get("created") or result.get("updated")):
            flash(request, "Aucun changement : la liste des élèves était déjà à jour.")
        else:
            flash(
                request,
                f"Liste appliquée : {result.get('created', 0)} élève(s) inscrit(s), "
                f"{result.get('updated', 0)} fiche(s) mise(s) à jour.",
            )
        return Redirect(f"/eleves/import/{import_id}", status_code=303)

    @post("/{import_id:uuid}/depart", status_code=303)
    async def left(
        self, import_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        form = await request.form()
        chosen = [str(v) for v in form.getall("eleves")] if "eleves" in form else []
        errors: dict[str, str] = {}
        if not chosen:
            errors["eleves"] = "Cochez au moins un élève."
        if form.get("confirmer") != "oui":
            errors["confirmer-depart"] = NOT_CONFIRMED
        if errors:
            return await self._preview(request, state, user, import_id, errors, chosen)
        try:
            student_ids = [UUID(v) for v in chosen]
        except ValueError:
            return await self._preview(request, state, user, import_id, {"eleves": "Cochez les élèves dans la liste."})
        async with state.session_factory() as session:
            stored = await session.get(StudentImport, import_id)
            if stored is None:
                return page(request, "web/introuvable.html", user, status_code=404)
            try:
                departures = await imports.mark_left(
                    uow_of(state, session), user, stored.school_id, import_id, student_ids, actor_of(request, user)
                )
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                return await self._preview(request, state, user, import_id, {"eleves": _message(exc)}, chosen)
        marked = [d for d in departures if not d.already_left]
        cancelled = sum(d.cancelled for d in marked)
        cents = sum(d.cancelled_cents for d in marked)
        in_payment = sum(d.in_payment for d in marked)
        text = f"{len(marked)} élève(s) marqué(s) comme ayant quitté l'école ; {cancelled} versement(s) annulé(s)"
        text += f" ({euros(cents)})." if cancelled else "."
        if in_payment:
            text += f" {in_payment} versement(s) déjà dans une remise : à voir avec le ou la comptable."
        flash(request, text)
        return Redirect(f"/eleves/import/{import_id}", status_code=303)


PAGES: list[type[Controller]] = [StudentImportPages]

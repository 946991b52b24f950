"""The administrator's pages about accounts: the users of the fund, their roles, schools, activity and password.

The pages call the services of the ``/api/v1/users`` routes, with the same rules (segregation of duties, a
referent keeps a school, an administrator never locks themselves out); the services' refusals are shown in
French next to the field they concern.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError, field_validator

from fund.auth import invitations, recovery, service
from fund.auth.models import ROLES, User
from fund.auth.passwords import password_problem
from fund.auth.schemas import PasswordReset, UserCreate, UserPatch
from fund.auth.welcome import WelcomePages
from fund.core.errors import DomainError, InvalidInput, NotFound
from fund.core.pagination import PageRequest
from fund.core.uow import UnitOfWork
from fund.schools import service as schools_service
from fund.schools.models import School
from fund.web.formatting import ROLE_FR
from fund.web.pages import (
    PageController,
    actor_of,
    domain_errors,
    flash,
    kept_form,
    page,
    require_step_up,
    signed_in,
    uow_of,
    validation_errors,
)

PAGE_SIZE = 50
ROLE_CHOICES = [(role, ROLE_FR[role].capitalize()) for role in ROLES]
ACTIVE_CHOICES = [("", "Tous"), ("oui", "Actifs"), ("non", "Désactivés")]

# The refusals that land on a field of the account forms (the others on the banner).
REFUSAL_FIELDS = {"roles_incompatible": "roles", "own_admin_role": "roles", "email_taken": "email"}


def as_list(value: Any) -> list[str]:
    """A form's repeated field: absent, one value or several."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v != ""]


class NewUserForm(BaseModel):
    full_name: str = ""
    email: str = ""
    how: str = "lien"  # "lien": a link by mail to choose the password; "mot_de_passe": the one typed here
    password: str = ""
    roles: list[str] = []
    school_ids: list[str] = []

    _lists = field_validator("roles", "school_ids", mode="before")(as_list)


class UserEditForm(BaseModel):
    full_name: str = ""
    roles: list[str] = []
    school_ids: list[str] = []

    _lists = field_validator("roles", "school_ids", mode="before")(as_list)


class PasswordForm(BaseModel):
    how: str = "lien"
    password: str = ""


def french_schema_errors(exc: ValidationError, form: Mapping[str, Any]) -> dict[str, str]:
    """The account schemas' errors in French, by form field (e-mail and password get their own words)."""
    fields = {name: name for name in ("email", "full_name", "password", "roles", "school_ids")}
    fields.update({f"roles.{i}": "roles" for i in range(10)})
    fields.update({f"school_ids.{i}": "school_ids" for i in range(60)})
    errors = validation_errors(exc, fields, "_")
    if "email" in errors and not str(form.get("email", "")).strip():
        errors["email"] = "champ obligatoire"
    if "password" in errors:
        errors["password"] = "12 caractères au moins (200 au plus)"
    if "roles" in errors:
        errors["roles"] = "cocher au moins un rôle" if not form.get("roles") else "choisir dans la liste"
    return errors


def unknown_password(email: str = "") -> str:
    """A password nobody knows: the account's owner chooses theirs through the link sent by mail (drawn again in
    the unlikely case that the password policy would refuse it, e.g. a random run spelling the e-mail's name)."""
    while True:
        password = secrets.token_urlsafe(32)
        if password_problem(password, email) is None:
            return password


def chosen_password(how: str, typed: str) -> tuple[str | None, dict[str, str]]:
    """The password typed by the administrator (None: a link is mailed instead), or the field's error."""
    if how != "mot_de_passe":
        return None, {}
    if not 12 <= len(typed) <= 200:
        return None, {"password": "12 caractères au moins (200 au plus)"}
    return typed, {}


async def mail_link(state: State, request: Request[Any, Any, Any], user: User, email: str) -> None:
    """Queue the mail with a one-hour link to choose a password (the forgotten-password flow's own)."""
    async with state.session_factory() as session:
        await recovery.request_reset(uow_of(state, session), email, actor_of(request, user))


async def all_schools(session: Any, admin: User) -> list[School]:
    return await schools_service.list_visible(UnitOfWork(session, None), admin)


# Up to this many schools, the accounts' filter offers them in a list; a fund with more (a national one: 10 000) asks
# for the school's UAI code instead: a list of every school made the page a megabyte of HTML.
SCHOOL_CHOICES_MAX = 300


class UserPages(PageController):
    path = "/administration"

    @get()
    async def admin_home(
        self,
        request: Request[Any, Any, Any],
        state: State,
        role: FromQuery[str] = "",
        school_id: FromQuery[str] = "",
        active: FromQuery[str] = "",
        cursor: FromQuery[str] = "",
        uai: FromQuery[str] = "",
    ) -> Template:
        """The accounts, newest first, filtered by role, school (chosen in the list, or by its UAI code in a fund
        of more than ``SCHOOL_CHOICES_MAX`` schools) and activity; 50 a page (keyset)."""
        user = await signed_in(request, state, "admin")
        errors: dict[str, str] = {}
        school: UUID | None = None
        if school_id:
            try:
                school = UUID(school_id)
            except ValueError:
                errors["school_id"] = "choisir dans la liste"
        if role and role not in ROLES:
            errors["role"] = "choisir dans la liste"
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            schools: list[School] | None = await schools_service.list_visible(uow, user, SCHOOL_CHOICES_MAX + 1)
            if schools is not None and len(schools) > SCHOOL_CHOICES_MAX:
                schools = None
            if uai.strip() and school is None:
                found = await schools_service.by_uai(uow, uai)
                if found is None:
                    errors["uai"] = "aucune école n'a ce code UAI"
                else:
                    school, school_id = found.id, str(found.id)
            filters = service.UserFilters(
                role=role if role in ROLES else None,
                school_id=school,
                active={"oui": True, "non": False}.get(active),
            )
            try:
                rows, next_cursor = await service.list_users(uow, user, filters, PageRequest(PAGE_SIZE, cursor or None))
            except InvalidInput:
                errors["_"] = "Lien de page périmé : la liste reprend au début."
                rows, next_cursor = await service.list_users(uow, user, filters, PageRequest(PAGE_SIZE))
        query = {"role": role, "school_id": school_id, "active": active}
        next_url = "/administration?" + urlencode({**query, "cursor": next_cursor}) if next_cursor else None
        return page(
            request,
            "auth/utilisateurs.html",
            user,
            errors=errors,
            status_code=200,
            users=rows,
            schools=schools,
            uai=uai,
            roles=ROLE_CHOICES,
            actives=ACTIVE_CHOICES,
            filters=query,
            next_url=next_url,
            first_page=bool(cursor),
        )

    # --- creation ------------------------------------------------------------------------------------------

    async def _new_form(
        self, request: Request[Any, Any, Any], state: State, user: User, form: NewUserForm, errors: dict[str, str]
    ) -> Template:
        async with state.session_factory() as session:
            schools = await all_schools(session, user)
        return page(
            request, "auth/nouvel_utilisateur.html", user, errors=errors, form=form, schools=schools, roles=ROLE_CHOICES
        )

    @get("/utilisateurs/nouveau")
    async def new_user_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state)
        kept = kept_form(request)  # typed before the confirmation page
        return await self._new_form(request, state, user, NewUserForm.model_validate(kept or {}), {})

    @post("/utilisateurs/nouveau", status_code=303)
    async def create_user(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[NewUserForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state, "/administration/utilisateurs/nouveau")
        password, errors = chosen_password(data.how, data.password)
        body = {
            "email": data.email.strip(),
            "full_name": data.full_name,
            "password": password or unknown_password(data.email.strip()),
            "roles": data.roles,
            "school_ids": data.school_ids,
        }
        try:
            account = UserCreate.model_validate(body)
        except ValidationError as exc:
            errors = {**french_schema_errors(exc, body), **errors}
        if errors:
            return await self._new_form(request, state, user, data, errors)
        async with state.session_factory() as session:
            try:
                created = await service.create_user(uow_of(state, session), user, account, actor_of(request, user))
            except DomainError as exc:
                await session.rollback()
                fields = {"school_ids": "school_ids", "roles": "roles", "email": "email", "password": "password"}
                errors = domain_errors(exc, fields, codes=REFUSAL_FIELDS)
                return await self._new_form(request, state, user, data, errors)
        if password:
            flash(request, f"Compte créé pour {created.full_name}.")
        else:
            async with state.session_factory() as session:
                uow = uow_of(state, session)
                invited = await service.get_user(uow, user, created.id)
                await invitations.invite(uow, user, invited, actor_of(request, user))
            flash(
                request,
                f"Compte créé pour {created.full_name} : une invitation pour choisir son mot de passe est envoyée à "
                f"{created.email} (lien valable {invitations.LINK_LIFETIME_HOURS} heures).",
            )
        return Redirect(f"/administration/utilisateurs/{created.id}", status_code=303)

    # --- one account ---------------------------------------------------------------------------------------

    async def _account(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        account_id: UUID,
        *,
        errors: dict[str, str] | None = None,
        form: UserEditForm | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            try:
                account = await service.get_user(UnitOfWork(session, None), user, account_id)
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            schools = await all_schools(session, user)
            invitation = await invitations.state_of(UnitOfWork(session, None), account.id)
        if form is None:
            form = UserEditForm(
                full_name=account.full_name,
                roles=list(account.roles),
                school_ids=[str(s.id) for s in account.schools],
            )
        return page(
            request,
            "auth/utilisateur.html",
            user,
            errors=errors,
            account=account,
            form=form,
            schools=schools,
            roles=ROLE_CHOICES,
            itself=account.id == user.id,
            invitation=invitation,
        )

    @get("/utilisateurs/{account_id:uuid}")
    async def account_page(self, account_id: FromPath[UUID], request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state)
        kept = kept_form(request)  # the account form typed before the confirmation page
        form = UserEditForm.model_validate(kept) if kept and "full_name" in kept else None
        return await self._account(request, state, user, account_id, form=form)

    async def _change(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        account_id: UUID,
        patch: UserPatch,
        done: str,
        form: UserEditForm | None = None,
    ) -> Template | Redirect:
        async with state.session_factory() as session:
            try:
                account = await service.update_user(
                    uow_of(state, session), user, account_id, patch, actor_of(request, user)
                )
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            except DomainError as exc:
                await session.rollback()
                fields = {"roles": "roles", "school_ids": "school_ids", "full_name": "full_name"}
                errors = domain_errors(exc, fields, codes=REFUSAL_FIELDS)
                return await self._account(request, state, user, account_id, errors=errors, form=form)
            name = account.full_name
        flash(request, done.format(name=name))
        return Redirect(f"/administration/utilisateurs/{account_id}", status_code=303)

    @post("/utilisateurs/{account_id:uuid}", status_code=303)
    async def update_account(
        self,
        account_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[UserEditForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state, f"/administration/utilisateurs/{account_id}")
        body = {"full_name": data.full_name, "roles": data.roles, "school_ids": data.school_ids}
        try:
            patch = UserPatch.model_validate(body)
        except ValidationError as exc:
            errors = french_schema_errors(exc, body)
            return await self._account(request, state, user, account_id, errors=errors, form=data)
        return await self._change(request, state, user, account_id, patch, "Compte de {name} enregistré.", data)

    @post("/utilisateurs/{account_id:uuid}/desactiver", status_code=303)
    async def deactivate_account(
        self, account_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state, f"/administration/utilisateurs/{account_id}")
        patch = UserPatch(is_active=False)
        return await self._change(
            request, state, user, account_id, patch, "Compte de {name} désactivé : ses sessions sont fermées."
        )

    @post("/utilisateurs/{account_id:uuid}/reactiver", status_code=303)
    async def reactivate_account(
        self, account_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state, f"/administration/utilisateurs/{account_id}")
        return await self._change(
            request, state, user, account_id, UserPatch(is_active=True), "Compte de {name} réactivé."
        )

    @post("/utilisateurs/{account_id:uuid}/mot-de-passe", status_code=303)
    async def reset_password(
        self,
        account_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[PasswordForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state, f"/administration/utilisateurs/{account_id}")
        password, errors = chosen_password(data.how, data.password)
        if errors:
            return await self._account(request, state, user, account_id, errors=errors)
        async with state.session_factory() as session:
            try:
                account = await service.get_user(UnitOfWork(session, None), user, account_id)
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            email, active = account.email, account.is_active
        if password is None and not active:
            errors = {"how": "le compte est désactivé : aucun lien ne lui est envoyé ; définissez le mot de passe ici"}
            return await self._account(request, state, user, account_id, errors=errors)
        async with state.session_factory() as session:
            reset = PasswordReset(password=password or unknown_password(email))
            try:
                await service.reset_password(uow_of(state, session), user, account_id, reset, actor_of(request, user))
            except InvalidInput as exc:
                await session.rollback()
                errors = {"password": exc.errors[0].message if exc.errors else exc.detail}
                return await self._account(request, state, user, account_id, errors=errors)
        if password:
            flash(request, "Mot de passe réinitialisé : les sessions du compte sont fermées.")
        else:
            await mail_link(state, request, user, email)
            flash(
                request,
                "Mot de passe réinitialisé : les sessions du compte sont fermées et un lien pour en choisir un "
                f"nouveau est envoyé à {email} (valable une heure).",
            )
        return Redirect(f"/administration/utilisateurs/{account_id}", status_code=303)

    @post("/utilisateurs/{account_id:uuid}/invitation", status_code=303)
    async def resend_invitation(
        self, account_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        """A new invitation mail (a new 72-hour link; the previous one ends), e.g. once the first has expired."""
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state, f"/administration/utilisateurs/{account_id}")
        async with state.session_factory() as session:
            uow = uow_of(state, session)
            try:
                account = await service.get_user(uow, user, account_id)
                await invitations.invite(uow, user, account, actor_of(request, user))
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            except DomainError as exc:
                await session.rollback()
                return await self._account(request, state, user, account_id, errors={"_": exc.detail})
            email = account.email
        flash(
            request,
            f"Invitation envoyée à {email} : le nouveau lien est valable {invitations.LINK_LIFETIME_HOURS} heures, "
            "l'ancien ne sert plus.",
        )
        return Redirect(f"/administration/utilisateurs/{account_id}", status_code=303)


PAGES: list[type[Controller]] = [UserPages, WelcomePages]

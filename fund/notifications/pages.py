"""« Mes notifications », for every role: one's own notifications (unread first), each leading to its page and
marked read when followed, « Tout marquer comme lu », and how the non-urgent ones come by mail."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field

from fund.core.errors import NotFound
from fund.notifications import inbox, service
from fund.web.pages import PageController, flash, local_path, page, signed_in, uow_of

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
PAGE_SIZE = 20
HOME = "/notifications"
MODES = (
    ("immediate", "Un courriel à chaque notification"),
    ("digest", "Un seul courriel récapitulatif par jour"),
)
MODE_ERROR = "choisir « un courriel à chaque notification » ou « un récapitulatif par jour »"


class PreferencesForm(BaseModel):
    mail: str = Field(default="", max_length=20)


class NotificationPages(PageController):
    path = HOME

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        apres: str | None,
        errors: dict[str, str] | None = None,
    ) -> Template:
        user = await signed_in(request, state)
        async with state.session_factory() as session:
            rows, cursor = await inbox.inbox_page(session, user.id, PAGE_SIZE, (apres or "")[:100] or None)
            chosen = await service.get_mode(uow_of(state, session), user)
        items = [
            {
                "id": n.id,
                "subject": service.subject_of(n.kind, n.context),
                "urgent": n.urgent,
                "created_at": n.created_at,
                "read_at": n.read_at,
            }
            for n in rows
        ]
        return page(
            request,
            "notifications/mes_notifications.html",
            user,
            errors=errors,
            items=items,
            next_cursor=cursor,
            first_page=not apres,
            mode=chosen,
            modes=MODES,
        )

    @get()
    async def notifications_page(
        self, request: Request[Any, Any, Any], state: State, apres: FromQuery[str | None] = None
    ) -> Template:
        return await self._page(request, state, apres)

    @get("/{notification_id:uuid}/ouvrir")
    async def follow(
        self, request: Request[Any, Any, Any], state: State, notification_id: FromPath[UUID]
    ) -> Template | Redirect:
        """Follow a notification's link: it is marked read on the way (only its recipient can)."""
        user = await signed_in(request, state)
        async with state.session_factory() as session:
            try:
                notification = await service.mark_read(uow_of(state, session), user, notification_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            link = notification.link
        return Redirect(local_path(link), status_code=303)

    @post("/{notification_id:uuid}/lue", status_code=303)
    async def mark_read(
        self, request: Request[Any, Any, Any], state: State, notification_id: FromPath[UUID]
    ) -> Template | Redirect:
        user = await signed_in(request, state)
        async with state.session_factory() as session:
            try:
                await service.mark_read(uow_of(state, session), user, notification_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
        flash(request, "Notification marquée comme lue.")
        return Redirect(HOME, status_code=303)

    @post("/tout-lu", status_code=303)
    async def mark_all_read(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        user = await signed_in(request, state)
        async with state.session_factory() as session:
            marked = await service.mark_all_read(uow_of(state, session), user)
        if marked:
            flash(
                request,
                f"{marked} notification{'s' if marked > 1 else ''} marquée{'s' if marked > 1 else ''} "
                f"comme lue{'s' if marked > 1 else ''}.",
            )
        else:
            flash(request, "Aucune notification non lue.")
        return Redirect(HOME, status_code=303)

    @post("/preferences", status_code=303)
    async def preferences(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[PreferencesForm, FORM]
    ) -> Template | Redirect:
        user = await signed_in(request, state)
        if data.mail not in dict(MODES):
            return await self._page(request, state, None, errors={"mail": MODE_ERROR})
        async with state.session_factory() as session:
            await service.set_mode(uow_of(state, session), user, data.mail)
        flash(
            request,
            "Préférence enregistrée : "
            + ("un courriel à chaque notification." if data.mail == "immediate" else "un récapitulatif par jour.")
            + " Les avis urgents sont toujours envoyés tout de suite.",
        )
        return Redirect(HOME, status_code=303)


PAGES = [NotificationPages]

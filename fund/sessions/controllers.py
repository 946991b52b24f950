from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from fund.applications.schemas import ApplicationOut, VoteIn
from fund.applications.views import detailed
from fund.auth.guards import requires_role
from fund.auth.models import User
from fund.core.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.core.pagination import Page
from fund.core.uow import UnitOfWork
from fund.sessions import minutes, service
from fund.sessions.models import CommitteeSession
from fund.sessions.schemas import AgendaItemOut, SessionOpen, SessionOut

CHAIR = requires_role("chair")


async def session_out(uow: UnitOfWork, user: User, session: CommitteeSession) -> SessionOut:
    view = await service.view(uow, user, session.id)
    return SessionOut(
        id=session.id,
        held_on=session.held_on,
        status=session.status,
        opened_by_id=session.opened_by_id,
        created_at=session.created_at,
        closed_at=session.closed_at,
        attendee_ids=[a.id for a in view.attendees],
        agenda=[
            AgendaItemOut(
                application_id=application.id,
                reference=application.reference,
                kind=item.kind,
                position=item.position,
                category=application.category,
                amount_requested_cents=application.amount_requested_cents,
                urgent=application.urgent,
                status=item.final_status or application.status,
                amount_granted_cents=item.final_amount_cents if item.final_status else application.amount_granted_cents,
            )
            for item, application in view.items
        ],
    )


class SessionController(Controller):
    path = "/sessions"
    tags = ["committee sessions"]
    security = BEARER
    guards = [requires_role("committee", "chair")]
    dependencies = PAGE

    @post(guards=[CHAIR], summary="Open a session; its agenda lists the requests to decide and the decisions to ratify")
    async def open_session(
        self, data: JSONBody[SessionOpen], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> SessionOut:
        return await session_out(uow, user, await service.open_session(uow, user, data, actor))

    @get(summary="Committee sessions, newest first")
    async def list_sessions(self, uow: UoW, user: CurrentUser, page: Paging) -> Page[SessionOut]:
        rows, cursor = await service.list_for(uow, user, page)
        return Page[SessionOut](items=[await session_out(uow, user, s) for s in rows], next_cursor=cursor)

    @get("/{session_id:uuid}", summary="One session with its agenda and the members present")
    async def get_session(self, session_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> SessionOut:
        view = await service.view(uow, user, session_id)
        return await session_out(uow, user, view.session)

    @post("/{session_id:uuid}/attendance", status_code=200, summary="Record yourself present")
    async def attend_session(
        self, session_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> SessionOut:
        return await session_out(uow, user, await service.attend(uow, user, session_id, actor))

    @post(
        "/{session_id:uuid}/agenda/{application_id:uuid}/votes",
        summary="Vote on a request of the agenda (records you present); the policy may decide at once",
    )
    async def vote_in_session(
        self,
        session_id: FromPath[UUID],
        application_id: FromPath[UUID],
        data: JSONBody[VoteIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> Response[ApplicationOut]:
        application = await service.vote(uow, user, session_id, application_id, data, actor)
        return Response(await detailed(uow, user, application), status_code=201)

    @post(
        "/{session_id:uuid}/close", guards=[CHAIR], status_code=200, summary="Close the session (freezes the outcomes)"
    )
    async def close_session(
        self, session_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> SessionOut:
        return await session_out(uow, user, await service.close(uow, user, session_id, actor))

    @get(
        "/{session_id:uuid}/minutes",
        summary="The minutes (procès-verbal) as a printable HTML document, students pseudonymised",
        media_type="text/html; charset=utf-8",
    )
    async def session_minutes(self, session_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> Response[str]:
        name, html = await minutes.render(uow, user, session_id)
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

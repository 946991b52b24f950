from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody

from fund.applications.schemas import ApplicationOut, VoteIn
from fund.applications.views import detailed
from fund.auth.guards import CHAIR, COMMITTEE
from fund.auth.models import User
from fund.core.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.core.pagination import Page
from fund.core.uow import UnitOfWork
from fund.meetings import minutes, minutes_pdf, service
from fund.meetings.models import Meeting
from fund.meetings.schemas import AgendaItemOut, AttendanceIn, AttendanceOut, MeetingOpen, MeetingOut
from fund.privacy.service import record_access


async def meeting_out(uow: UnitOfWork, user: User, meeting: Meeting) -> MeetingOut:
    view = await service.view(uow, user, meeting.id)
    return MeetingOut(
        id=meeting.id,
        held_on=meeting.held_on,
        status=meeting.status,
        place=meeting.place,
        opened_by_id=meeting.opened_by_id,
        created_at=meeting.created_at,
        closed_at=meeting.closed_at,
        attendee_ids=[a.id for a in view.attendees],
        attendance=[
            AttendanceOut(member_id=a.member.id, full_name=a.member.full_name, status=a.status) for a in view.roll
        ],
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


class MeetingController(Controller):
    path = "/meetings"
    tags = ["committee meetings"]
    security = BEARER
    guards = [COMMITTEE]
    dependencies = PAGE

    @post(guards=[CHAIR], summary="Open a meeting; its agenda lists the requests to decide and the decisions to ratify")
    async def open_meeting(
        self, data: JSONBody[MeetingOpen], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> MeetingOut:
        return await meeting_out(uow, user, await service.open_meeting(uow, user, data, actor))

    @get(summary="Committee meetings, newest first")
    async def list_meetings(self, uow: UoW, user: CurrentUser, page: Paging) -> Page[MeetingOut]:
        rows, cursor = await service.list_for(uow, user, page)
        return Page[MeetingOut](items=[await meeting_out(uow, user, s) for s in rows], next_cursor=cursor)

    @get("/{meeting_id:uuid}", summary="One meeting with its agenda and the members present")
    async def get_meeting(self, meeting_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> MeetingOut:
        view = await service.view(uow, user, meeting_id)
        return await meeting_out(uow, user, view.meeting)

    @post("/{meeting_id:uuid}/attendance", status_code=200, summary="Record yourself present")
    async def attend_meeting(
        self, meeting_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> MeetingOut:
        return await meeting_out(uow, user, await service.attend(uow, user, meeting_id, actor))

    @put(
        "/{meeting_id:uuid}/attendance/{member_id:uuid}",
        guards=[CHAIR],
        summary="Mark a member of the committee present, absent or excused (the chair, while the meeting is open)",
    )
    async def set_attendance(
        self,
        meeting_id: FromPath[UUID],
        member_id: FromPath[UUID],
        data: JSONBody[AttendanceIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> MeetingOut:
        meeting = await service.set_attendance(uow, user, meeting_id, member_id, data, actor)
        return await meeting_out(uow, user, meeting)

    @post(
        "/{meeting_id:uuid}/agenda/{application_id:uuid}/votes",
        summary="Vote on a request of the agenda (records you present); the policy may decide at once",
    )
    async def vote_in_meeting(
        self,
        meeting_id: FromPath[UUID],
        application_id: FromPath[UUID],
        data: JSONBody[VoteIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> Response[ApplicationOut]:
        application = await service.vote(uow, user, meeting_id, application_id, data, actor)
        return Response(await detailed(uow, user, application), status_code=201)

    @post(
        "/{meeting_id:uuid}/close", guards=[CHAIR], status_code=200, summary="Close the meeting (freezes the outcomes)"
    )
    async def close_meeting(
        self, meeting_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> MeetingOut:
        return await meeting_out(uow, user, await service.close(uow, user, meeting_id, actor))

    @get(
        "/{meeting_id:uuid}/minutes",
        summary="The minutes (procès-verbal) as a printable HTML document, students pseudonymised",
        media_type="text/html; charset=utf-8",
    )
    async def meeting_minutes(
        self, meeting_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> Response[str]:
        name, html = await minutes.render(uow, user, meeting_id)
        await record_access(uow.session, user.id, "minutes", meeting_id, actor.ip)
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get(
        "/{meeting_id:uuid}/minutes.pdf",
        summary="The minutes (procès-verbal) as a PDF ready to sign, students pseudonymised; a draft while open",
        media_type="application/pdf",
    )
    async def meeting_minutes_pdf(
        self, meeting_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> Response[bytes]:
        meeting, pdf = await minutes_pdf.render(uow, user, meeting_id)
        await record_access(uow.session, user.id, "minutes", meeting.id, actor.ip)
        prefix = "" if meeting.status == "closed" else "projet-"
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{prefix}pv-comite-{meeting.held_on.isoformat()}.pdf"'
            },
        )

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from fund.core.deps import BEARER, PAGE, CurrentUser, Paging, UoW
from fund.core.pagination import Page
from fund.notifications import service
from fund.notifications.models import Notification
from fund.notifications.schemas import MailSettings, NotificationOut


def notification_out(notification: Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.id,
        kind=notification.kind,
        subject=service.subject_of(notification.kind, notification.context),
        link=notification.link,
        urgent=notification.urgent,
        created_at=notification.created_at,
        read_at=notification.read_at,
        mail_status=notification.mail_status,
    )


class NotificationController(Controller):
    path = "/notifications"
    tags = ["notifications"]
    security = BEARER
    dependencies = PAGE

    @get(summary="Your notifications, newest first")
    async def list_notifications(
        self,
        uow: UoW,
        user: CurrentUser,
        page: Paging,
        unread: Annotated[bool, QueryParameter(description="Only those not read yet")] = False,
    ) -> Page[NotificationOut]:
        rows, cursor = await service.list_for(uow, user, page, unread=unread)
        return Page[NotificationOut](items=[notification_out(n) for n in rows], next_cursor=cursor)

    @post("/{notification_id:uuid}/read", status_code=200, summary="Mark one notification read")
    async def read_notification(self, notification_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> NotificationOut:
        return notification_out(await service.mark_read(uow, user, notification_id))

    @post("/read-all", status_code=200, summary="Mark all your notifications read")
    async def read_all(self, uow: UoW, user: CurrentUser) -> dict[str, int]:
        return {"marked": await service.mark_all_read(uow, user)}

    @get("/settings", summary="How you receive the non-urgent notifications by mail")
    async def get_settings(self, uow: UoW, user: CurrentUser) -> MailSettings:
        return MailSettings(mail=await service.get_mode(uow, user))

    @put("/settings", summary="Choose a mail for each notification, or one daily digest (urgent ones always go)")
    async def put_settings(self, data: JSONBody[MailSettings], uow: UoW, user: CurrentUser) -> MailSettings:
        return MailSettings(mail=await service.set_mode(uow, user, data.mail))

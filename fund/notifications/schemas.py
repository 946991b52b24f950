from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from fund.auth.schemas import Strict


class NotificationOut(BaseModel):
    id: UUID
    kind: str
    subject: str
    link: str
    urgent: bool
    created_at: datetime.datetime
    read_at: datetime.datetime | None
    mail_status: str


class MailSettings(Strict):
    """``immediate``: a mail for each notification; ``digest``: one mail a day for the non-urgent kinds."""

    mail: Literal["immediate", "digest"]

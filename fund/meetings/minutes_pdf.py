"""The minutes (procès-verbal) of a committee meeting as a PDF ready to sign, A4, in French.

Made the one way documents are made (``fund.core.documents``): the HTML template
``meetings/documents/minutes.html`` on the fund's letterhead, rendered by WeasyPrint (fonts embedded, tagged).
"""

from __future__ import annotations

from typing import Any

from fund.auth.models import User
from fund.core.documents import render_pdf_async
from fund.core.uow import UnitOfWork
from fund.funds.models import Fund
from fund.meetings.minutes import gather

TEMPLATE = "meetings/documents/minutes.html"


def _contact_lines(fund: Fund) -> list[str]:
    from fund.letters.service import contact_lines  # the letterhead's contact, the same on every document

    return contact_lines(fund)


async def render(uow: UnitOfWork, user: User, meeting_id: Any) -> tuple[Any, bytes]:
    """(the meeting, the PDF bytes) of its minutes; a draft while the meeting is open."""
    context = await gather(uow, user, meeting_id)
    meeting = context["meeting"]
    fund = await uow.session.get(Fund, meeting.fund_id)
    assert fund is not None
    title = f"Procès-verbal du comité d'attribution — séance du {context['held_on']}"
    document = {
        **context,
        "title": title,
        "footer": f"Procès-verbal — séance du {context['held_on']}" + (" — PROJET" if context["draft"] else ""),
        "fund": fund,
        "contact_lines": _contact_lines(fund),
    }
    # Rendered in a thread (tens of milliseconds per page): other requests go on meanwhile.
    return meeting, await render_pdf_async(TEMPLATE, document)

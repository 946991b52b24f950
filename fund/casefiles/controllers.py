"""``/api/v1``: the auditor's case file of one request, or of a random sample of a period's requests (ZIP, streamed).

Administrator and accountant only (see :mod:`fund.casefiles.access`); a request of another fund is 404; every
request put in a file is recorded in the access records before the first byte is sent."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from fund.auth.guards import requires_role
from fund.auth.models import User
from fund.casefiles import service
from fund.casefiles.access import AUDITOR_ROLES
from fund.core.deps import BEARER, CurrentActor, CurrentUser
from fund.core.errors import InvalidInput
from fund.disbursements.controllers import parse_date
from fund.documents.storage import DocumentStore

ZIP = "application/zip"
AUDITORS = requires_role(*AUDITOR_ROLES)
DateFrom = Annotated[
    str | None, QueryParameter(name="from", description="First day of filing (YYYY-MM-DD)", max_length=10)
]
DateTo = Annotated[str | None, QueryParameter(name="to", description="Last day of filing (YYYY-MM-DD)", max_length=10)]
Size = Annotated[
    str | None, QueryParameter(name="size", description="How many requests to draw (1 to 1000)", max_length=6)
]
Seed = Annotated[
    str | None,
    QueryParameter(name="seed", description="The draw's seed (to draw again the same sample)", max_length=20),
]


def parse_int(field: str, value: str | None, message: str) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit():
        raise InvalidInput(field, message)
    return int(value.strip())


def case_file_stream(state: State, user: User, selection: service.Selection) -> Stream:
    """The ZIP of the selection, streamed; the API and the pages both download through here."""
    headers = {
        "Content-Disposition": f'attachment; filename="{selection.file_name}"',
        "Cache-Control": "no-store",
        "X-Case-File-Count": str(len(selection.application_ids)),
    }
    if selection.sample is not None:
        headers["X-Case-File-Seed"] = str(selection.sample.seed)
    chunks = service.case_file_chunks(
        state.session_factory, DocumentStore.from_settings(state.settings), user, selection
    )
    return Stream(chunks, media_type=ZIP, headers=headers)


class CaseFileController(Controller):
    path = "/"
    security = BEARER
    tags = ["case files"]
    guards = [AUDITORS]

    @get(
        "/applications/{application_id:uuid}/case-file.zip",
        summary="The auditor's case file of one request (ZIP, streamed)",
        description="The request (JSON and PDF), its supporting documents, the votes, the decision letters, the "
        "payments with their bank references, the journal entries and the audit events with their chained hashes, "
        "and MANIFEST.sha256; `fund audit verify --case-file` checks it offline. Administrator or accountant of the "
        "request's fund (another fund's request: 404). Recorded in the access records.",
        media_type=ZIP,
    )
    async def one(self, state: State, user: CurrentUser, actor: CurrentActor, application_id: FromPath[UUID]) -> Stream:
        async with state.session_factory() as session:
            selection = await service.select_one(session, user, application_id)
            await service.record_downloads(session, user, selection, actor.ip)
        return case_file_stream(state, user, selection)

    @get(
        "/case-files/sample.zip",
        summary="The auditor's case files of requests drawn at random among a period's (ZIP, streamed)",
        description="`size` requests (1 to 1000) drawn among those filed from `from` to `to` (French days, both "
        "included); the `seed` (given, or drawn and sent back in `X-Case-File-Seed` and in echantillon.json) makes "
        "the draw reproducible. Bad parameters: 400 naming the field. Recorded in the access records.",
        media_type=ZIP,
    )
    async def sample(
        self,
        state: State,
        user: CurrentUser,
        actor: CurrentActor,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        size: Size = None,
        seed: Seed = None,
    ) -> Stream:
        first, last = parse_date("from", date_from), parse_date("to", date_to)
        count = parse_int("size", size, f"nombre de demandes attendu entre 1 et {service.MAX_SAMPLE}")
        drawn_with = parse_int("seed", seed, "graine attendue : un nombre entier positif")
        async with state.session_factory() as session:
            selection = await service.select_sample(session, user, first, last, count, drawn_with)
            await service.record_downloads(session, user, selection, actor.ip)
        return case_file_stream(state, user, selection)

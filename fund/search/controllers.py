from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from fund.applications import workflow
from fund.auth.guards import COMMITTEE, requires_role
from fund.auth.middleware import AUTOCOMMIT_READS
from fund.core.deps import BEARER, PAGE, Cipher, CurrentActor, CurrentUser, Paging, UoW
from fund.search import duplicates, service
from fund.search.schemas import FlagCheckIn, FlagCheckOut, FlagOut, SearchHitOut, SearchPage

SEARCHERS = requires_role("referent", "committee", "chair", "accountant")


def hit_out(hit: service.Hit, reader: service.Reader) -> SearchHitOut:
    row = hit.application
    owner = row.school_id in service.access.owned_schools(reader.user)
    return SearchHitOut(
        id=row.id,
        reference=row.reference,
        status=row.status,
        status_label=workflow.label(row.status),
        category=row.category,
        school_id=row.school_id,
        school_name=row.school_name,
        amount_requested_cents=row.amount_requested_cents,
        amount_granted_cents=row.amount_granted_cents,
        period_start=row.period_start,
        period_end=row.period_end,
        student_name=f"{row.first_name} {row.last_name}" if owner else None,
        matched=hit.kind,
        score=hit.score if hit.kind in ("name", "school") else 1.0,
    )


def flag_out(flag: duplicates.Flag) -> FlagOut:
    check = flag.check
    return FlagOut(
        key=flag.key,
        rule=flag.rule,
        label=flag.label,
        message=flag.message,
        reference=flag.reference,
        application_id=flag.application_id,
        check=FlagCheckOut(reason=check.reason, by=check.by, at=check.at) if check else None,
    )


class SearchController(Controller):
    path = "/search"
    security = BEARER
    tags = ["search"]
    dependencies = PAGE

    @get(
        guards=[SEARCHERS],
        summary="Find requests by reference, student's name, school, amount or IBAN",
        description=(
            "`q`: a reference (`FS-2026-000123`, `123`, a fragment `2026-0001`), a student's name (accents, case and "
            "word order ignored, typing errors tolerated), a school, an amount (`480`, `480,00 €`) or an IBAN typed "
            "in full (compared by keyed fingerprint). Results go through the lists' access rules: the committee "
            "finds requests by reference and school only; the accountant, the requests their fund pays, by "
            "reference, amount and IBAN. Best first (exact reference, fragments, IBAN, names, schools, amounts; "
            "by similarity within each), keyset-paginated (`next_cursor`)."
        ),
    )
    async def search(
        self,
        uow: UoW,
        user: CurrentUser,
        page: Paging,
        cipher: Cipher,
        q: Annotated[str | None, QueryParameter(description="What to look for", max_length=200)] = None,
    ) -> SearchPage:
        hits, cursor, reader = await service.search(uow, user, q, page, cipher)
        return SearchPage(items=[hit_out(h, reader) for h in hits], next_cursor=cursor)


class FlagController(Controller):
    path = "/applications/{application_id:uuid}/flags"
    security = BEARER
    tags = ["applications"]

    @get(
        guards=[requires_role("referent", "committee", "chair")],
        summary="Duplicate warnings on a request",
        description=(
            "Same student and category over an overlapping period (pending or granted), the same young person "
            "registered at two schools, the same bank account for other families or schools within the year, a "
            "request that repeats one refused less than `repeat_refusal_days` ago (the policy). Never a block."
        ),
        opt=AUTOCOMMIT_READS,
    )
    async def list_flags(self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> list[FlagOut]:
        _, flags = await duplicates.flags_of_request(uow, user, application_id)
        return [flag_out(f) for f in flags]

    @post(
        "/{flag:str}/check",
        guards=[COMMITTEE],
        status_code=200,
        summary="Mark a duplicate warning as checked, with a reason (committee)",
    )
    async def check_flag(
        self,
        application_id: FromPath[UUID],
        flag: FromPath[str],
        data: JSONBody[FlagCheckIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> FlagOut:
        return flag_out(await duplicates.check_flag(uow, user, application_id, flag, data.reason, actor))

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from fund.applications import decisions, service
from fund.applications.idempotency import create_once
from fund.applications.models import STATUSES
from fund.applications.schemas import (
    ApplicationCreate,
    ApplicationOut,
    ApplicationPage,
    ApplicationPatch,
    ChairDecisionIn,
    HistoryEntry,
    PayeeIn,
    PayeeOut,
    RatificationIn,
    ReasonIn,
    RequestInfoIn,
    VoteIn,
)
from fund.applications.views import detailed, page_of, payee_of, payment_standings, summary_of, to_out
from fund.auth.guards import CASE_READERS, CHAIR, COMMITTEE, REFERENT
from fund.auth.middleware import AUTOCOMMIT_READS
from fund.core.deps import BEARER, PAGE, Cipher, CurrentActor, CurrentUser, Paging, UoW
from fund.core.errors import InvalidInput
from fund.funds.policy import CATEGORIES
from fund.privacy.service import record_access


class ApplicationController(Controller):
    path = "/applications"
    security = BEARER
    tags = ["applications"]
    dependencies = PAGE

    @post(
        guards=[REFERENT],
        summary="File an aid request (draft) for a student of your school",
        description=(
            "Send an `Idempotency-Key` header (up to 100 characters, unique per request you file) to make a retried "
            "request safe: the same key with the same body gives back the request it filed (200 instead of 201, "
            "header `Idempotent-Replayed: true`), never a second one; the same key with another body is refused "
            "(422, `errors[0].field` = `Idempotency-Key`)."
        ),
        responses={200: ResponseSpec(ApplicationOut, description="A retry: the request this key filed before")},
    )
    async def create_application(
        self,
        data: JSONBody[ApplicationCreate],
        uow: UoW,
        user: CurrentUser,
        cipher: Cipher,
        actor: CurrentActor,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=100, required=False)
        ] = None,
    ) -> Response[ApplicationOut]:
        application, created = await create_once(uow, user, data, cipher, actor, idempotency_key)
        out = await detailed(uow, user, application)
        if created:
            return Response(out, status_code=201)
        return Response(out, status_code=200, headers={"Idempotent-Replayed": "true"})

    @get(guards=[CASE_READERS], summary="Aid requests visible to you, newest first", opt=AUTOCOMMIT_READS)
    async def list_applications(
        self,
        uow: UoW,
        user: CurrentUser,
        page: Paging,
        status: Annotated[str | None, QueryParameter(description="One of " + ", ".join(STATUSES))] = None,
        category: Annotated[str | None, QueryParameter(description="One of " + ", ".join(CATEGORIES))] = None,
        school_id: FromQuery[UUID | None] = None,
    ) -> ApplicationPage:
        if status is not None and status not in STATUSES:
            raise InvalidInput("status", f"statut inconnu (attendu : {', '.join(STATUSES)})")
        if category is not None and category not in CATEGORIES:
            raise InvalidInput("category", f"catégorie inconnue (attendu : {', '.join(CATEGORIES)})")
        filters = service.ListFilters(status=status, category=category, school_id=school_id)
        rows, cursor = await service.list_for(uow, user, filters, page)
        return page_of(rows, cursor, user, await payment_standings(uow.session, rows))

    @get(
        "/{application_id:uuid}",
        guards=[CASE_READERS],
        summary="One aid request, with its votes and decision",
        opt=AUTOCOMMIT_READS,
    )
    async def get_application(
        self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> ApplicationOut:
        application, student, fund = await service.get_for_reading(uow, user, application_id)
        # Outside a transaction (AUTOCOMMIT_READS): the record is written at once, by its own statement.
        await record_access(uow.session, user.id, "application", application.id, actor.ip, commit=False)
        return await detailed(uow, user, application, student, fund)

    @patch(
        "/{application_id:uuid}",
        guards=[REFERENT],
        summary="Edit a draft (or answer a question); send `version`",
    )
    async def patch_application(
        self,
        application_id: FromPath[UUID],
        data: JSONBody[ApplicationPatch],
        uow: UoW,
        user: CurrentUser,
        cipher: Cipher,
        actor: CurrentActor,
    ) -> ApplicationOut:
        application = await service.patch(uow, user, application_id, data, cipher, actor)
        return await detailed(uow, user, application)

    @post("/{application_id:uuid}/submit", guards=[REFERENT], status_code=200, summary="Submit to the committee")
    async def submit_application(
        self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> ApplicationOut:
        return await detailed(uow, user, await service.submit(uow, user, application_id, actor))

    @post("/{application_id:uuid}/withdraw", guards=[REFERENT], status_code=200, summary="Withdraw the request")
    async def withdraw_application(
        self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> ApplicationOut:
        return await detailed(uow, user, await service.withdraw(uow, user, application_id, actor))

    @post("/{application_id:uuid}/votes", guards=[COMMITTEE], summary="Vote; the policy may decide at once")
    async def vote_on_application(
        self, application_id: FromPath[UUID], data: JSONBody[VoteIn], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> Response[ApplicationOut]:
        voted = await decisions.vote(uow, user, application_id, data, actor)
        answer = await detailed(
            uow, user, voted.application, fund=voted.fund, votes=voted.votes, panel=voted.panel, payment=voted.payment
        )
        return Response(answer, status_code=201)

    @post(
        "/{application_id:uuid}/request-info",
        guards=[COMMITTEE],
        status_code=200,
        summary="Ask the referent for more information",
    )
    async def request_info(
        self,
        application_id: FromPath[UUID],
        data: JSONBody[RequestInfoIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> ApplicationOut:
        return await detailed(uow, user, await decisions.request_info(uow, user, application_id, data, actor))

    @put(
        "/{application_id:uuid}/payee",
        guards=[REFERENT],
        summary="Correct the payee of an approved request (none of its transfers in a batch or at the bank); audited",
        description="By the request's school's referents only. After the bank returned a transfer, this is the "
        "correction that lets the accountant re-issue it: the returned transfers are marked corrected and the "
        "fund's accountants are told.",
    )
    async def change_payee(
        self,
        application_id: FromPath[UUID],
        data: JSONBody[PayeeIn],
        uow: UoW,
        user: CurrentUser,
        cipher: Cipher,
        actor: CurrentActor,
    ) -> PayeeOut:
        return payee_of(await service.change_payee(uow, user, application_id, data, cipher, actor))

    @post(
        "/{application_id:uuid}/answer",
        guards=[REFERENT],
        status_code=200,
        summary="Answer the committee's question (in `reason`); the request goes back to the committee",
    )
    async def answer_committee(
        self, application_id: FromPath[UUID], data: JSONBody[ReasonIn], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> ApplicationOut:
        return await detailed(uow, user, await decisions.answer(uow, user, application_id, data, actor))

    @post(
        "/{application_id:uuid}/recusal",
        guards=[COMMITTEE],
        status_code=200,
        summary="Stand aside from this request, with a reason; the quorum counts those who remain",
    )
    async def recuse(
        self, application_id: FromPath[UUID], data: JSONBody[ReasonIn], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> ApplicationOut:
        return await detailed(uow, user, await decisions.recuse(uow, user, application_id, data, actor))

    @post(
        "/{application_id:uuid}/chair-decision",
        guards=[CHAIR],
        status_code=200,
        summary="The chair decides a split vote (the votes still to come can no longer decide)",
    )
    async def chair_decision(
        self,
        application_id: FromPath[UUID],
        data: JSONBody[ChairDecisionIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> ApplicationOut:
        return await detailed(uow, user, await decisions.decide_as_chair(uow, user, application_id, data, actor))

    @post(
        "/{application_id:uuid}/cancel",
        guards=[CHAIR],
        status_code=200,
        summary="Cancel an approved request before any payment (releases the budget)",
    )
    async def cancel_application(
        self, application_id: FromPath[UUID], data: JSONBody[ReasonIn], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> ApplicationOut:
        return await detailed(uow, user, await decisions.cancel(uow, user, application_id, data, actor))

    @post(
        "/{application_id:uuid}/appeal",
        guards=[REFERENT],
        status_code=200,
        summary="Appeal a rejection once, with a reason: back to review, earlier votes no longer count",
    )
    async def appeal_application(
        self, application_id: FromPath[UUID], data: JSONBody[ReasonIn], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> ApplicationOut:
        return await detailed(uow, user, await decisions.appeal(uow, user, application_id, data, actor))

    @post(
        "/{application_id:uuid}/ratification",
        guards=[CHAIR],
        status_code=200,
        summary="Record the committee's ratification or disavowal of a fast-tracked decision",
    )
    async def ratify_application(
        self,
        application_id: FromPath[UUID],
        data: JSONBody[RatificationIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> ApplicationOut:
        return await detailed(uow, user, await decisions.ratify(uow, user, application_id, data, actor))

    @get(
        "/{application_id:uuid}/history",
        guards=[CASE_READERS],
        summary="The request's audit events, oldest first",
    )
    async def application_history(
        self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser
    ) -> list[HistoryEntry]:
        events = await service.history_of(uow, user, application_id)
        return [
            HistoryEntry(
                at=e.at,
                actor_id=e.actor_id,
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                detail=e.detail,
            )
            for e in events
        ]


class RatificationController(Controller):
    path = "/ratifications"
    tags = ["applications"]
    security = BEARER
    dependencies = PAGE

    @get(
        guards=[COMMITTEE], summary="Fast-tracked decisions awaiting the committee's ratification", opt=AUTOCOMMIT_READS
    )
    async def list_ratifications(self, uow: UoW, user: CurrentUser, page: Paging) -> ApplicationPage:
        rows, cursor = await decisions.awaiting_ratification(uow, user, page)
        students = await service.students_by_id(uow, {a.student_id for a in rows})
        money = await payment_standings(uow.session, rows)
        return ApplicationPage(
            items=[to_out(a, user, student=summary_of(students.get(a.student_id)), payment=money[a.id]) for a in rows],
            next_cursor=cursor,
        )

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, patch, post
from litestar.params import FromPath, JSONBody

from fund.auth.guards import ADMIN
from fund.core.deps import BEARER, CurrentActor, CurrentUser, UoW
from fund.schools import service
from fund.schools.schemas import ReferentOut, SchoolCreate, SchoolOut, SchoolPatch


class SchoolController(Controller):
    path = "/schools"
    security = BEARER
    tags = ["schools"]

    @get(summary="Schools visible to the caller (a referent sees their own)")
    async def list_schools(self, uow: UoW, user: CurrentUser) -> list[SchoolOut]:
        return [SchoolOut.model_validate(s) for s in await service.list_visible(uow, user)]

    @post(guards=[ADMIN], summary="Register a school (administrator)")
    async def create_school(self, data: JSONBody[SchoolCreate], uow: UoW, actor: CurrentActor) -> SchoolOut:
        return SchoolOut.model_validate(await service.create(uow, data, actor))

    @patch(
        "/{school_id:uuid}",
        guards=[ADMIN],
        summary="Change a school's name, region or department (administrator); the UAI never changes",
    )
    async def update_school(
        self, school_id: FromPath[UUID], data: JSONBody[SchoolPatch], uow: UoW, actor: CurrentActor
    ) -> SchoolOut:
        return SchoolOut.model_validate(await service.update(uow, school_id, data, actor))

    @get("/{school_id:uuid}/referents", guards=[ADMIN], summary="The referents attached to a school (administrator)")
    async def list_school_referents(self, school_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> list[ReferentOut]:
        return [ReferentOut.model_validate(u) for u in await service.referents_of(uow, user.fund_id, school_id)]

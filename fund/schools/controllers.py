from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from fund.auth.guards import requires_role
from fund.deps import BEARER, CurrentActor, CurrentUser, UoW
from fund.schools import service
from fund.schools.schemas import SchoolCreate, SchoolOut


class SchoolController(Controller):
    path = "/schools"
    security = BEARER
    tags = ["schools"]

    @get(summary="Schools visible to the caller (a referent sees their own)")
    async def list_schools(self, uow: UoW, user: CurrentUser) -> list[SchoolOut]:
        return [SchoolOut.model_validate(s) for s in await service.list_visible(uow, user)]

    @post(guards=[requires_role("admin")], summary="Register a school (administrator)")
    async def create_school(self, data: JSONBody[SchoolCreate], uow: UoW, actor: CurrentActor) -> SchoolOut:
        return SchoolOut.model_validate(await service.create(uow, data, actor))

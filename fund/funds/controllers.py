from __future__ import annotations

from litestar import Controller, get, put
from litestar.params import JSONBody

from fund.auth.guards import ADMIN, requires_role
from fund.core.deps import BEARER, CurrentActor, CurrentUser, UoW
from fund.funds import service
from fund.funds.policy import Policy


class PolicyController(Controller):
    path = "/policy"
    tags = ["policy"]
    security = BEARER

    @get(guards=[requires_role("admin", "committee", "chair")], summary="The fund's approval policy")
    async def get_policy(self, uow: UoW, user: CurrentUser) -> Policy:
        return await service.policy_of(uow.session, user.fund_id)

    @put(
        guards=[ADMIN],
        summary="Replace the approval policy (validated as a whole against the current committee; audited)",
    )
    async def put_policy(self, data: JSONBody[Policy], uow: UoW, user: CurrentUser, actor: CurrentActor) -> Policy:
        return await service.replace_policy(uow, user, data, actor)

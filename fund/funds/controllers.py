from __future__ import annotations

from litestar import Controller, get, put
from litestar.params import JSONBody

from fund.auth.guards import ADMIN, requires_role
from fund.core.deps import BEARER, CurrentActor, CurrentUser, UoW
from fund.funds import service
from fund.funds.models import Fund
from fund.funds.policy import Policy
from fund.funds.schemas import FundContact, FundContactOut


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


def contact_out(fund: Fund) -> FundContactOut:
    return FundContactOut(
        name=fund.name, postal_address=fund.postal_address, email=fund.contact_email, phone=fund.contact_phone
    )


class FundContactController(Controller):
    path = "/fund/contact"
    tags = ["policy"]
    security = BEARER

    @get(guards=[requires_role("admin")], summary="The fund's contact printed on its letters")
    async def get_contact(self, uow: UoW, user: CurrentUser) -> FundContactOut:
        return contact_out(await service.get_fund(uow.session, user.fund_id))

    @put(guards=[ADMIN], summary="Replace the fund's contact printed on its letters (address, e-mail, phone; audited)")
    async def put_contact(
        self, data: JSONBody[FundContact], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> FundContactOut:
        fund = await service.replace_contact(
            uow,
            user,
            postal_address=data.postal_address or None,
            email=data.email or None,
            phone=data.phone or None,
            actor=actor,
        )
        return contact_out(fund)

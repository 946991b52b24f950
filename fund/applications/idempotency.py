"""Filing a request through the API with an ``Idempotency-Key``: a retry (the first answer lost, a 503 during a
database restart) gives back the request the key filed instead of filing it twice; the same key sent with another
body is refused (422 naming the header). Keys belong to the account that sends them, as batch keys belong to the
fund (``fund.payments.batches.create``)."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select, text

from fund.applications import service
from fund.applications.models import Application
from fund.applications.schemas import ApplicationCreate
from fund.audit.service import Actor
from fund.auth.models import User
from fund.core.errors import Forbidden, InvalidInput
from fund.core.security import FieldCipher
from fund.core.uow import UnitOfWork

HEADER = "Idempotency-Key"


def fingerprint(data: ApplicationCreate) -> str:
    """A digest of the body as understood (the same request written another way has the same digest)."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_once(
    uow: UnitOfWork, user: User, data: ApplicationCreate, cipher: FieldCipher, actor: Actor, key: str | None
) -> tuple[Application, bool]:
    """(the request, True) when filed now; (the request the key filed before, False) on a retry."""
    if not key:
        return await service.create(uow, user, data, cipher, actor), True
    if not user.has_role("referent"):
        raise Forbidden("referent_only")
    digest = fingerprint(data)
    # A retry that arrives while the first attempt is still running waits for it, then finds its request.
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"application:{user.id}:{key}"}
    )
    existing = await uow.session.scalar(
        select(Application).where(Application.created_by_id == user.id, Application.idempotency_key == key)
    )
    if existing is not None:
        if existing.idempotency_fingerprint != digest:
            raise InvalidInput(
                HEADER,
                "cette clé a déjà servi à déposer une autre demande (contenu différent) : utilisez une nouvelle clé",
            )
        return existing, False
    return await service.create(uow, user, data, cipher, actor, idempotency=(key, digest)), True

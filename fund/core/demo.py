"""Demo data: a fund, three schools in two regions, the demo accounts of API.md, students, a budget, two requests
waiting for the committee and one approved request whose transfer the accountant can pay.

Seeded only when the database holds no fund, and never in production.
"""

from __future__ import annotations

import datetime

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import fund.core.models  # noqa: F401  (every table known to the mappers: a vote refers to committee meetings)
from fund.applications import decisions
from fund.applications import service as applications
from fund.applications.schemas import ApplicationCreate, PayeeIn, VoteIn
from fund.audit.service import Actor
from fund.auth.models import User
from fund.budgets.models import BudgetEnvelope
from fund.core.security import FieldCipher, hash_password
from fund.core.settings import Settings
from fund.core.uow import UnitOfWork
from fund.funds.calendar import fiscal_year_of
from fund.funds.models import Fund
from fund.funds.policy import DEMO_POLICY
from fund.ledger.service import Books
from fund.schools.models import School
from fund.students.models import Student

DEMO_BUDGET_CENTS = 5_000_000  # 50 000 €
DEMO_PASSWORD = "demo-password"

SCHOOLS = [
    ("École de Production de Lyon Vaise", "0691234S", "Auvergne-Rhône-Alpes", "69"),
    ("École de Production de Saint-Étienne", "0421234N", "Auvergne-Rhône-Alpes", "42"),
    ("École de Production de Lille", "0591234W", "Hauts-de-France", "59"),
]
# (email, full name, roles, index of the school they are referent of)
ACCOUNTS: list[tuple[str, str, list[str], int | None]] = [
    ("admin@example.org", "Alice Administratrice", ["admin"], None),
    ("referent@example.org", "Romain Référent", ["referent"], 0),
    ("referent.b@example.org", "Bérénice Référente", ["referent"], 1),
    ("committee1@example.org", "Camille Comité", ["committee"], None),
    ("committee2@example.org", "Claude Comité", ["committee"], None),
    ("committee3@example.org", "Dominique Comité", ["committee"], None),
    ("chair@example.org", "Patricia Présidente", ["chair"], None),
    ("accountant@example.org", "Jean Comptable", ["accountant"], None),
]
STUDENTS = [
    (0, "Lucas", "Martin", datetime.date(2009, 3, 14), "Chaudronnier"),
    (0, "Inès", "Bernard", datetime.date(2010, 7, 2), "Usinage"),
    (0, "Nathan", "Petit", datetime.date(2008, 11, 23), "Menuisier"),
    (1, "Yanis", "Robert", datetime.date(2009, 5, 30), "Soudeur"),
    (1, "Emma", "Richard", datetime.date(2010, 1, 9), "Mécanique automobile"),
    (2, "Hugo", "Durand", datetime.date(2009, 9, 17), "Électricien"),
]


async def is_empty(factory: async_sessionmaker[AsyncSession]) -> bool:
    async with factory() as session:
        return await session.scalar(select(Fund.id).limit(1)) is None


async def seed(
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    redis: ArqRedis | None = None,
    *,
    with_approved_request: bool = True,
) -> bool:
    """Fill an empty database with the demo; return False (and touch nothing) if it holds data.

    With ``redis``, the approval's payment job is queued at once; otherwise the worker's sweeper finds it.
    """
    if settings.is_production:
        raise RuntimeError("demo data are never seeded in production")
    if not await is_empty(factory):
        return False
    async with factory() as session:
        fund = Fund(
            name="Fonds de solidarité des Écoles de Production",
            policy=DEMO_POLICY.model_dump(mode="json"),
            fiscal_year_start_month=1,
        )
        session.add(fund)
        schools = [School(name=n, uai=u, region=r, department=d) for n, u, r, d in SCHOOLS]
        session.add_all(schools)
        await session.flush()
        password_hash = hash_password(DEMO_PASSWORD)
        users = {
            email: User(
                fund_id=fund.id,
                email=email,
                full_name=name,
                password_hash=password_hash,
                roles=roles,
                schools=[schools[school]] if school is not None else [],
                is_active=True,
            )
            for email, name, roles, school in ACCOUNTS
        }
        session.add_all(users.values())
        students = [
            Student(school_id=schools[i].id, first_name=f, last_name=last, birth_date=b, trade=t)
            for i, f, last, b, t in STUDENTS
        ]
        session.add_all(students)
        today = datetime.date.today()
        session.add(
            BudgetEnvelope(
                fund_id=fund.id,
                fiscal_year=fiscal_year_of(fund, today),
                amount_cents=DEMO_BUDGET_CENTS,
                reserved_cents=0,
                paid_cents=0,
            )
        )
        await session.commit()

    # Two requests through the real service, so that the committee has work waiting.
    referent = users["referent@example.org"]
    cipher = FieldCipher.from_settings(settings)
    actor = Actor(referent.id)
    today = datetime.date.today()
    requests = [
        (
            students[0],
            "transport",
            12_000,
            "Abonnement de bus mensuel pour rejoindre l'atelier.",
            "guardian",
            "Mme Martin Claire",
        ),
        (
            students[1],
            "food",
            9_000,
            "Repas du midi à la cantine pendant un mois.",
            "third_party",
            "Restaurant scolaire de Vaise",
        ),
        (
            students[2],
            "housing",
            25_000,
            "Loyer du foyer de jeunes travailleurs pour le mois.",
            "third_party",
            "Foyer des jeunes travailleurs",
        ),
    ]
    async with factory() as session:
        uow = UnitOfWork(session, redis, Books(settings, cipher))
        for student, category, amount, why, kind, payee in requests:
            if category == "housing" and not with_approved_request:
                continue
            data = ApplicationCreate(
                student_id=student.id,
                category=category,
                amount_requested_cents=amount,
                justification=why,
                urgent=False,
                period_start=today,
                period_end=today + datetime.timedelta(days=30),
                payee=PayeeIn(kind=kind, name=payee, iban="FR7630006000011234567890189"),
            )
            application = await applications.create(uow, referent, data, cipher, actor)
            await applications.submit(uow, referent, application.id, actor)
            if category == "housing":
                # Two committee members approve it: the accountant then has a transfer to pay.
                for email in ("committee1@example.org", "committee2@example.org"):
                    member = users[email]
                    await decisions.vote(uow, member, application.id, VoteIn(vote="approve"), Actor(member.id))
    return True

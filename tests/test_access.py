"""Who may see and act on a request, decided in one place (``fund.applications.access``), with two funds in the
data: the people of one fund never meet the other fund's requests, even for a school both funds serve."""

from __future__ import annotations

import datetime
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from fund.applications import access
from fund.applications.models import Application
from fund.auth.models import User
from fund.students.models import Student
from tests.helpers import draft, drain_outbox, running_app, second_fund, sign_in, submitted, vote

API = "/api/v1"


@pytest.fixture
async def other(login, session_factory) -> dict[str, Any]:
    """The second fund's accounts, signed in."""
    emails = await second_fund(session_factory)
    return {role: await login(email) for role, email in emails.items()}


async def test_the_committee_of_another_fund_lists_none_of_this_funds_requests(login, other) -> None:
    referent = await login("referent@example.org")
    mine = await submitted(referent)
    for role in ("other_committee", "other_chair"):
        listed = await other[role].get(f"{API}/applications", params={"limit": 200})
        assert listed.status_code == 200
        assert mine["id"] not in {a["id"] for a in listed.json()["items"]}
        assert listed.json()["items"] == []


async def test_the_committee_of_another_fund_can_neither_read_nor_vote_on_a_request(login, other) -> None:
    referent = await login("referent@example.org")
    mine = await submitted(referent)
    member = other["other_committee"]
    for path in ("", "/history", "/documents"):
        assert (await member.get(f"{API}/applications/{mine['id']}{path}")).status_code == 404
    assert (await vote(member, mine["id"])).status_code == 404
    asked = await member.post(f"{API}/applications/{mine['id']}/request-info", json={"message": "Quel trajet ?"})
    assert asked.status_code == 404
    chair = await other["other_chair"].post(
        f"{API}/applications/{mine['id']}/chair-decision", json={"outcome": "reject", "reason": "Hors critères."}
    )
    assert chair.status_code == 404
    after = (await referent.get(f"{API}/applications/{mine['id']}")).json()
    assert after["status"] == "submitted"
    assert after["version"] == mine["version"]


async def test_this_funds_committee_does_not_see_the_other_funds_requests_of_the_same_school(login, other) -> None:
    theirs = await submitted(other["other_referent"])
    committee = await login("committee1@example.org")
    listed = (await committee.get(f"{API}/applications", params={"limit": 200})).json()["items"]
    assert theirs["id"] not in {a["id"] for a in listed}
    assert (await committee.get(f"{API}/applications/{theirs['id']}")).status_code == 404
    assert (await vote(committee, theirs["id"])).status_code == 404
    # while the other fund's own committee sees and decides it
    assert (await other["other_committee"].get(f"{API}/applications/{theirs['id']}")).status_code == 200


async def test_a_referent_of_the_same_school_in_another_fund_sees_its_students_but_not_this_funds_requests(
    login, other
) -> None:
    referent = await login("referent@example.org")
    mine = await submitted(referent)
    theirs = other["other_referent"]
    students = {s["id"] for s in (await theirs.get(f"{API}/students", params={"limit": 200})).json()["items"]}
    assert mine["student_id"] in students  # the school's pupils are the school's, whatever the fund
    listed = (await theirs.get(f"{API}/applications", params={"limit": 200})).json()["items"]
    assert mine["id"] not in {a["id"] for a in listed}
    assert (await theirs.get(f"{API}/applications/{mine['id']}")).status_code == 404
    assert (await theirs.post(f"{API}/applications/{mine['id']}/withdraw")).status_code == 404


async def test_the_other_funds_chair_finds_none_of_this_funds_requests_on_a_meeting_agenda(login, other) -> None:
    mine = await submitted(await login("referent@example.org"))
    opened = await other["other_chair"].post(f"{API}/meetings", json={})
    assert opened.status_code == 201, opened.text
    agenda = (await other["other_chair"].get(f"{API}/meetings/{opened.json()['id']}")).json()
    assert mine["id"] not in str(agenda)
    ratifications = await other["other_chair"].get(f"{API}/ratifications")
    assert ratifications.status_code == 200
    assert ratifications.json()["items"] == []


async def test_the_committee_page_of_another_fund_shows_none_of_this_funds_requests(
    settings, login, other, session_factory
) -> None:
    mine = await submitted(await login("referent@example.org"))
    async with running_app(settings) as client:
        assert (await sign_in(client, "comite@fonds-region.example.org")).status_code in (302, 303)
        queue = await client.get("/comite")
        assert queue.status_code == 200
        assert mine["reference"] not in queue.text
        case = await client.get(f"/demandes/{mine['id']}")
        assert case.status_code == 404
        assert mine["reference"] not in case.text


async def test_readable_in_sql_and_may_see_in_python_say_the_same_for_every_reader(
    login, other, session_factory
) -> None:
    referent = await login("referent@example.org")
    await submitted(referent)
    await draft(referent)  # the committee never sees a draft
    await submitted(other["other_referent"])
    await draft(other["other_referent"])
    async with session_factory() as session:
        users = list(await session.scalars(select(User)))
        every = list(await session.scalars(select(Application)))
        assert len({a.fund_id for a in every}) == 2
        for user in users:
            in_sql = set(await session.scalars(select(Application.id).where(access.readable(user))))
            in_python = {a.id for a in every if access.may_see(user, a)}
            assert in_sql == in_python, user.email


# --- the rules as pure functions ------------------------------------------------------------------------------


def _request(**fields: Any) -> Any:
    base = {
        "id": uuid.uuid4(),
        "fund_id": uuid.uuid4(),
        "school_id": uuid.uuid4(),
        "created_by_id": uuid.uuid4(),
        "status": "submitted",
        "submitted_at": datetime.datetime.now(datetime.UTC),
    }
    return SimpleNamespace(**(base | fields))


def test_nobody_takes_part_in_the_decision_of_a_request_they_filed_or_of_their_schools_request() -> None:
    application = _request()
    assert access.conflict_of_interest(access.Member(application.created_by_id, ()), application) == "filed_it"
    attached = access.Member(uuid.uuid4(), {application.school_id})
    assert access.conflict_of_interest(attached, application) == "attached_to_school"
    free = access.Member(uuid.uuid4(), {uuid.uuid4()})
    assert access.conflict_of_interest(free, application) is None
    assert access.may_take_part(free, application)
    assert not access.may_take_part(free, application, recused={free.id})


@pytest.mark.parametrize(
    ("status", "recused", "voted", "expected"),
    [
        ("submitted", False, False, True),
        ("under_review", False, False, True),
        ("under_review", True, False, False),
        ("under_review", False, True, False),
        ("info_requested", False, False, False),
        ("approved", False, False, False),
        ("draft", False, False, False),
    ],
)
def test_a_member_votes_only_on_a_request_awaiting_decision_not_recused_and_not_yet_voted(
    status: str, recused: bool, voted: bool, expected: bool
) -> None:
    member = access.Member(uuid.uuid4(), ())
    assert access.may_vote(member, _request(status=status), recused=recused, voted=voted) is expected


def test_may_see_refuses_another_funds_request_whatever_the_role() -> None:
    school = uuid.uuid4()
    fund = uuid.uuid4()
    reader = SimpleNamespace(
        fund_id=fund,
        schools=[SimpleNamespace(id=school)],
        has_role=lambda *roles: bool({"referent", "committee"} & set(roles)),
    )
    assert access.may_see(reader, _request(fund_id=fund, school_id=school))  # type: ignore[arg-type]
    assert not access.may_see(reader, _request(school_id=school))  # type: ignore[arg-type]
    assert not access.is_owner(reader, _request(school_id=school))  # type: ignore[arg-type]


async def test_a_shared_schools_referents_are_listed_to_each_funds_administrator_as_their_own(login, other) -> None:
    school_id = (await (await login("referent@example.org")).get(f"{API}/schools")).json()[0]["id"]
    mine = (await (await login("admin@example.org")).get(f"{API}/schools/{school_id}/referents")).json()
    theirs = (await other["other_admin"].get(f"{API}/schools/{school_id}/referents")).json()
    assert [r["email"] for r in mine] == ["referent@example.org"]
    assert [r["email"] for r in theirs] == ["referent@fonds-region.example.org"]


async def test_only_the_requests_own_funds_referents_are_told_of_its_decision(login, other, session_factory) -> None:
    referent = await login("referent@example.org")
    mine = await submitted(referent, amount_requested_cents=10000)
    for email in ("committee1@example.org", "committee2@example.org"):
        assert (await vote(await login(email), mine["id"])).status_code == 201
    await drain_outbox(session_factory)
    told = (await referent.get(f"{API}/notifications")).json()["items"]
    assert any(mine["id"] in str(n) for n in told)
    assert (await other["other_referent"].get(f"{API}/notifications")).json()["items"] == []


async def test_the_read_model_gives_the_committee_a_pseudonymised_request_and_the_referent_all_of_it(
    login, session_factory
) -> None:
    from fund.applications import views
    from fund.core.uow import UnitOfWork

    mine = await submitted(await login("referent@example.org"))
    async with session_factory() as session:
        application = await session.get(Application, uuid.UUID(mine["id"]))
        assert application is not None
        readers = {u.email: u for u in await session.scalars(select(User))}
        uow = UnitOfWork(session, None)
        committee = await views.detailed(uow, readers["committee1@example.org"], application)
        referent = await views.detailed(uow, readers["referent@example.org"], application)
    assert committee.student is not None
    assert referent.student is not None
    assert (committee.student.name, committee.payee, committee.caps) == (None, None, None)
    assert committee.student.age == referent.student.age
    async with session_factory() as session:
        student = await session.get(Student, uuid.UUID(mine["student_id"]))
    assert student is not None
    assert referent.student.name == f"{student.first_name} {student.last_name}"
    assert referent.payee is not None
    assert referent.payee.iban.endswith("0189")
    assert referent.caps is not None

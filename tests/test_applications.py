import pytest

pytestmark = pytest.mark.usefixtures("redis", "engine")

from tests.helpers import application_body, draft, first_student, submitted


async def test_probe(login, app_client) -> None:
    r = await login("referent@example.org")
    sid = await first_student(r)
    for name, body in [
        ("neg", application_body(sid, amount_requested_cents=-1)),
        ("str", application_body(sid, amount_requested_cents="12000")),
        ("float", application_body(sid, amount_requested_cents=120.5)),
        ("missing", {k: v for k, v in application_body(sid).items() if k != "amount_requested_cents"}),
        ("cat", application_body(sid, category="luxury")),
        ("iban", application_body(sid, payee={"kind": "guardian", "name": "Mme X", "iban": "FR7630006000011234567890180"})),
        ("period", application_body(sid, period_start="2026-12-31", period_end="2026-12-01")),
        ("extra", application_body(sid, foo=1)),
        ("kind", application_body(sid, payee={"kind": "x", "name": "Mme X", "iban": "FR7630006000011234567890189"})),
        ("unknownstudent", application_body("0190a6d2-0000-7000-8000-000000000000")),
    ]:
        resp = await r.post("/api/v1/applications", json=body)
        print(name, resp.status_code, resp.headers.get("content-type"), resp.text)
    resp = await r.client.post("/api/v1/applications", headers={**r.headers, "content-type": "application/json"}, content=b"{bad")
    print("malformed", resp.status_code, resp.headers.get("content-type"), resp.text)
    for params in [{"limit": 0}, {"limit": 201}, {"cursor": "garbage!"}, {"status": "nope"}]:
        resp = await r.get("/api/v1/applications", params=params)
        print(params, resp.status_code, resp.headers.get("content-type"), resp.text)
    resp = await app_client.get("/api/v1/me")
    print("noauth", resp.status_code, resp.headers, resp.text)
    resp = await app_client.get("/api/v1/me", headers={"Authorization": "Token abc"})
    print("badauth", resp.status_code, resp.headers, resp.text)
    a = await draft(r)
    print(a)
    resp = await r.patch(f"/api/v1/applications/{a['id']}", json={"version": 1, "payee": None})
    print("payeenull", resp.status_code, resp.text)
    resp = await r.patch(f"/api/v1/applications/{a['id']}", json={"category": "food"})
    print("noversion", resp.status_code, resp.text)
    resp = await r.get(f"/api/v1/applications/{a['id']}/history")
    print("hist", resp.status_code, resp.text)
    adm = await login("admin@example.org")
    for body in [
        {"email": "bad", "full_name": "X", "password": "x" * 12, "roles": ["committee"]},
        {"email": "a@example.org", "full_name": "X", "password": "short", "roles": ["committee"]},
        {"email": "a@example.org", "full_name": "X", "password": "x" * 12, "roles": ["king"]},
        {"email": "a@example.org", "full_name": "X", "password": "x" * 12, "roles": ["referent"]},
        {"email": "a@example.org", "full_name": "X", "password": "x" * 12, "roles": ["committee", "accountant"]},
    ]:
        resp = await adm.post("/api/v1/users", json=body)
        print("user", resp.status_code, resp.text)
    for body in [{"name": "E", "uai": "0750655E", "region": "IDF", "department": "75"}, {"name": "E", "uai": "0750655F", "region": "IDF", "department": "75"}]:
        resp = await adm.post("/api/v1/schools", json=body)
        print("school", resp.status_code, resp.text)
    resp = await r.post("/api/v1/students", json={"school_id": str((await r.get('/api/v1/me')).json()['school_ids'][0]), "first_name": "A", "last_name": "B", "birth_date": "2024-01-01"})
    print("student", resp.status_code, resp.text)
    c = await login("committee1@example.org")
    resp = await c.get("/api/v1/applications")
    print("committee list", resp.text[:1500])

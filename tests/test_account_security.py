"""Accounts against an attacker: sign-in throttling and lockout (per account, per address, under concurrency),
the password policy wherever a password is set, sign-out everywhere and token expiry, and the web's step-up
before sensitive actions (with no open redirect)."""

from __future__ import annotations

import asyncio
import datetime
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, text

from fund.auth import passwords
from fund.auth.models import User
from fund.auth.ratelimit import LockedOut, LoginLimiter, address_key, normal_email
from fund.core.embedded import free_port
from fund.disbursements.models import ExportRecord, PaymentBatch
from fund.funds.models import Fund
from fund.web.pages import local_path
from tests.helpers import (
    POLICY_FORM,
    PROBLEM,
    ask_for_link,
    assert_problem,
    audit_count,
    bearer,
    enrol_totp,
    execute,
    post_form,
    request_token,
    reset_links,
    running_app,
    scalar,
    scalars,
    sign_in,
    signed_in_as,
    token_for,
    totp_code,
)

PASSWORD = "demo-password"
WRONG = "not-the-password"


def assert_locked(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 429)
    assert 0 < int(response.headers["retry-after"]) <= 15 * 60
    assert "access_token" not in body
    return body


# --- throttling and lockout ----------------------------------------------------------------------------------


async def test_five_failures_lock_the_account_even_for_the_right_password(app_client, demo) -> None:
    for _ in range(5):
        assert_problem(await request_token(app_client, "referent@example.org", WRONG), 401)
    locked = await request_token(app_client, "referent@example.org")
    body = assert_locked(locked)
    assert int(locked.headers["retry-after"]) > 14 * 60  # fifteen minutes from the fifth failure
    assert "Retry-After" in body["detail"]
    # Another account from the same address is not affected.
    assert (await request_token(app_client, "referent.b@example.org")).status_code == 200


async def test_a_locked_unknown_address_looks_exactly_like_a_locked_account(app_client, demo) -> None:
    for _ in range(5):
        for email in ("referent@example.org", "nobody@example.org"):
            assert_problem(await request_token(app_client, email, WRONG), 401)
    known = await request_token(app_client, "referent@example.org", WRONG)
    unknown = await request_token(app_client, "nobody@example.org", WRONG)
    assert known.status_code == unknown.status_code == 429
    assert known.json() == unknown.json()
    assert set(known.headers) == set(unknown.headers)
    assert abs(int(known.headers["retry-after"]) - int(unknown.headers["retry-after"])) <= 5


@pytest.mark.parametrize(
    "variants",
    [
        [
            "Referent@Example.org",
            "REFERENT@EXAMPLE.ORG",
            " referent@example.org",
            "referent@example.org  ",
            "rEfErEnT@eXaMpLe.OrG",
        ],
        [
            "ｒｅｆｅｒｅｎｔ@example.org",
            "referent@example.org",
            "Referent@example.org",
            "REFERENT@example.org",
            "referent@EXAMPLE.org",
        ],
    ],
)
async def test_changing_case_spaces_or_unicode_forms_does_not_buy_more_attempts(
    app_client, demo, variants: list[str]
) -> None:
    for email in variants:
        assert_problem(await request_token(app_client, email, WRONG), 401)
    assert_locked(await request_token(app_client, "referent@example.org"))
    assert_locked(await request_token(app_client, "Referent@Example.ORG "))


async def test_a_success_resets_the_account_counter(app_client, demo) -> None:
    for _ in range(4):
        assert_problem(await request_token(app_client, "referent@example.org", WRONG), 401)
    assert (await request_token(app_client, "referent@example.org")).status_code == 200
    for _ in range(4):
        assert_problem(await request_token(app_client, "referent@example.org", WRONG), 401)
    assert (await request_token(app_client, "referent@example.org")).status_code == 200


async def test_twenty_concurrent_guesses_get_five_password_checks(app_client, demo) -> None:
    answers = await asyncio.gather(*(request_token(app_client, "referent@example.org", WRONG) for _ in range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * 5 + [429] * 15
    assert_locked(await request_token(app_client, "referent@example.org"))


async def test_five_concurrent_wrong_attempts_and_one_right_are_handled_consistently(app_client, demo) -> None:
    attempts = [request_token(app_client, "referent@example.org", WRONG) for _ in range(5)]
    attempts.insert(2, request_token(app_client, "referent@example.org"))
    answers = await asyncio.gather(*attempts)
    right, wrongs = answers[2], answers[:2] + answers[3:]
    assert {w.status_code for w in wrongs} <= {401, 429}
    assert right.status_code in (200, 429)  # a right password is never told it is wrong
    assert sum(w.status_code == 401 for w in wrongs) <= 5
    if right.status_code == 429:
        # It came sixth: the five wrong ones were checked and the account is now locked.
        assert all(w.status_code == 401 for w in wrongs)
        assert_locked(await request_token(app_client, "referent@example.org"))
    else:
        # Its success reset the counter: the account is not locked.
        assert (await request_token(app_client, "referent@example.org")).status_code == 200


async def test_one_address_cannot_spray_many_accounts(settings, demo) -> None:
    async with running_app(settings, client_ip="198.51.100.20") as sprayer:
        for n in range(30):
            assert_problem(await request_token(sprayer, f"guess{n}@example.org", WRONG), 401)
        assert_locked(await request_token(sprayer, "someone.else@example.org", WRONG))
        assert_locked(await request_token(sprayer, "referent@example.org"))  # even a right password
    async with running_app(settings, client_ip="198.51.100.21") as neighbour:
        assert (await request_token(neighbour, "referent@example.org")).status_code == 200


async def test_successes_do_not_spend_the_address_budget(settings, demo) -> None:
    async with running_app(settings, client_ip="198.51.100.30") as school:
        for _ in range(35):  # a school's shared address: many people sign in
            assert (await request_token(school, "referent@example.org")).status_code == 200


def test_ipv6_addresses_are_counted_per_64_and_ipv4_mapped_as_ipv4() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_key(None) == "unknown"
    assert normal_email(" ＲＥＦＥＲＥＮＴ@Example.org ") == "referent@example.org"


async def test_the_lockout_ends_after_its_period(settings, demo) -> None:
    quick = settings.model_copy(update={"login_lockout_seconds": 1})
    async with running_app(quick) as client:
        for _ in range(5):
            assert_problem(await request_token(client, "referent@example.org", WRONG), 401)
        assert_locked(await request_token(client, "referent@example.org"))
        await asyncio.sleep(2.1)
        assert (await request_token(client, "referent@example.org")).status_code == 200


async def test_redis_keys_hold_no_email_in_clear(app_client, demo, redis) -> None:
    await request_token(app_client, "referent@example.org", WRONG)
    keys = [k.decode() async for k in redis.scan_iter("fund:signin:*")]
    assert len(keys) == 2
    assert not any("referent" in k for k in keys)


async def test_the_web_sign_in_shares_the_budget_and_says_in_french_when_to_retry(app_client, demo, settings) -> None:
    for _ in range(3):
        assert_problem(await request_token(app_client, "referent@example.org", WRONG), 401)
    async with running_app(settings) as client:
        for _ in range(2):
            assert (await sign_in(client, "referent@example.org", WRONG)).status_code == 401
        locked = await sign_in(client, "referent@example.org")
        assert locked.status_code == 429
        message = html.unescape(locked.text)
        assert "Trop de tentatives infructueuses" in message
        assert re.search(r"Réessayez à partir de \d\d h \d\d \(dans 15 minutes\)", message)
        unknown = [await sign_in(client, "nobody@example.org", WRONG) for _ in range(6)][-1]
        assert unknown.status_code == 429
        assert "Trop de tentatives infructueuses" in html.unescape(unknown.text)
    assert_locked(await request_token(app_client, "referent@example.org"))


async def test_with_redis_away_sign_in_fails_closed_and_existing_tokens_keep_working(
    app_client, demo, settings
) -> None:
    token = await token_for(app_client, "referent@example.org")
    away = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with running_app(away) as client:
        refused = await request_token(client, "referent@example.org")
        body = assert_problem(refused, 503)
        assert "access_token" not in body
        assert int(refused.headers["retry-after"]) > 0
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        page = await sign_in(client, "referent@example.org")
        assert page.status_code == 503
        assert "momentanément indisponible" in html.unescape(page.text)


async def test_wrong_totp_codes_count_towards_the_lockout(app_client, demo, clock) -> None:
    await enrol_totp(app_client, await token_for(app_client, "referent@example.org"))
    for _ in range(5):
        response = await app_client.post(
            "/api/v1/auth/token",
            json={"email": "referent@example.org", "password": PASSWORD, "totp_code": "000000"},
        )
        assert response.status_code in (401,), response.text
    assert_locked(
        await app_client.post(
            "/api/v1/auth/token", json={"email": "referent@example.org", "password": PASSWORD, "totp_code": "000001"}
        )
    )


async def test_a_limiter_refuses_at_the_budget_in_one_atomic_step(redis) -> None:
    limiter = LoginLimiter(redis, "k")
    await asyncio.gather(*(limiter.reserve("a@example.org", "192.0.2.1") for _ in range(5)))
    with pytest.raises(LockedOut):
        await limiter.reserve("a@example.org", "192.0.2.1")
    await limiter.succeeded("a@example.org", "192.0.2.1")
    await limiter.reserve("A@example.org", "192.0.2.1")


# --- password policy -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password2024!",
        "123456789012",
        "qwertyuiop123",
        "azertyuiop123",
        "motdepasse123",
        "iloveyou!!!!",
        "2024sunshine!",
        "azertyazerty",
        "aaaaaaaaaaaa",
        "abcabcabcabcabc",
        "1q2w3e4r5t6y",
        "MOTDEPASSE2026",
    ],
)
def test_common_or_predictable_passwords_are_refused(password: str) -> None:
    assert passwords.password_problem(password) == passwords.TOO_COMMON


@pytest.mark.parametrize(
    "password",
    ["demo-password", "un-mot-de-passe-solide", "une phrase de passe assez longue", "Cheval Agrafe Batterie 9"],
)
def test_ordinary_passphrases_are_accepted(password: str) -> None:
    assert passwords.password_problem(password, "marie.curie@example.org") is None


def test_the_list_ships_with_the_package_and_holds_ten_thousand_passwords() -> None:
    common = passwords.common_passwords()
    assert len(common) >= 10_000
    assert {"123456", "password", "azerty", "motdepasse"} <= common


@pytest.mark.parametrize(
    ("password", "email", "problem"),
    [
        ("court", "a@example.org", passwords.TOO_SHORT),
        ("x" * 201, "a@example.org", passwords.TOO_LONG),
        ("marie.curie-2026-ok", "marie.curie@example.org", passwords.CONTAINS_NAME),
        ("Je suis CURIE et fière", "marie.curie@example.org", passwords.CONTAINS_NAME),
        ("ADMIN-solide-et-long", "admin@example.org", passwords.CONTAINS_NAME),
    ],
)
def test_length_and_the_emails_name_are_checked(password: str, email: str, problem: str) -> None:
    assert passwords.password_problem(password, email) == problem


NEW_ACCOUNT = {
    "email": "nouvelle.personne@example.org",
    "full_name": "Nouvelle Personne",
    "roles": ["committee"],
    "school_ids": [],
}


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password1234", "trop courant"),
        ("nouvelle.personne!!", "adresse électronique"),
        ("x" * 11, None),
        ("x" * 201, None),
    ],
)
async def test_the_api_refuses_a_weak_password_at_creation(
    login, session_factory, password: str, message: str | None
) -> None:
    admin = await login("admin@example.org")
    response = await admin.post("/api/v1/users", json={**NEW_ACCOUNT, "password": password})
    body = assert_problem(response, 422, "password")
    if message:
        assert message in body["errors"][0]["message"]
    assert (
        await scalar(session_factory, select(func.count()).select_from(User).where(User.email.like("nouvelle%"))) == 0
    )


async def test_the_api_refuses_a_weak_or_unchanged_password_at_reset_and_the_old_one_still_works(
    login, app_client, session_factory
) -> None:
    admin = await login("admin@example.org")
    target = await scalar(session_factory, select(User.id).where(User.email == "chair@example.org"))
    events = await audit_count(session_factory)
    for password, message in (("azertyuiop123", "trop courant"), (PASSWORD, "différent de l'actuel")):
        response = await admin.post(f"/api/v1/users/{target}/password", json={"password": password})
        body = assert_problem(response, 422, "password")
        assert message in body["errors"][0]["message"]
    assert (await request_token(app_client, "chair@example.org")).status_code == 200
    assert await audit_count(session_factory) == events


async def test_the_admin_pages_show_the_policy_next_to_the_password_field(demo, settings, session_factory) -> None:
    target = await scalar(session_factory, select(User.id).where(User.email == "chair@example.org"))
    async with signed_in_as(settings, "admin@example.org") as client:
        created = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {**NEW_ACCOUNT, "roles": "committee", "how": "mot_de_passe", "password": "Password2024!"},
        )
        assert created.status_code == 422
        assert 'aria-describedby="erreur-password' in created.text
        assert "trop courant" in html.unescape(created.text)
        reset = await post_form(
            client,
            f"/administration/utilisateurs/{target}/mot-de-passe",
            {"how": "mot_de_passe", "password": "qwertyuiop123"},
        )
        assert reset.status_code == 422
        assert "trop courant" in html.unescape(reset.text)
    async with running_app(settings) as other:
        assert (await sign_in(other, "chair@example.org")).status_code == 303  # unchanged


async def test_the_forgotten_password_link_refuses_a_common_password_and_stays_valid(
    demo, settings, session_factory
) -> None:
    await ask_for_link(settings, session_factory, "referent@example.org")
    [link] = reset_links()
    async with running_app(settings) as client:
        await client.get(link)
        refused = await post_form(client, link, {"password": "motdepasse1234", "confirmation": "motdepasse1234"})
        assert refused.status_code == 422
        assert "trop courant" in html.unescape(refused.text)
        same = await post_form(client, link, {"password": PASSWORD, "confirmation": PASSWORD})
        assert same.status_code == 422
        assert "différent de l'actuel" in html.unescape(same.text)
        named = await post_form(client, link, {"password": "referent-du-lycee", "confirmation": "referent-du-lycee"})
        assert named.status_code == 422
        assert "adresse électronique" in html.unescape(named.text)
        fresh = "une phrase vraiment neuve"
        assert (await post_form(client, link, {"password": fresh, "confirmation": fresh})).status_code == 303
    async with running_app(settings) as client:
        assert (await request_token(client, "referent@example.org", fresh)).status_code == 200


# --- sign-out everywhere, expiry -------------------------------------------------------------------------------


async def test_sign_out_everywhere_revokes_every_token_and_web_session_of_the_caller_only(
    app_client, demo, settings, session_factory
) -> None:
    first = await token_for(app_client, "referent@example.org")
    second = await token_for(app_client, "referent@example.org")
    other = await token_for(app_client, "referent.b@example.org")
    async with signed_in_as(settings, "referent@example.org") as browser:
        assert (await browser.get("/referent")).status_code == 200
        out = await app_client.post("/api/v1/auth/logout-all", headers=bearer(first))
        assert out.status_code == 204, out.text
        for token in (first, second):
            assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)
        after = await browser.get("/referent", follow_redirects=False)
        assert after.headers["location"] == "/connexion?suite=%2Freferent"
    assert (await app_client.get("/api/v1/me", headers=bearer(other))).status_code == 200
    actions = list(await scalars(session_factory, "SELECT action FROM audit_events"))
    assert "user.signed_out_everywhere" in actions


async def test_the_web_button_signs_out_everywhere(app_client, demo, settings) -> None:
    api_token = await token_for(app_client, "accountant@example.org")
    async with (
        signed_in_as(settings, "accountant@example.org") as browser,
        signed_in_as(settings, "accountant@example.org") as phone,
    ):
        home = await browser.get("/comptabilite")
        assert "Se déconnecter partout</button>" in home.text
        assert 'action="/deconnexion-partout"' in home.text
        out = await post_form(browser, "/deconnexion-partout", {})
        assert out.status_code == 303
        assert out.headers["location"] == "/connexion"
        assert "déconnecté(e) partout" in html.unescape((await browser.get("/connexion")).text)
        assert (await phone.get("/comptabilite", follow_redirects=False)).headers["location"] == (
            "/connexion?suite=%2Fcomptabilite"
        )
        without_csrf = await phone.post("/deconnexion-partout", follow_redirects=False)
        assert without_csrf.status_code == 403
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(api_token)), 401)


async def test_tokens_live_eight_hours_then_both_api_and_web_refuse_them(
    app_client, demo, settings, session_factory
) -> None:
    assert settings.token_ttl_seconds == 8 * 3600
    token = await token_for(app_client, "referent@example.org")
    lifetime = await scalar(
        session_factory, text("SELECT extract(epoch FROM expires_at - created_at) FROM auth_tokens LIMIT 1")
    )
    assert abs(float(lifetime) - 8 * 3600) < 5
    async with signed_in_as(settings, "referent@example.org") as browser:
        await execute(session_factory, "UPDATE auth_tokens SET expires_at = now() - interval '1 second'")
        assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)
        assert (await browser.get("/referent", follow_redirects=False)).headers["location"] == (
            "/connexion?suite=%2Freferent"
        )


# --- step-up before sensitive actions ----------------------------------------------------------------------------


async def stale(session_factory: Any, minutes: int = 6) -> None:
    await execute(session_factory, f"UPDATE auth_tokens SET confirmed_at = now() - interval '{minutes} minutes'")


def confirm_target(response: httpx.Response) -> str:
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    parts = urlsplit(location)
    assert parts.path == "/confirmer", location
    return parse_qs(parts.query)["suite"][0]


SENSITIVE_PAGES = [
    ("admin@example.org", "/administration/politique"),
    ("admin@example.org", "/administration/utilisateurs/nouveau"),
    ("admin@example.org", "/administration/utilisateurs/{chair}"),
    ("accountant@example.org", "/remises"),
    ("accountant@example.org", "/exports"),
    ("accountant@example.org", "/exports/fichier?format=csv&du=&au="),
]


@pytest.mark.parametrize(("email", "path"), SENSITIVE_PAGES)
async def test_a_sensitive_page_opens_after_sign_in_and_asks_again_after_five_minutes(
    demo, settings, session_factory, email: str, path: str
) -> None:
    chair = await scalar(session_factory, select(User.id).where(User.email == "chair@example.org"))
    path = path.format(chair=chair)
    async with signed_in_as(settings, email) as client:
        assert (await client.get(path, follow_redirects=False)).status_code == 200  # the sign-in counts
        await stale(session_factory, minutes=4)
        assert (await client.get(path, follow_redirects=False)).status_code == 200
        await stale(session_factory, minutes=6)
        assert confirm_target(await client.get(path, follow_redirects=False)) == path


async def test_the_not_sensitive_pages_do_not_ask(demo, settings, session_factory) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        await stale(session_factory, minutes=60)
        assert (await client.get("/comptabilite")).status_code == 200


async def test_stale_posts_change_nothing_and_lead_to_the_confirmation(demo, settings, session_factory) -> None:
    chair = await scalar(session_factory, select(User.id).where(User.email == "chair@example.org"))
    policy_before = await scalar(session_factory, select(Fund.policy))
    chair_before = await scalar(session_factory, select(User.password_hash).where(User.id == chair))
    events = await audit_count(session_factory)
    admin_posts = [
        ("/administration/politique", POLICY_FORM, "/administration/politique"),
        (
            "/administration/utilisateurs/nouveau",
            {**NEW_ACCOUNT, "roles": "committee", "how": "mot_de_passe", "password": "un-mot-de-passe-solide"},
            "/administration/utilisateurs/nouveau",
        ),
        (
            f"/administration/utilisateurs/{chair}",
            {"full_name": "X", "roles": "admin"},
            f"/administration/utilisateurs/{chair}",
        ),
        (f"/administration/utilisateurs/{chair}/desactiver", {}, f"/administration/utilisateurs/{chair}"),
        (f"/administration/utilisateurs/{chair}/reactiver", {}, f"/administration/utilisateurs/{chair}"),
        (
            f"/administration/utilisateurs/{chair}/mot-de-passe",
            {"how": "mot_de_passe", "password": "un-nouveau-mot-de-passe"},
            f"/administration/utilisateurs/{chair}",
        ),
    ]
    async with signed_in_as(settings, "admin@example.org") as client:
        await stale(session_factory)
        for url, data, suite in admin_posts:
            assert confirm_target(await post_form(client, url, data)) == suite, url
    async with signed_in_as(settings, "accountant@example.org") as client:
        await stale(session_factory)
        tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
        batch = await post_form(
            client, "/remises", {"cle": "k1", "execution_date": tomorrow, "format": "pain.001.001.09"}
        )
        assert confirm_target(batch) == "/remises"
    assert await scalar(session_factory, select(Fund.policy)) == policy_before
    assert await scalar(session_factory, select(User.password_hash).where(User.id == chair)) == chair_before
    assert await scalar(session_factory, select(User.roles).where(User.id == chair)) == ["chair"]
    assert await scalar(session_factory, select(func.count()).select_from(PaymentBatch)) == 0
    assert await scalar(session_factory, select(func.count()).select_from(ExportRecord)) == 0
    assert await audit_count(session_factory) == events


async def test_confirming_with_the_password_reopens_the_action_for_five_minutes(
    demo, settings, session_factory
) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        await stale(session_factory)
        suite = confirm_target(await client.get("/exports/fichier?format=csv&du=&au=", follow_redirects=False))
        form = await client.get("/confirmer", params={"suite": suite})
        assert form.status_code == 200
        assert '<label for="password">Votre mot de passe</label>' in form.text
        assert f'name="suite" value="{html.escape(suite)}"' in form.text
        wrong = await post_form(client, "/confirmer", {"password": WRONG, "suite": suite})
        assert wrong.status_code == 401
        assert "mot de passe incorrect" in wrong.text
        assert confirm_target(await client.get(suite, follow_redirects=False)) == suite
        right = await post_form(client, "/confirmer", {"password": PASSWORD, "suite": suite})
        assert right.status_code == 303
        assert right.headers["location"] == suite
        download = await client.get(suite)
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
    assert await scalar(session_factory, select(func.count()).select_from(ExportRecord)) == 1


async def test_confirmation_failures_count_towards_the_lockout(demo, settings, session_factory) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        await stale(session_factory)
        for _ in range(5):
            assert (await post_form(client, "/confirmer", {"password": WRONG, "suite": "/exports"})).status_code == 401
        locked = await post_form(client, "/confirmer", {"password": PASSWORD, "suite": "/exports"})
        assert locked.status_code == 429
        assert "Trop de tentatives" in html.unescape(locked.text)
        assert confirm_target(await client.get("/exports", follow_redirects=False)) == "/exports"


async def test_an_enrolled_user_may_confirm_with_a_totp_code_once(
    app_client, demo, settings, session_factory, clock
) -> None:
    secret = await enrol_totp(app_client, await token_for(app_client, "admin@example.org"), offset=-1)
    async with running_app(settings) as client:
        await sign_in(client, "admin@example.org")
        await post_form(client, "/connexion/code", {"code": totp_code(secret)})
        await stale(session_factory)
        form = await client.get("/confirmer", params={"suite": "/administration/politique"})
        assert "Ou le code à 6 chiffres" in form.text
        replay = await post_form(
            client, "/confirmer", {"code": totp_code(secret), "suite": "/administration/politique"}
        )
        assert replay.status_code == 401
        ok = await post_form(client, "/confirmer", {"code": totp_code(secret, 1), "suite": "/administration/politique"})
        assert ok.headers["location"] == "/administration/politique"
        assert (await client.get("/administration/politique")).status_code == 200


OFF_SITE = [
    "//evil.example/",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/\n/evil.example",
    "evil.example",
    "",
    " /exports",
    "/" + "a" * 1001,
]


@pytest.mark.parametrize("suite", OFF_SITE)
def test_local_path_never_leads_off_the_site(suite: str) -> None:
    assert local_path(suite) == "/"


@pytest.mark.parametrize(
    "suite", ["/exports", "/exports/fichier?format=csv&du=&au=", "/administration/utilisateurs/x#y"]
)
def test_local_path_keeps_paths_of_the_site(suite: str) -> None:
    assert local_path(suite) == suite


@pytest.mark.parametrize("suite", OFF_SITE[:9])
async def test_the_confirmation_never_redirects_off_the_site(demo, settings, suite: str) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        form = await client.get("/confirmer", params={"suite": suite})
        assert 'name="suite" value="/"' in form.text
        done = await post_form(client, "/confirmer", {"password": PASSWORD, "suite": suite})
        assert done.status_code == 303
        assert done.headers["location"] == "/"


async def test_the_confirmation_page_needs_a_session(app_client, demo) -> None:
    response = await app_client.get("/confirmer", follow_redirects=False)
    assert response.headers["location"] == "/connexion"  # signing in confirms: no confirmation page to come back to
    assert PROBLEM not in response.headers.get("content-type", "")

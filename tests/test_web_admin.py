"""The administrator's pages: users, schools, budgets and the approval policy, with the API's own rules."""

from __future__ import annotations

import datetime
import html
from typing import Any

import pytest
from sqlalchemy import select

from fund.auth.models import User
from fund.budgets.models import BudgetEnvelope
from fund.core.errors import REFUSALS
from fund.funds.models import Fund
from fund.schools.models import School
from tests.helpers import (
    POLICY_FORM,
    clear_mails,
    count,
    drain_outbox,
    invitation_links,
    post_form,
    reset_links,
    running_app,
    sign_in,
    signed_in_as,
    submitted,
    user_id,
    vote,
)

YEAR = datetime.date.today().year  # the demo fund's fiscal year is the calendar year


async def stored_policy(session_factory: Any) -> dict[str, Any]:
    async with session_factory() as session:
        return dict((await session.scalars(select(Fund))).one().policy)


def error_next_to(page: str, field: str) -> str:
    """The error shown next to a field (its control says aria-describedby the error's id)."""
    assert f'aria-describedby="erreur-{field}' in page, field
    return html.unescape(page.split(f'id="erreur-{field}">', 1)[1].split("</span>", 1)[0])


# --- every page renders --------------------------------------------------------------------------------------


async def test_each_admin_page_renders_for_the_admin(settings, demo) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        for path, heading, text in (
            ("/administration", "Utilisateurs", "Romain Référent"),
            ("/administration/utilisateurs/nouveau", "Nouvel utilisateur", "Créer le compte"),
            ("/administration/ecoles", "Écoles", "0691234S"),
            ("/administration/budgets", "Budgets", "50\u202f000,00\u00a0€"),
            ("/administration/politique", "Règles d'attribution", "Enregistrer les règles"),
        ):
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text)
            assert page.text.count("<h1>") == 1
            assert f"<h1>{heading}</h1>" in page.text, path
            assert text in page.text, path


async def test_the_users_list_filters_by_role_and_paginates(settings, demo, session_factory) -> None:
    async with session_factory() as session:
        fund_id = (await session.scalars(select(Fund.id))).one()
        for n in range(50):  # with the demo's 8 accounts: two pages
            session.add(
                User(
                    fund_id=fund_id,
                    email=f"m{n}@example.org",
                    full_name=f"Membre {n:02d}",
                    password_hash="x",
                    roles=["admin"],
                    is_active=True,
                )
            )
            await session.flush()
        await session.commit()
    async with signed_in_as(settings, "admin@example.org") as client:
        committee = (await client.get("/administration", params={"role": "committee"})).text
        assert "Camille Comité" in committee
        assert "Romain Référent" not in committee
        inactive = (await client.get("/administration", params={"active": "non"})).text
        assert "Aucun compte ne correspond" in inactive
        first = await client.get("/administration")
        assert "Membre 49" in first.text  # newest first
        assert "admin@example.org" not in first.text
        link = first.text.split(">Page suivante<")[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        second = await client.get(link)
        assert second.status_code == 200
        assert "admin@example.org" in second.text
        assert "Membre 49" not in second.text
        assert "Page suivante" not in second.text
        assert "Première page" in second.text


# --- users ---------------------------------------------------------------------------------------------------


async def test_the_admin_creates_a_user_and_sees_it(settings, demo, session_factory) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        schools = (await client.get("/administration/ecoles")).text
        assert "École de Production de Lille" in schools
        async with session_factory() as session:
            lille = await session.scalar(select(School.id).where(School.uai == "0591234W"))
        response = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {
                "full_name": "Nina Nouvelle",
                "email": "Nina@Example.org",
                "how": "mot_de_passe",
                "password": "un-mot-de-passe-solide",
                "roles": "referent",
                "school_ids": str(lille),
            },
        )
        assert response.status_code == 303, response.text
        page = await client.get(response.headers["location"])
        assert "Compte créé pour Nina Nouvelle." in page.text
        assert "nina@example.org" in page.text
        listing = (await client.get("/administration")).text
        assert "Nina Nouvelle" in listing
        assert "École de Production de Lille" in listing
    async with running_app(settings) as other:
        assert (await sign_in(other, "nina@example.org", "un-mot-de-passe-solide")).headers["location"] == "/referent"


async def test_a_user_created_without_a_password_receives_an_invitation_to_choose_it(
    settings, demo, session_factory
) -> None:
    clear_mails()
    async with signed_in_as(settings, "admin@example.org") as client:
        form = (await client.get("/administration/utilisateurs/nouveau")).text
        assert 'id="how-lien" name="how" value="lien" checked' in form
        response = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {"full_name": "Paul Payeur", "email": "paul@example.org", "roles": "accountant", "how": "lien"},
        )
        assert response.status_code == 303, response.text
        page = (await client.get(response.headers["location"])).text
        assert "une invitation pour choisir son mot de passe est envoyée à paul@example.org" in page
        assert "(lien valable 72 heures)" in page
    await drain_outbox(session_factory)
    assert reset_links() == []  # not the forgotten-password mail
    [link] = invitation_links()
    async with running_app(settings) as other:
        await other.get("/connexion")
        done = await post_form(
            other, link, {"password": "mon-mot-de-passe-choisi", "confirmation": "mon-mot-de-passe-choisi"}
        )
        assert done.status_code == 303, done.text
    async with running_app(settings) as other:
        assert (await sign_in(other, "paul@example.org", "mon-mot-de-passe-choisi")).headers[
            "location"
        ] == "/comptabilite"


async def test_committee_and_accountant_together_are_refused_in_french_and_nothing_is_created(
    settings, demo, session_factory
) -> None:
    before = await count(session_factory, User)
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {
                "full_name": "Double Casquette",
                "email": "double@example.org",
                "password": "un-mot-de-passe-solide",
                "roles": ["committee", "accountant"],
            },
        )
    assert response.status_code == 422
    assert "ne peut pas être tenu avec un rôle du comité" in error_next_to(response.text, "roles")
    assert "accountant role" not in response.text
    assert 'value="Double Casquette"' in response.text  # the form keeps what was typed
    assert await count(session_factory, User) == before


async def test_a_bad_new_user_form_shows_each_error_next_to_its_field(settings, demo, session_factory) -> None:
    before = await count(session_factory, User)
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {"full_name": "", "email": "pas-une-adresse", "how": "mot_de_passe", "password": "court"},
        )
        duplicate = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {"full_name": "Autre", "email": "chair@example.org", "password": "", "roles": "committee"},
        )
        referent = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {"full_name": "Sans École", "email": "sans@example.org", "roles": "referent"},
        )
    assert response.status_code == 422
    assert error_next_to(response.text, "full_name") == "champ obligatoire"
    assert error_next_to(response.text, "email") == (
        "adresse électronique non valable : il manque le signe « @ » (par exemple prenom.nom@exemple.fr)"
    )
    assert "12 caractères" in error_next_to(response.text, "password")
    assert error_next_to(response.text, "roles") == "cocher au moins un rôle"
    assert duplicate.status_code == 422
    assert error_next_to(duplicate.text, "email") == REFUSALS["email_taken"]
    assert referent.status_code == 422
    assert "au moins une école" in error_next_to(referent.text, "school_ids")
    assert await count(session_factory, User) == before


async def test_the_admin_changes_roles_and_a_conflict_changes_nothing(settings, demo, session_factory) -> None:
    member = await user_id(session_factory, "committee3@example.org")
    async with signed_in_as(settings, "admin@example.org") as client:
        page = await client.get(f"/administration/utilisateurs/{member}")
        assert "Dominique Comité" in page.text
        refused = await post_form(
            client,
            f"/administration/utilisateurs/{member}",
            {"full_name": "Dominique Comité", "roles": ["chair", "accountant"]},
        )
        assert refused.status_code == 422
        assert "qui vote ne paie pas" in error_next_to(refused.text, "roles")
        async with session_factory() as session:
            assert (await session.scalar(select(User.roles).where(User.id == member))) == ["committee"]
        saved = await post_form(
            client,
            f"/administration/utilisateurs/{member}",
            {"full_name": "Dominique Comité-Vote", "roles": ["committee", "chair"]},
        )
        assert saved.status_code == 303
        after = await client.get(saved.headers["location"])
        assert "Compte de Dominique Comité-Vote enregistré." in after.text
    async with session_factory() as session:
        assert set(await session.scalar(select(User.roles).where(User.id == member)) or []) == {"committee", "chair"}


async def test_the_admin_cannot_drop_their_own_admin_role_nor_deactivate_themselves(
    settings, demo, session_factory
) -> None:
    admin = await user_id(session_factory, "admin@example.org")
    async with signed_in_as(settings, "admin@example.org") as client:
        page = await client.get(f"/administration/utilisateurs/{admin}")
        assert "Désactiver" not in page.text
        refused = await post_form(client, f"/administration/utilisateurs/{admin}", {"full_name": "A", "roles": "chair"})
        assert refused.status_code == 422
        assert "son propre rôle d'administrateur" in error_next_to(refused.text, "roles")
        myself = await post_form(client, f"/administration/utilisateurs/{admin}/desactiver", {})
        assert myself.status_code == 422
        assert REFUSALS["own_account_deactivation"] in html.unescape(myself.text)
    async with session_factory() as session:
        assert await session.scalar(select(User.is_active).where(User.id == admin))


async def test_deactivating_a_user_stops_their_api_token(settings, demo, login, session_factory) -> None:
    member = await login("committee3@example.org")
    assert (await member.get("/api/v1/me")).status_code == 200
    target = await user_id(session_factory, "committee3@example.org")
    async with signed_in_as(settings, "admin@example.org") as client:
        page = await client.get(f"/administration/utilisateurs/{target}")
        assert ">Désactiver</button>" in page.text
        response = await post_form(client, f"/administration/utilisateurs/{target}/desactiver", {})
        assert response.status_code == 303
        after = (await client.get(response.headers["location"])).text
        assert "désactivé" in after
        assert ">Réactiver</button>" in after
        assert "Désactivé" in (await client.get("/administration", params={"active": "non"})).text
        no_link = await post_form(client, f"/administration/utilisateurs/{target}/mot-de-passe", {"how": "lien"})
        assert no_link.status_code == 422
        assert "le compte est désactivé" in error_next_to(no_link.text, "how")
    assert (await member.get("/api/v1/me")).status_code == 401


async def test_resetting_a_password_signs_the_account_out_and_sets_the_new_one(
    settings, demo, login, session_factory
) -> None:
    member = await login("committee2@example.org")
    target = await user_id(session_factory, "committee2@example.org")
    async with signed_in_as(settings, "admin@example.org") as client:
        short = await post_form(
            client, f"/administration/utilisateurs/{target}/mot-de-passe", {"how": "mot_de_passe", "password": "court"}
        )
        assert short.status_code == 422
        assert "12 caractères" in error_next_to(short.text, "password")
        assert (await member.get("/api/v1/me")).status_code == 200
        response = await post_form(
            client,
            f"/administration/utilisateurs/{target}/mot-de-passe",
            {"how": "mot_de_passe", "password": "nouveau-mot-de-passe"},
        )
        assert response.status_code == 303
        assert "Mot de passe réinitialisé" in (await client.get(response.headers["location"])).text
    assert (await member.get("/api/v1/me")).status_code == 401
    async with running_app(settings) as other:
        assert (await sign_in(other, "committee2@example.org", "nouveau-mot-de-passe")).status_code == 303
    clear_mails()
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(client, f"/administration/utilisateurs/{target}/mot-de-passe", {"how": "lien"})
        assert response.status_code == 303
        page = (await client.get(response.headers["location"])).text
        assert "un lien pour en choisir un nouveau est envoyé à committee2@example.org" in page
    await drain_outbox(session_factory)
    assert len(reset_links()) == 1
    async with running_app(settings) as other:  # the password typed before no longer works
        assert (await sign_in(other, "committee2@example.org", "nouveau-mot-de-passe")).status_code == 401


# --- schools -------------------------------------------------------------------------------------------------


async def test_the_schools_list_shows_their_referents(settings, demo) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        page = (await client.get("/administration/ecoles")).text
    row = page.split("École de Production de Lyon Vaise", 1)[1].split("</tr>", 1)[0]
    assert "0691234S" in row
    assert "Auvergne-Rhône-Alpes" in row
    assert "Romain Référent" in row
    assert "Bérénice Référente" not in row


async def test_a_school_with_a_bad_check_letter_shows_the_error_next_to_the_uai(
    settings, demo, session_factory
) -> None:
    before = await count(session_factory, School)
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(
            client,
            "/administration/ecoles",
            {
                "name": "École de Production de Nantes",
                "uai": "0441234A",
                "region": "Pays de la Loire",
                "department": "44",
            },
        )
        taken = await post_form(
            client,
            "/administration/ecoles",
            {"name": "Doublon", "uai": "0691234S", "region": "Auvergne-Rhône-Alpes", "department": "9999"},
        )
    assert response.status_code == 422
    assert error_next_to(response.text, "uai") == "la lettre de contrôle du code UAI est incorrecte"
    assert 'value="École de Production de Nantes"' in response.text
    assert taken.status_code == 422
    assert "numéro de département" in error_next_to(taken.text, "department")
    assert await count(session_factory, School) == before


async def test_the_admin_registers_then_edits_a_school(settings, demo, session_factory) -> None:
    uai = "0441234" + "ABCDEFGHJKLMNPRSTUVWXYZ"[441234 % 23]
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(
            client,
            "/administration/ecoles",
            {
                "name": "École de Production de Nantes",
                "uai": uai.lower(),
                "region": "Pays de la Loire",
                "department": "44",
            },
        )
        assert response.status_code == 303, response.text
        listing = (await client.get("/administration/ecoles")).text
        assert "École enregistrée : École de Production de Nantes." in listing
        assert uai in listing
        again = await post_form(
            client,
            "/administration/ecoles",
            {"name": "Autre", "uai": uai, "region": "Pays de la Loire", "department": "44"},
        )
        assert again.status_code == 422
        assert error_next_to(again.text, "uai") == REFUSALS["uai_taken"].format(uai=uai)
        async with session_factory() as session:
            school = await session.scalar(select(School.id).where(School.uai == uai))
        edited = await post_form(
            client,
            f"/administration/ecoles/{school}",
            {"name": "École de Production Nantes-Atelier", "region": "Pays de la Loire", "department": "44"},
        )
        assert edited.status_code == 303
        page = (await client.get(edited.headers["location"])).text
        assert "<h1>École de Production Nantes-Atelier</h1>" in page
        assert "Aucun référent" in page
        emptied = await post_form(
            client, f"/administration/ecoles/{school}", {"name": "", "region": "Pays de la Loire", "department": "44"}
        )
        assert emptied.status_code == 422
        assert error_next_to(emptied.text, "name") == "champ obligatoire"


# --- budgets -------------------------------------------------------------------------------------------------


async def test_a_new_budget_shows_its_consumption_after_an_approval(settings, login, session_factory) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(
            client,
            "/administration/budgets",
            {"fiscal_year": str(YEAR), "amount": "1 000", "category": "transport"},
        )
        assert response.status_code == 303, response.text
        page = (await client.get("/administration/budgets")).text
        assert "Enveloppe créée : enveloppe" in page
        assert "catégorie transport" in page
        application = await submitted(await login("referent@example.org"), amount_requested_cents=25000)
        await vote(await login("committee1@example.org"), application["id"])
        decided = await vote(await login("committee2@example.org"), application["id"])
        assert decided.json()["status"] == "approved"
        page = (await client.get("/administration/budgets")).text
    row = page.split("catégorie transport", 1)[1].split("</tr>", 1)[0]
    assert "1\u202f000,00\u00a0€" in row  # amount
    assert "Réservé : </span>250,00\u00a0€" in row
    assert "Payé : </span>0,00\u00a0€" in row
    assert "Disponible : </span>750,00\u00a0€" in row
    assert "25 % engagé" in row
    assert '<meter min="0" max="100000"' in row


async def test_a_duplicate_budget_scope_is_refused_next_to_the_form(settings, demo, session_factory) -> None:
    before = await count(session_factory, BudgetEnvelope)
    async with signed_in_as(settings, "admin@example.org") as client:
        duplicate = await post_form(client, "/administration/budgets", {"fiscal_year": str(YEAR), "amount": "100"})
        bad = await post_form(
            client, "/administration/budgets", {"fiscal_year": "l'an prochain", "amount": "-3", "region": "Bretagne"}
        )
        region = await post_form(
            client, "/administration/budgets", {"fiscal_year": str(YEAR), "amount": "100", "region": "Bretagne"}
        )
    assert duplicate.status_code == 422
    assert "Une enveloppe existe déjà pour cet exercice et ce périmètre" in duplicate.text
    assert 'value="100"' in duplicate.text
    assert bad.status_code == 422
    assert error_next_to(bad.text, "fiscal_year") == "année attendue, par exemple 2026"
    assert "montant attendu en euros" in error_next_to(bad.text, "amount")
    assert region.status_code == 422
    assert error_next_to(region.text, "region") == "aucune école dans cette région"
    assert await count(session_factory, BudgetEnvelope) == before


# --- policy --------------------------------------------------------------------------------------------------


async def test_the_admin_edits_the_policy_in_euros(settings, demo, session_factory) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        form = (await client.get("/administration/politique")).text
        assert 'value="300"' in form  # the demo's first band, in euros
        assert 'id="bands.2.up_to"' in form  # an empty row to add a band
        response = await post_form(client, "/administration/politique", POLICY_FORM)
        assert response.status_code == 303, response.text
        page = (await client.get("/administration/politique")).text
        assert "Règles enregistrées." in page
        assert 'value="1500,50"' in page
    policy = await stored_policy(session_factory)
    assert policy["bands"] == [
        {"up_to_cents": 30000, "approvals": 2, "chair_required": False},
        {"up_to_cents": 100000, "approvals": 3, "chair_required": False},
        {"up_to_cents": None, "approvals": 3, "chair_required": True},
    ]
    assert policy["category_ceilings_cents"] == {"transport": 50000, "housing": 150050, "other": 50000}
    assert policy["fast_track_ceiling_cents"] == 15000
    assert policy["student_yearly_ceiling_cents"] == 200000
    assert (policy["target_decision_hours"], policy["target_decision_hours_urgent"]) == (48, 12)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"bands.1.approvals": "9"}, "bands.1.approvals", "9 votes favorables exigés mais le comité ne compte que 4"),
        ({"bands.1.approvals": "0"}, "bands.1.approvals", "doit être au moins 1"),
        ({"bands.1.approvals": "deux"}, "bands.1.approvals", "nombre entier attendu"),
        ({"bands.1.up_to": "200"}, "bands", "les plafonds des tranches doivent croître"),
        ({"bands.2.up_to": "5000"}, "bands", "la dernière tranche doit rester sans plafond"),
        ({"rejections_to_reject": "8"}, "rejections_to_reject", "8 refus exigés"),
        ({"category_ceilings.food": "douze"}, "category_ceilings.food", "montant attendu en euros"),
        ({"target_decision_hours": ""}, "target_decision_hours", "champ obligatoire"),
    ],
)
async def test_an_invalid_policy_shows_the_error_next_to_its_field_and_changes_nothing(
    settings, demo, session_factory, change: dict[str, str], field: str, message: str
) -> None:
    before = await stored_policy(session_factory)
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(client, "/administration/politique", {**POLICY_FORM, **change})
    assert response.status_code == 422
    assert message in error_next_to(response.text, field)
    assert "Les règles n'ont pas été enregistrées" in html.unescape(response.text)
    assert await stored_policy(session_factory) == before


async def test_an_unbounded_band_before_the_last_is_refused_in_french(settings, demo, session_factory) -> None:
    before = await stored_policy(session_factory)
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(client, "/administration/politique", {**POLICY_FORM, "bands.0.up_to": ""})
    assert response.status_code == 422
    assert error_next_to(response.text, "bands") == "seule la dernière tranche peut rester sans plafond"
    assert await stored_policy(session_factory) == before


# --- who may -------------------------------------------------------------------------------------------------

ADMIN_PAGES = (
    "/administration",
    "/administration/utilisateurs/nouveau",
    "/administration/ecoles",
    "/administration/budgets",
    "/administration/politique",
)


@pytest.mark.parametrize(
    ("email", "home"),
    [
        ("referent@example.org", "/referent"),
        ("chair@example.org", "/comite"),
        ("accountant@example.org", "/comptabilite"),
    ],
)
async def test_non_admins_are_sent_home_and_their_posts_change_nothing(
    settings, demo, session_factory, email: str, home: str
) -> None:
    target = await user_id(session_factory, "committee1@example.org")
    policy = await stored_policy(session_factory)
    users, schools, envelopes = (
        await count(session_factory, User),
        await count(session_factory, School),
        await count(session_factory, BudgetEnvelope),
    )
    async with signed_in_as(settings, email) as client:
        for path in (*ADMIN_PAGES, f"/administration/utilisateurs/{target}"):
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"] == home
        posts = [
            ("/administration/utilisateurs/nouveau", {"full_name": "X", "email": "x@example.org", "roles": "admin"}),
            (f"/administration/utilisateurs/{target}/desactiver", {}),
            (f"/administration/utilisateurs/{target}/mot-de-passe", {"password": "un-mot-de-passe-solide"}),
            (f"/administration/utilisateurs/{target}", {"full_name": "X", "roles": "admin"}),
            ("/administration/ecoles", {"name": "X", "uai": "0441234A", "region": "R", "department": "44"}),
            ("/administration/budgets", {"fiscal_year": str(YEAR + 1), "amount": "100"}),
            ("/administration/politique", POLICY_FORM),
        ]
        for path, data in posts:
            response = await post_form(client, path, data)
            assert response.status_code == 303, path
            assert response.headers["location"] == home
    assert await stored_policy(session_factory) == policy
    assert (await count(session_factory, User), await count(session_factory, School)) == (users, schools)
    assert await count(session_factory, BudgetEnvelope) == envelopes
    async with session_factory() as session:
        member = await session.get(User, target)
        assert member is not None
        assert member.is_active
        assert member.roles == ["committee"]


async def test_an_admin_post_without_the_csrf_token_is_403(settings, demo, session_factory) -> None:
    target = await user_id(session_factory, "committee1@example.org")
    async with signed_in_as(settings, "admin@example.org") as client:
        for path, data in (
            (f"/administration/utilisateurs/{target}/desactiver", {}),
            ("/administration/budgets", {"fiscal_year": str(YEAR + 1), "amount": "100"}),
            ("/administration/politique", POLICY_FORM),
        ):
            response = await client.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, path
    async with session_factory() as session:
        assert await session.scalar(select(User.is_active).where(User.id == target))
    assert await count(session_factory, BudgetEnvelope, BudgetEnvelope.fiscal_year == YEAR + 1) == 0


async def test_a_national_fund_filters_the_accounts_by_the_schools_uai_code(settings, demo, session_factory) -> None:
    # More schools than a list can offer (a list of 10 000 made the page a megabyte): the field asks for the code.
    async with session_factory() as session:
        session.add_all(
            School(name=f"École {n:03d}", uai=f"9{n:06d}X", region="Bretagne", department="29") for n in range(301)
        )
        await session.commit()
    async with signed_in_as(settings, "admin@example.org") as client:
        page = (await client.get("/administration")).text
        assert 'name="uai"' in page
        assert 'name="school_id"' not in page
        assert "École 300" not in page
        vaise = (await client.get("/administration", params={"uai": " 0691234s "})).text
        assert "Romain Référent" in vaise
        assert "Camille Comité" not in vaise
        unknown = await client.get("/administration", params={"uai": "0000000Z"})
        assert error_next_to(unknown.text, "uai") == "aucune école n'a ce code UAI"

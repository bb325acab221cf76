"""Sign-in, sessions, CSRF, limits and password links, over real HTTP against the served portal."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from attest.portal.auth import GENERIC_FAILURE
from attest.portal.models import Account, PortalSession
from attest.portal.sessions import COOKIE, token_hash, write_tx
from tests.portal.conftest import PASSWORD, Browser, Clock, Served, add_account, audit_rows, portal_settings


@pytest.fixture(autouse=True)
def generous_client_limit(served: Served) -> Iterator[None]:
    """Every test here signs in from 127.0.0.1: only the rate-limit test keeps the default."""
    with portal_settings(served, client_logins_per_minute=10_000):
        yield


def _session_rows(served: Served, username: str) -> list[PortalSession]:
    with served.portal.db() as s:  # type: ignore[attr-defined]
        account = s.scalar(select(Account).where(Account.username == username))
        rows = list(s.scalars(select(PortalSession).where(PortalSession.account_id == account.id)))
        s.expunge_all()
        return rows


def test_login_sets_a_strict_session_cookie_and_lands_on_documents(served: Served, browser: Browser) -> None:
    add_account(served, "anna-acme")
    response = browser.login("anna-acme")
    assert response.status_code == 303 and response.headers["location"] == "/"
    session_cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    flags = {part.strip().lower() for part in session_cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags, session_cookie
    token = browser.cookies[COOKIE]
    assert len(token) >= 43
    # Only the token's SHA-256 is stored.
    (row,) = _session_rows(served, "anna-acme")
    assert row.id_hash == token_hash(token) and token.encode() not in row.id_hash
    home = browser.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/documents"
    assert browser.get("/documents").status_code == 200
    assert audit_rows(served, action="login", outcome="ok", account="anna-acme")


def test_wrong_password_and_unknown_user_get_the_same_answer(served: Served, browser: Browser) -> None:
    add_account(served, "bruno-acme")
    wrong = browser.login("bruno-acme", "not the right password")
    unknown = browser.login("nobody-here", "not the right password")
    assert wrong.status_code == unknown.status_code == 401
    assert GENERIC_FAILURE in wrong.text and GENERIC_FAILURE in unknown.text
    # The pages differ only by their fresh CSRF token.
    strip = re.compile(r'value="[^"]+"')
    assert strip.sub("", wrong.text) == strip.sub("", unknown.text)
    assert COOKIE not in browser.cookies
    assert audit_rows(served, action="login", outcome="denied", account="bruno-acme")
    # The unknown username is not recorded anywhere in the audit trail (it may be a password).
    assert not [r for r in audit_rows(served, action="login") if "nobody-here" in repr(vars(r))]


def test_lockout_after_consecutive_failures_refuses_the_right_password(served: Served, browser: Browser,
                                                                       clock: Clock) -> None:
    add_account(served, "carla-acme")
    limit = served.portal.settings.max_failed_logins  # type: ignore[attr-defined]
    for _ in range(limit):
        assert browser.login("carla-acme", "wrong password, again").status_code == 401
    refused = browser.login("carla-acme")  # the right one
    assert refused.status_code == 401 and GENERIC_FAILURE in refused.text
    assert COOKIE not in browser.cookies
    assert audit_rows(served, action="login", outcome="locked", account="carla-acme")
    clock.advance(minutes=served.portal.settings.lockout_minutes + 1)  # type: ignore[attr-defined]
    assert browser.login("carla-acme").status_code == 303


def test_too_many_attempts_from_one_address_get_429(served: Served, browser: Browser, clock: Clock) -> None:
    clock.advance(days=2)  # attempts of the other tests (stamped now) are outside this minute
    with portal_settings(served, client_logins_per_minute=3):
        for i in range(3):
            assert browser.login(f"ghost-{i}", "whatever it is").status_code == 401
        limited = browser.login("ghost-x", "whatever it is")
        assert limited.status_code == 429
        clock.advance(seconds=61)
        assert browser.login("ghost-y", "whatever it is").status_code == 401
    assert audit_rows(served, action="login", outcome="rate_limited")


def test_session_fixation_a_planted_cookie_is_never_the_session(served: Served, browser: Browser) -> None:
    add_account(served, "dario-acme")
    planted = "attacker-chosen-session-value-0123456789abcdef"
    browser.cookies[COOKIE] = planted
    assert browser.get("/documents").status_code == 303  # not signed in
    assert browser.login("dario-acme").status_code == 303
    assert browser.cookies[COOKIE] != planted
    # The planted value opens nothing, even after the victim signed in.
    attacker = Browser(served.url)
    attacker.cookies[COOKIE] = planted
    assert attacker.get("/documents").status_code == 303
    attacker.close()


def test_a_new_login_replaces_the_previous_session_of_that_browser(served: Served, browser: Browser) -> None:
    add_account(served, "dora-acme")
    browser.login("dora-acme")
    first = browser.cookies.pop(COOKIE)
    login_token = browser.csrf("/login")  # GET /login redirects while signed in: fetch the form without it
    browser.cookies[COOKIE] = first
    again = browser.post("/login", data={"username": "dora-acme", "password": PASSWORD, "csrf_token": login_token})
    assert again.status_code == 303
    second = browser.cookies[COOKIE]
    assert first != second
    (row,) = _session_rows(served, "dora-acme")  # the session the old cookie named has ended
    assert row.id_hash == token_hash(second)


def test_logout_ends_the_session(served: Served, browser: Browser) -> None:
    add_account(served, "elio-acme")
    browser.login("elio-acme")
    token = browser.cookies[COOKIE]
    csrf = browser.csrf("/documents")
    out = browser.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert COOKIE not in browser.cookies
    replay = Browser(served.url)
    replay.cookies[COOKIE] = token
    assert replay.get("/documents").status_code == 303
    replay.close()
    assert not _session_rows(served, "elio-acme")
    assert audit_rows(served, action="logout", outcome="ok", account="elio-acme")


def test_idle_timeout_and_absolute_lifetime(served: Served, browser: Browser, clock: Clock) -> None:
    settings = served.portal.settings  # type: ignore[attr-defined]
    add_account(served, "fabio-acme")
    browser.login("fabio-acme")
    clock.advance(minutes=settings.idle_minutes - 1)
    assert browser.get("/documents").status_code == 200  # used: the idle timer restarts
    clock.advance(minutes=settings.idle_minutes - 1)
    assert browser.get("/documents").status_code == 200
    clock.advance(minutes=settings.idle_minutes + 1)
    assert browser.get("/documents").status_code == 303  # idle too long
    assert not _session_rows(served, "fabio-acme")

    browser.login("fabio-acme")
    steps = int(settings.session_hours * 60 // (settings.idle_minutes - 1)) + 1
    for _ in range(steps):  # kept busy, never idle…
        clock.advance(minutes=settings.idle_minutes - 1)
    assert browser.get("/documents").status_code == 303  # …but past its absolute lifetime


def test_csrf_missing_wrong_or_cross_origin_is_refused(served: Served, browser: Browser) -> None:
    add_account(served, "gino-acme")
    browser.login("gino-acme")
    csrf = browser.csrf("/documents")
    assert browser.post("/logout").status_code == 403
    assert browser.post("/logout", data={"csrf_token": "x" * len(csrf)}).status_code == 403
    assert browser.post("/logout", data={"csrf_token": csrf},
                        headers={"Origin": "https://evil.example"}).status_code == 403
    assert browser.post("/logout", data={"csrf_token": csrf},
                        headers={"Referer": "https://evil.example/page"}).status_code == 403
    assert browser.get("/documents").status_code == 200  # still signed in: nothing happened
    assert len(audit_rows(served, action="csrf", outcome="denied", account="gino-acme")) == 4
    same_site = browser.post("/logout", data={"csrf_token": csrf}, headers={"Origin": served.url})
    assert same_site.status_code == 303


def test_login_form_needs_its_own_csrf_token(served: Served, browser: Browser) -> None:
    add_account(served, "gaia-acme")
    refused = browser.post("/login", data={"username": "gaia-acme", "password": PASSWORD, "csrf_token": "forged"})
    assert refused.status_code == 403 and COOKIE not in browser.cookies
    token = browser.csrf("/login")
    cross = browser.post("/login", data={"username": "gaia-acme", "password": PASSWORD, "csrf_token": token},
                         headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and COOKIE not in browser.cookies


def _reset_link(served: Served, username: str) -> str:
    from attest.portal.resets import issue_reset

    portal = served.portal
    with write_tx(portal) as s:  # type: ignore[arg-type]
        account = s.scalar(select(Account).where(Account.username == username))
        return issue_reset(s, account, "test", portal.now(), portal.settings.reset_link_hours)  # type: ignore[attr-defined]


def _set_password(browser: Browser, token: str, password: str, confirm: str | None = None):  # type: ignore[no-untyped-def]
    csrf = browser.csrf(f"/reset/{token}")
    return browser.post(f"/reset/{token}", data={"password": password, "confirm": confirm or password,
                                                 "csrf_token": csrf})


def test_reset_link_sets_the_password_once(served: Served, browser: Browser) -> None:
    add_account(served, "hana-acme", password=None)
    assert browser.login("hana-acme", "").status_code == 401  # no password yet: nothing opens it
    token = _reset_link(served, "hana-acme")
    assert _set_password(browser, token, "short").status_code == 400
    assert _set_password(browser, token, "hana-acme-is-my-password").status_code == 400  # holds the username
    assert _set_password(browser, token, "a long enough password", "another one entirely").status_code == 400
    done = _set_password(browser, token, "a long enough password")
    assert done.status_code == 200 and "Password set" in done.text
    assert browser.get(f"/reset/{token}").status_code == 404  # used
    assert browser.post(f"/reset/{token}", data={"password": "another long password", "confirm":
                                                 "another long password", "csrf_token": "x"}).status_code == 403
    assert browser.login("hana-acme", "a long enough password").status_code == 303
    assert audit_rows(served, action="password_reset", outcome="ok", account="hana-acme")
    assert audit_rows(served, action="password_reset", outcome="not_found")
    assert not [r for r in audit_rows(served) if token in repr(vars(r))]  # the token is never audited


def test_reset_link_expires_and_ends_old_sessions(served: Served, browser: Browser, clock: Clock) -> None:
    add_account(served, "ivo-acme")
    browser.login("ivo-acme")
    token = _reset_link(served, "ivo-acme")
    other = Browser(served.url)
    assert _set_password(other, token, "ivo's brand new password").status_code == 200
    assert browser.get("/documents").status_code == 303  # the old sign-in ended with the old password
    other.close()
    late = _reset_link(served, "ivo-acme")
    clock.advance(hours=served.portal.settings.reset_link_hours, seconds=1)  # type: ignore[attr-defined]
    assert browser.get(f"/reset/{late}").status_code == 404


def test_disabled_account_cannot_sign_in_and_its_sessions_end(served: Served, browser: Browser) -> None:
    add_account(served, "luca-acme")
    browser.login("luca-acme")
    assert browser.get("/documents").status_code == 200
    with write_tx(served.portal) as s:  # type: ignore[arg-type]
        s.scalar(select(Account).where(Account.username == "luca-acme")).disabled = True
    assert browser.get("/documents").status_code == 303
    fresh = Browser(served.url)
    assert fresh.login("luca-acme").status_code == 401
    fresh.close()
    assert audit_rows(served, action="login", outcome="disabled", account="luca-acme")


def test_roles_keep_to_their_pages(served: Served) -> None:
    add_account(served, "mara-sales", role="sales", tenant=None)
    add_account(served, "nino-admin", role="admin", tenant=None)
    add_account(served, "olga-acme")
    sales, admin, tenant = Browser(served.url), Browser(served.url), Browser(served.url)
    for b, name in ((sales, "mara-sales"), (admin, "nino-admin"), (tenant, "olga-acme")):
        assert b.login(name).status_code == 303
    assert sales.get("/").headers["location"] == "/admin"
    assert sales.get("/admin").status_code == 200
    assert sales.get("/admin/users").status_code == 403
    assert sales.get("/documents").status_code == 403
    assert admin.get("/admin/users").status_code == 200 and "olga-acme" in admin.get("/admin/users").text
    assert tenant.get("/admin").status_code == 403
    assert audit_rows(served, action="access", outcome="denied", account="olga-acme")
    for b in (sales, admin, tenant):
        b.close()


def test_users_cli_add_list_reset_link_disable(served: Served, browser: Browser) -> None:
    from tests.cli.test_demo_end_to_end import attest

    ws = served.workspace
    config = ws / "attest.yaml"

    def users(*args: str):  # type: ignore[no-untyped-def]
        return attest("users", *args, "--config", config, cwd=ws)

    added = users("add", "pia-bellini", "--role", "tenant", "--tenant", "bellini")
    assert added.returncode == 0, added.stderr
    (link,) = [w for w in added.stdout.split() if "/reset/" in w]
    token = link.rsplit("/reset/", 1)[1]
    assert "password" not in added.stdout.lower()
    # Bad input: exit 2.
    assert users("add", "pia-bellini", "--role", "tenant", "--tenant", "bellini").returncode == 2  # duplicate
    assert users("add", "quinto", "--role", "tenant").returncode == 2  # no tenant
    assert users("add", "quinto", "--role", "tenant", "--tenant", "nosuch").returncode == 2
    assert users("add", "quinto", "--role", "sales", "--tenant", "acme").returncode == 2
    assert users("add", "quinto", "--role", "root").returncode == 2
    assert users("disable", "nosuch-user").returncode == 2
    assert users("reset-link", "nosuch-user").returncode == 2

    assert _set_password(browser, token, "pia's very own password").status_code == 200
    assert browser.login("pia-bellini", "pia's very own password").status_code == 303
    assert browser.get("/documents").status_code == 200

    listed = users("list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "pia-bellini" in line)
    assert "tenant" in row and "bellini" in row and "no" in row

    second = users("reset-link", "pia-bellini")
    assert second.returncode == 0 and "/reset/" in second.stdout

    disabled = users("disable", "pia-bellini")
    assert disabled.returncode == 0, disabled.stderr
    assert browser.get("/documents").status_code == 303  # its session ended
    assert browser.login("pia-bellini", "pia's very own password").status_code == 401
    new_token = second.stdout.split("/reset/", 1)[1].split()[0]
    assert browser.get(f"/reset/{new_token}").status_code == 404  # a disabled account's links are void
    row = next(line for line in users("list").stdout.splitlines() if "pia-bellini" in line)
    assert "yes" in row
    assert audit_rows(served, action="user_add", outcome="ok")
    assert audit_rows(served, action="user_disable", outcome="ok")


def test_users_cli_enable_lets_a_disabled_user_back(served: Served, browser: Browser) -> None:
    from attest.portal import accounts
    from collectors.manual import default_author
    from tests.cli.test_demo_end_to_end import attest

    ws = served.workspace
    config = ws / "attest.yaml"

    def users(*args: str):  # type: ignore[no-untyped-def]
        return attest("users", *args, "--config", config, cwd=ws)

    add_account(served, "enzo-acme")
    assert users("disable", "enzo-acme").returncode == 0
    assert browser.login("enzo-acme").status_code == 401

    enabled = users("enable", "enzo-acme")
    assert enabled.returncode == 0, enabled.stderr
    assert "Enabled enzo-acme" in enabled.stderr and "reset-link" in enabled.stderr
    assert browser.login("enzo-acme").status_code == 303  # the password works again
    assert browser.get("/documents").status_code == 200
    (account,) = [a for a in accounts.list_accounts(served.portal) if a.username == "enzo-acme"]  # type: ignore[arg-type]
    assert not account.disabled and account.password_set

    assert users("enable", "nosuch-user").returncode == 2  # bad input: exit 2, nothing recorded
    assert users("enable", "bad name!").returncode == 2
    (entry,) = audit_rows(served, action="user_enable", detail='{"username":"enzo-acme"}')
    assert (entry.outcome, entry.tenant_id, entry.account) == ("ok", "acme", default_author()[:64])  # type: ignore[attr-defined]
    assert not audit_rows(served, action="user_enable", detail='{"username":"nosuch-user"}')

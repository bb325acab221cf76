"""The admin's web pages over real HTTP: accounts (add with a one-time link, disable, enable,
password links) and issuing a tenant's attestation; roles, CSRF and bad input refused with
nothing written."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from attest.portal.models import Account, ResetToken
from evidence.log import DOCUMENT_KIND
from tests.portal.conftest import PERIOD, Browser, Served, add_account, audit_rows, portal_settings

ADMIN = "web-admin"
LINK = re.compile(r'<code class="reset-url">([^<]+)</code>')


@pytest.fixture(autouse=True)
def generous_client_limit(served: Served) -> Iterator[None]:
    with portal_settings(served, client_logins_per_minute=10_000):
        yield


@pytest.fixture(scope="module")
def admin_account(served: Served) -> str:
    add_account(served, ADMIN, role="admin", tenant=None)
    return ADMIN


@pytest.fixture
def admin(served: Served, admin_account: str) -> Iterator[Browser]:
    b = Browser(served.url)
    assert b.login(admin_account).status_code == 303
    try:
        yield b
    finally:
        b.close()


# --- helpers -------------------------------------------------------------------------------------


def _account(served: Served, username: str) -> Account | None:
    with served.portal.db() as s:  # type: ignore[attr-defined]
        row = s.scalar(select(Account).where(Account.username == username))
        s.expunge_all()
        return row


def _counts(served: Served) -> tuple[int, int]:
    """(accounts, reset links): what a refused account form must leave as it was."""
    with served.portal.db() as s:  # type: ignore[attr-defined]
        return (int(s.scalar(select(func.count()).select_from(Account)) or 0),
                int(s.scalar(select(func.count()).select_from(ResetToken)) or 0))


def _link_token(served: Served, response: Any) -> str:
    assert response.status_code == 200, response.text[:500]
    (url,) = LINK.findall(response.text)
    base = served.portal.loaded.model.provider.verification_url.rstrip("/")  # type: ignore[attr-defined]
    assert url.startswith(base + "/reset/"), url  # never built on the request's Host header
    return str(url.rsplit("/reset/", 1)[1])


def _add(admin: Browser, username: str, role: str = "tenant", tenant: str = "acme",
         csrf: str | None = None) -> Any:
    token = admin.csrf("/admin/users") if csrf is None else csrf
    return admin.post("/admin/users", data={"username": username, "role": role, "tenant": tenant,
                                            "csrf_token": token})


def _act(admin: Browser, username: str, action: str) -> Any:
    return admin.post(f"/admin/users/{username}/{action}", data={"csrf_token": admin.csrf("/admin/users")})


def _set_password(served: Served, token: str, password: str) -> None:
    b = Browser(served.url)
    try:
        csrf = b.csrf(f"/reset/{token}")
        done = b.post(f"/reset/{token}", data={"password": password, "confirm": password, "csrf_token": csrf})
        assert done.status_code == 200 and "Password set" in done.text, done.text[:300]
    finally:
        b.close()


def _entry(served: Served, action: str, username: str, outcome: str = "ok") -> Any:
    """The one audit entry of *action* on *username* by the admin."""
    (entry,) = [r for r in audit_rows(served, action=action, outcome=outcome, account=ADMIN)
                if json.loads(r.detail).get("username") == username]  # type: ignore[attr-defined]
    return entry


def _no_secret_recorded(served: Served, token: str) -> None:
    for row in audit_rows(served):
        assert token not in repr(vars(row))


def _document_ids(served: Served) -> list[str]:
    """The document ids signed into the log (`attest.document` records), in log order."""
    log = served.portal.log  # type: ignore[attr-defined]
    return [str(r.payload["document_id"]) for r in log.records(kind=DOCUMENT_KIND)]


def _files(served: Served, tenant: str, period: str = PERIOD) -> set[str]:
    folder: Path = served.portal.loaded.output_dir / tenant / period  # type: ignore[attr-defined]
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _issue(admin: Browser, tenant: str, period: str = PERIOD, force: bool = False, csrf: str | None = None) -> Any:
    data = {"tenant": tenant, "period": period, "csrf_token": admin.csrf("/admin") if csrf is None else csrf}
    if force:
        data["force"] = "yes"
    return admin.post("/admin/issue", data=data)


# --- accounts ------------------------------------------------------------------------------------


def test_admin_adds_a_tenant_user_who_sets_a_password_and_sees_only_its_tenant(
        served: Served, admin: Browser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    added = _add(admin, "tess-acme")
    token = _link_token(served, added)
    assert "Added tess-acme" in added.text
    row = _account(served, "tess-acme")
    assert row is not None and row.role == "tenant" and row.tenant_id == "acme" and row.password_hash is None
    assert "tess-acme" in admin.get("/admin/users").text
    assert token not in admin.get("/admin/users").text  # shown once, on the answer to the form only

    entry = _entry(served, "user_add", "tess-acme")
    assert json.loads(entry.detail) == {"username": "tess-acme", "role": "tenant"}  # type: ignore[attr-defined]
    assert entry.tenant_id == "acme"  # type: ignore[attr-defined]
    _no_secret_recorded(served, token)
    assert token not in caplog.text

    _set_password(served, token, "tess has a long password")
    tess = Browser(served.url)
    try:
        assert tess.login("tess-acme", "tess has a long password").status_code == 303
        page = tess.get("/documents")
        assert page.status_code == 200
        assert served.documents["acme"] in page.text and served.documents["bellini"] not in page.text
        assert tess.get(f"/documents/{served.documents['bellini']}/pdf").status_code == 404
        assert tess.get(f"/documents/{served.documents['acme']}/pdf").status_code == 200
    finally:
        tess.close()


def test_admin_adds_sales_and_admin_accounts_without_a_tenant(served: Served, admin: Browser) -> None:
    _link_token(served, _add(admin, "sven-sales", role="sales", tenant=""))
    _link_token(served, _add(admin, "ada-admin", role="admin", tenant=""))
    sales, second = _account(served, "sven-sales"), _account(served, "ada-admin")
    assert sales is not None and sales.role == "sales" and sales.tenant_id is None
    assert second is not None and second.role == "admin" and second.tenant_id is None


@pytest.mark.parametrize(("username", "role", "tenant", "says"), [
    ("dup-acme", "tenant", "acme", "exists"),  # added first below: a duplicate
    ("unknown-tenant", "tenant", "nosuch", "not a configured tenant"),
    ("no-tenant", "tenant", "", "required for role tenant"),
    ("sales-with-tenant", "sales", "acme", "only for it"),
    ("bad-role", "root", "", "give one of admin, sales, tenant"),
    ("-starts-badly", "tenant", "acme", "starting with a letter or digit"),
    ("has space", "tenant", "acme", "letters, digits"),
    ("x" * 65, "tenant", "acme", "3–64"),
])
def test_bad_account_input_is_400_with_the_form_reshown_and_nothing_written(
        served: Served, admin: Browser, username: str, role: str, tenant: str, says: str) -> None:
    if _account(served, "dup-acme") is None:
        _link_token(served, _add(admin, "dup-acme"))
    before = _counts(served)
    refused = _add(admin, username, role, tenant)
    assert refused.status_code == 400, refused.text[:300]
    assert says in refused.text
    assert 'class="error"' in refused.text and 'action="/admin/users"' in refused.text  # the form, again
    if len(username) <= 64:  # what was typed is kept (escaped) for correcting
        assert f'value="{username}"' in refused.text
    assert not LINK.search(refused.text)
    assert _counts(served) == before
    assert audit_rows(served, action="user_add", outcome="bad_request", account=ADMIN)


def test_disable_ends_the_session_at_once_and_enable_lets_the_user_back(served: Served, admin: Browser) -> None:
    add_account(served, "dora-acme")
    dora = Browser(served.url)
    try:
        assert dora.login("dora-acme").status_code == 303
        assert dora.get("/documents").status_code == 200
        done = _act(admin, "dora-acme", "disable")
        assert done.status_code == 200 and "Disabled dora-acme; 1 session(s) ended." in done.text
        assert dora.get("/documents").status_code == 303  # the very next request is signed out
        assert dora.login("dora-acme").status_code == 401
        row = _account(served, "dora-acme")
        assert row is not None and row.disabled
        entry = _entry(served, "user_disable", "dora-acme")
        assert json.loads(entry.detail) == {"username": "dora-acme", "sessions_ended": 1}  # type: ignore[attr-defined]
        # A disabled account gets no password link (its earlier ones were voided).
        refused = _act(admin, "dora-acme", "reset-link")
        assert refused.status_code == 400 and "disabled" in refused.text and not LINK.search(refused.text)

        enabled = _act(admin, "dora-acme", "enable")
        assert enabled.status_code == 200 and "Enabled dora-acme" in enabled.text
        assert dora.login("dora-acme").status_code == 303  # its password works again
        assert dora.get("/documents").status_code == 200
        assert _entry(served, "user_enable", "dora-acme")
    finally:
        dora.close()


def test_an_admin_cannot_disable_themselves(served: Served, admin: Browser) -> None:
    assert 'action="/admin/users/web-admin/disable"' not in admin.get("/admin/users").text
    refused = _act(admin, ADMIN, "disable")
    assert refused.status_code == 400 and "your own account" in refused.text
    row = _account(served, ADMIN)
    assert row is not None and not row.disabled
    assert admin.get("/admin/users").status_code == 200  # still signed in
    assert audit_rows(served, action="user_disable", outcome="bad_request", account=ADMIN)


def test_unknown_accounts_are_400(served: Served, admin: Browser) -> None:
    for action in ("disable", "enable", "reset-link"):
        refused = _act(admin, "nobody-here", action)
        assert refused.status_code == 400 and "no such account" in refused.text, action


def test_a_new_password_link_replaces_the_previous_one(served: Served, admin: Browser) -> None:
    first = _link_token(served, _add(admin, "rita-acme"))
    again = _act(admin, "rita-acme", "reset-link")
    second = _link_token(served, again)
    assert second != first and "New password link for rita-acme" in again.text
    probe = Browser(served.url)
    try:
        assert probe.get(f"/reset/{first}").status_code == 404  # voided by the new one
        assert probe.get(f"/reset/{second}").status_code == 200
    finally:
        probe.close()
    entry = _entry(served, "reset_link", "rita-acme")
    assert json.loads(entry.detail) == {"username": "rita-acme"}  # type: ignore[attr-defined]
    for token in (first, second):
        _no_secret_recorded(served, token)


# --- roles and CSRF ------------------------------------------------------------------------------


ADMIN_POSTS = ("/admin/users", "/admin/users/{victim}/disable", "/admin/users/{victim}/enable",
               "/admin/users/{victim}/reset-link", "/admin/issue")


def test_sales_and_tenant_users_get_403_on_every_admin_page_and_form(served: Served) -> None:
    add_account(served, "sam-sales", role="sales", tenant=None)
    add_account(served, "tim-acme")
    add_account(served, "vic-acme")
    docs_before, counts_before = _document_ids(served), _counts(served)
    for name, home in (("sam-sales", "/admin"), ("tim-acme", "/documents")):
        b = Browser(served.url)
        try:
            assert b.login(name).status_code == 303
            token = b.csrf(home)  # a valid token of their own: the role alone must refuse
            assert b.get("/admin/users").status_code == 403, name
            for path in ADMIN_POSTS:
                data = {"csrf_token": token, "username": "evil-admin", "role": "admin", "tenant": "",
                        "period": PERIOD, "force": "yes"}
                assert b.post(path.format(victim="vic-acme"), data=data).status_code == 403, (name, path)
        finally:
            b.close()
        assert audit_rows(served, action="access", outcome="denied", account=name)
    tenant = Browser(served.url)
    try:
        tenant.login("tim-acme")
        assert tenant.get("/admin").status_code == 403
    finally:
        tenant.close()
    victim = _account(served, "vic-acme")
    assert victim is not None and not victim.disabled
    assert _account(served, "evil-admin") is None
    assert _counts(served) == counts_before and _document_ids(served) == docs_before


def test_admin_forms_without_a_valid_csrf_token_are_403(served: Served, admin: Browser) -> None:
    add_account(served, "wes-acme")
    docs_before, counts_before = _document_ids(served), _counts(served)
    good = admin.csrf("/admin/users")
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),  # no token
        ({"csrf_token": "not-the-token"}, {}),
        ({"csrf_token": good}, {"Origin": "https://attacker.example"}),  # the right token from another site
    ]
    for extra, headers in attempts:
        for path in ADMIN_POSTS:
            data = {"username": "csrf-admin", "role": "admin", "tenant": "", "period": PERIOD,
                    **extra}
            response = admin.post(path.format(victim="wes-acme"), data=data, headers=headers)
            assert response.status_code == 403, (path, extra, headers)
    wes = _account(served, "wes-acme")
    assert wes is not None and not wes.disabled
    assert _account(served, "csrf-admin") is None
    assert _counts(served) == counts_before and _document_ids(served) == docs_before
    assert len(audit_rows(served, action="csrf", outcome="denied", account=ADMIN)) >= 3 * len(ADMIN_POSTS)


# --- issuing -------------------------------------------------------------------------------------


def test_issuing_from_the_web_makes_a_verifiable_document_the_tenant_sees_at_once(
        served: Served, admin: Browser, tmp_path: Path) -> None:
    from tests.cli.test_demo_end_to_end import attest

    add_account(served, "una-bellini", tenant="bellini")
    una = Browser(served.url)
    try:
        una.login("una-bellini")
        before = una.get("/documents").text  # the portal's view is now cached at this checkpoint
        issued = _issue(admin, "bellini", force=True)
        assert issued.status_code == 303, issued.text[:500]
        location = issued.headers["location"]
        assert location.startswith("/admin?issued=AT-")
        new = location.split("=", 1)[1]
        assert new not in before and _document_ids(served)[-1] == new
        overview = admin.get(location)
        assert f"Issued {new} for bellini, {PERIOD}" in overview.text

        page = una.get("/documents").text  # the next request sees it: the view followed the checkpoint
        assert new in page and page.index(new) < page.index(served.documents["bellini"])
        assert "superseded" in page
        pdf = una.get(f"/documents/{new}/pdf")
        assert pdf.status_code == 200
        assert una.get(f"/d/{new}").status_code == 200 and "current" in una.get(f"/d/{new}").text
    finally:
        una.close()

    path = tmp_path / f"{new}.pdf"
    path.write_bytes(pdf.content)
    checked = attest("verify", path, "--config", served.workspace / "attest.yaml", cwd=served.workspace)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (entry,) = audit_rows(served, action="issue", outcome="ok", account=ADMIN, tenant_id="bellini")
    detail = json.loads(entry.detail)  # type: ignore[attr-defined]
    assert detail["document_id"] == new and detail["period"] == PERIOD and detail["unchanged"] is False
    assert detail["supersedes"] == served.documents["bellini"]

    # Unforced, with nothing changed: the current document is kept, as `attest render` does.
    kept = _issue(admin, "bellini")
    assert kept.status_code == 303 and kept.headers["location"] == f"/admin?kept={new}"
    assert _document_ids(served)[-1] == new
    assert "stays the current document" in admin.get(kept.headers["location"]).text


def test_a_notice_cannot_be_forged_by_a_link(served: Served, admin: Browser) -> None:
    real = admin.get(f"/admin?issued={served.documents['acme']}")
    assert 'role="status"' in real.text  # the notice shows for a document the log holds…
    forged = admin.get("/admin?issued=AT-0000000000000000000A")
    assert forged.status_code == 200 and 'role="status"' not in forged.text  # …and for nothing else
    assert 'role="status"' not in admin.get("/admin?issued=<b>hello</b>").text


def _future_period(served: Served) -> str:
    later = served.portal.now() + timedelta(days=40)  # type: ignore[attr-defined]
    return f"{later.year:04d}-{later.month:02d}"


@pytest.mark.parametrize(("tenant", "period", "says"), [
    ("nosuch", PERIOD, "not a configured tenant"),
    ("acme", "2026-13", "YYYY-MM"),
    ("acme", "October", "YYYY-MM"),
    ("acme", "", "YYYY-MM"),
    ("acme", "future", "has not started yet"),
])
def test_bad_issue_input_is_400_and_records_nothing(served: Served, admin: Browser, tenant: str, period: str,
                                                    says: str) -> None:
    period = _future_period(served) if period == "future" else period
    docs, files = _document_ids(served), _files(served, "acme")
    refused = _issue(admin, tenant, period)
    assert refused.status_code == 400, refused.text[:300]
    assert says in refused.text and 'action="/admin/issue"' in refused.text
    assert _document_ids(served) == docs and _files(served, "acme") == files
    assert audit_rows(served, action="issue", outcome="bad_request", account=ADMIN)


def test_a_busy_log_is_409(served: Served, admin: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    from attest.portal import admin_issue

    monkeypatch.setattr(admin_issue, "ISSUE_WAIT_S", 0.5)
    portal: Any = served.portal
    docs, files = _document_ids(served), _files(served, "acme")
    csrf = admin.csrf("/admin")
    run_id = portal.log.begin_run("test-holds-the-log", portal.signer)  # like a timer's `attest run`
    try:
        busy = _issue(admin, "acme", force=True, csrf=csrf)
    finally:
        portal.log.finish_run(run_id, "ok", portal.signer, {"note": "test"})
    assert busy.status_code == 409, busy.text[:300]
    assert "still in progress" in busy.text
    assert _document_ids(served) == docs and _files(served, "acme") == files
    assert audit_rows(served, action="issue", outcome="busy", account=ADMIN)


def test_a_timestamp_authority_that_is_down_is_503_before_anything_is_recorded(
        served: Served, admin: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    from attest.signing import SigningError
    from evidence.models import Run

    def down() -> None:
        raise SigningError("timestamp authority https://tsa.example: connection refused")

    portal: Any = served.portal
    monkeypatch.setattr(portal.signer, "check_timestamp_authority", down)

    def evaluations() -> int:
        with portal.db() as s:
            return int(s.scalar(select(func.count()).select_from(Run).where(Run.purpose == "evaluate")) or 0)

    docs, files, runs = _document_ids(served), _files(served, "acme"), evaluations()
    failed = _issue(admin, "acme", force=True)
    assert failed.status_code == 503 and "connection refused" in failed.text
    assert _document_ids(served) == docs and _files(served, "acme") == files and evaluations() == runs
    assert audit_rows(served, action="issue", outcome="failed", account=ADMIN)


def test_a_signing_failure_midway_leaves_no_document(served: Served, admin: Browser,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from attest.signing import SigningError

    def broken(*args: object, **kwargs: object) -> bytes:
        raise SigningError("timestamp authority https://tsa.example: timed out")

    portal: Any = served.portal
    monkeypatch.setattr(portal.signer, "sign_pdf", broken)
    docs, files = _document_ids(served), _files(served, "acme")
    failed = _issue(admin, "acme", force=True)
    assert failed.status_code == 503 and "timed out" in failed.text
    assert _document_ids(served) == docs and _files(served, "acme") == files  # no record, no file, no temp file
    monkeypatch.undo()
    # The log is left usable: the next issue works.
    assert _issue(admin, "acme", force=True).status_code == 303

"""Share links for the provider-wide (fleet) attestation, over real HTTP: created by
`attest shares create` and on the sales page, they hand out the fleet PDF stamped with the
recipient (still verifying) or the fleet pack (verifying), with the same expiry, revocation, NDA
and audit as a tenant's link, under the tenant key the signed log records the document under
("_fleet"). A tenant user never reaches the fleet document through the tenant pages or the API."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from attest.errors import BadInput
from attest.portal.models import AuditEntry
from attest.portal.shares import NDA_COOKIE, CreatedLink, create_link, list_links, revoke_link
from tests.cli.test_demo_end_to_end import attest
from tests.portal.conftest import AS_OF, PERIOD, Browser, Clock, Served, add_account, audit_rows

FLEET = "_fleet"  # attest/fleet/model.py FLEET_SCOPE, as the signed log records the document
RECIPIENT = "Regione Esempio — gara 3/2026"
SHARE = re.compile(r"/s/([A-Za-z0-9_-]{43})")


@pytest.fixture(scope="module")
def fleet(served: Served) -> str:
    """The provider-wide attestation of PERIOD, issued in the module's workspace."""
    ws = served.workspace
    proc = attest("render", "--fleet", "--period", PERIOD, "--as-of", AS_OF, "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (doc,) = [w for w in proc.stdout.split() if w.startswith("AT-")]
    return doc


def _shares(served: Served, *args: str | Path) -> Any:
    ws = served.workspace
    return attest("shares", *args, "--config", ws / "attest.yaml", cwd=ws)


def _link(served: Served, fleet: str, scope: str = "pdf", days: int = 7) -> CreatedLink:
    return create_link(served.portal, document_id=fleet, scope=scope, recipient=RECIPIENT, days=days,  # type: ignore[arg-type]
                       created_by="sara")


def _audit(served: Served, **where: object) -> list[AuditEntry]:
    return cast(list[AuditEntry], audit_rows(served, **where))


def _verify(served: Served, path: Path) -> None:
    ws = served.workspace
    proc = attest("verify", path, "--trust", ws / "keys" / "demo-ca.pem", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _issued_pdf(served: Served, fleet: str) -> bytes:
    return (served.workspace / "documents" / FLEET / PERIOD / f"{fleet}.pdf").read_bytes()


def test_cli_fleet_link_with_nda_hands_out_the_stamped_pdf(served: Served, fleet: str, tmp_path: Path) -> None:
    from attest.portal.stamp import describe_stamps, original_revision

    nda = tmp_path / "nda.txt"
    nda.write_text("For the evaluation of tender 3/2026 only.\n", encoding="utf-8")
    made = _shares(served, "create", "-d", fleet, "--recipient", RECIPIENT, "--days", "5", "--nda-file", nda,
                   "--by", "sara@sales")
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"pdf of {fleet} (provider-wide)" in made.stdout and "NDA required" in made.stdout
    (token,) = SHARE.findall(made.stdout)
    path = f"/s/{token}"

    page = httpx.get(served.url + path)
    assert page.status_code == 200 and fleet in page.text and PERIOD in page.text
    assert "provider-wide attestation" in page.text and "tender 3/2026 only" in page.text
    assert httpx.get(served.url + path + "/download").status_code == 403  # the NDA first
    accepted = httpx.post(served.url + path + "/accept", data={"accept": "yes"})
    assert accepted.status_code == 303
    cookie = accepted.headers["set-cookie"].split(";")[0].split("=", 1)[1]

    got = httpx.get(served.url + path + "/download", cookies={NDA_COOKIE: cookie})
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert f'filename="{fleet}.pdf"' in got.headers["content-disposition"]
    assert original_revision(got.content) == _issued_pdf(served, fleet) and got.content != _issued_pdf(served, fleet)
    assert any("Regione Esempio" in text for text in describe_stamps(got.content))
    target = tmp_path / "fleet-shared.pdf"
    target.write_bytes(got.content)
    _verify(served, target)

    (link,) = [li for li in list_links(served.portal, FLEET) if li.recipient == RECIPIENT  # type: ignore[arg-type]
               and li.nda_text]
    assert link.fleet and link.document_id == fleet and link.uses == 1 and link.created_by == "sara@sales"
    (created,) = _audit(served, action="share_create", link=link.public_id)
    assert created.tenant_id == FLEET and created.account == "sara@sales"
    used = _audit(served, action="share_use", link=link.public_id)
    assert [(r.outcome, r.tenant_id) for r in used] == [("ok", FLEET), ("nda_required", FLEET), ("ok", FLEET),
                                                       ("ok", FLEET)]
    assert token not in " ".join(r.detail for r in [created, *used])

    listed = _shares(served, "list", "--tenant", FLEET)
    assert listed.returncode == 0 and link.public_id in listed.stdout and token not in listed.stdout
    assert link.public_id not in _shares(served, "list", "--tenant", "acme").stdout


def test_fleet_pack_link_hands_out_the_fleet_pack(served: Served, fleet: str, tmp_path: Path) -> None:
    made = _link(served, fleet, scope="fleet-pack")
    page = httpx.get(served.url + made.path)
    assert page.status_code == 200 and "provider-wide evidence pack" in page.text
    got = httpx.get(served.url + made.path + "/download", timeout=120)
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert f'filename="{fleet}-fleet-pack.zip"' in got.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert f"document/{fleet}.pdf" in archive.namelist()
    manifest = json.loads(archive.read("MANIFEST.json"))
    assert manifest["kind"] == "fleet" and manifest["document_id"] == fleet and manifest["tenant"] is None
    target = tmp_path / "fleet-pack.zip"
    target.write_bytes(got.content)
    _verify(served, target)
    assert [r.tenant_id for r in _audit(served, action="share_use", link=made.link.public_id)] == [FLEET, FLEET]


def test_scopes_must_fit_the_document(served: Served, fleet: str) -> None:
    for scope in ("tender-pack", "audit-pack"):  # built from one tenant's evidence: not for the fleet document
        with pytest.raises(BadInput, match="provider-wide attestation is shared as pdf or fleet-pack"):
            _link(served, fleet, scope=scope)
    with pytest.raises(BadInput, match="a tenant's document is shared as"):
        _link(served, served.documents["acme"], scope="fleet-pack")
    refused = _shares(served, "create", "-d", fleet, "--recipient", "X", "--scope", "audit-pack")
    assert refused.returncode == 2 and "fleet-pack" in refused.stderr + refused.stdout


def test_sales_page_creates_and_revokes_a_fleet_link(served: Served, fleet: str) -> None:
    add_account(served, "sven-sales", role="sales", tenant=None)
    sales = Browser(served.url)
    try:
        assert sales.login("sven-sales").status_code == 303
        csrf = sales.csrf("/admin/shares")
        form = {"document_id": fleet, "scope": "pdf", "recipient": "ASL Esempio 4", "days": "3", "nda_text": "",
                "csrf_token": csrf}
        wrong = sales.post("/admin/shares", data={**form, "scope": "tender-pack"})
        assert wrong.status_code == 400 and "fleet-pack" in wrong.text
        made = sales.post("/admin/shares", data=form)
        assert made.status_code == 200, made.text
        (token,) = SHARE.findall(made.text)
        got = httpx.get(f"{served.url}/s/{token}/download")
        assert got.status_code == 200 and got.content.startswith(b"%PDF")
        (link,) = [li for li in list_links(served.portal, FLEET) if li.recipient == "ASL Esempio 4"]  # type: ignore[arg-type]
        listing = sales.get("/admin/shares").text
        assert link.public_id in listing and "provider-wide" in listing and token not in listing

        revoked = sales.post(f"/admin/shares/{link.public_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        for suffix in ("", "/download"):
            gone = httpx.get(f"{served.url}/s/{token}{suffix}")
            assert gone.status_code == 410 and "withdrawn by the sender" in gone.text
    finally:
        sales.close()
    (created,) = _audit(served, action="share_create", outcome="ok", link=link.public_id)
    assert created.tenant_id == FLEET and created.account == "sven-sales"
    (revoke,) = _audit(served, action="share_revoke", link=link.public_id)
    assert revoke.tenant_id == FLEET and revoke.account == "sven-sales"
    uses = _audit(served, action="share_use", link=link.public_id)
    assert [(r.outcome, r.tenant_id) for r in uses] == [("ok", FLEET), ("revoked", FLEET), ("revoked", FLEET)]
    refused = _audit(served, action="share_create", outcome="bad_request", account="sven-sales")
    assert refused and fleet in refused[-1].detail


def test_expired_fleet_link_is_refused_and_audited(served: Served, fleet: str, clock: Clock) -> None:
    made = _link(served, fleet, days=2)
    assert httpx.get(served.url + made.path + "/download").status_code == 200
    clock.advance(days=2, seconds=1)
    for suffix in ("", "/download"):
        refused = httpx.get(served.url + made.path + suffix)
        assert refused.status_code == 410 and "expired" in refused.text
    uses = _audit(served, action="share_use", link=made.link.public_id)
    assert [(r.outcome, r.tenant_id) for r in uses] == [("ok", FLEET), ("expired", FLEET), ("expired", FLEET)]


def test_a_tenant_user_never_reaches_the_fleet_document(served: Served, fleet: str) -> None:
    from attest.canonical import utc_iso
    from attest.portal.tokens import create_token

    made = _link(served, fleet)  # an active link does not open the tenant pages either
    add_account(served, "tea-acme", role="tenant", tenant="acme")
    tenant = Browser(served.url)
    try:
        assert tenant.login("tea-acme").status_code == 303
        assert fleet not in tenant.get("/documents").text
        for path in (f"/documents/{fleet}/pdf", f"/documents/{fleet}/json", f"/documents/{fleet}/pack/tender",
                     f"/documents/{fleet}/pack/audit"):
            assert tenant.get(path).status_code == 404, path
        assert tenant.get("/admin/shares").status_code == 403
    finally:
        tenant.close()
    denied = _audit(served, action="download", account="tea-acme")
    assert denied and all(r.outcome == "denied" and r.tenant_id == "acme" for r in denied)

    portal: Any = served.portal
    with portal.db() as s:
        api_token, _ = create_token(s, "acme", "acme customer area", "test", utc_iso(portal.now()))
    bearer = {"Authorization": f"Bearer {api_token}"}
    assert httpx.get(f"{served.url}/api/v1/documents/{fleet}", headers=bearer).status_code == 404
    assert httpx.get(f"{served.url}/api/v1/documents/{fleet}/files/pdf", headers=bearer).status_code == 404
    assert fleet not in httpx.get(f"{served.url}/api/v1/documents", headers=bearer).text
    revoke_link(served.portal, made.link.public_id, "sara")  # type: ignore[arg-type]


def test_a_newer_fleet_attestation_withdraws_the_links_to_the_old_one(served: Served, fleet: str) -> None:
    """Last in the module: it supersedes the fixture's fleet document."""
    made = _link(served, fleet)
    assert httpx.get(served.url + made.path + "/download").status_code == 200
    ws = served.workspace
    proc = attest("render", "--fleet", "--period", PERIOD, "--as-of", "2026-10-21T12:00:00Z",
                  "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gone = httpx.get(served.url + made.path + "/download")
    assert gone.status_code == 410 and "replaced or withdrawn" in gone.text
    assert _audit(served, action="share_use", link=made.link.public_id)[-1].outcome == "withdrawn"
    with pytest.raises(BadInput, match="superseded"):
        _link(served, fleet)

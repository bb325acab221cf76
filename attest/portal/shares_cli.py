"""`attest shares create|list|revoke`: share links from the command line (attest/portal/shares.py).
The token is printed once, inside the link; only its SHA-256 is kept."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Annotated

import typer

shares_app = typer.Typer(no_args_is_help=True, help="Share links for tenders (attest serve).")

_ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="attest.yaml (default: $ATTEST_CONFIG or "
                                                                        "./attest.yaml)", show_default=False)]


def _by(by: str | None) -> str:
    return by or f"{getpass.getuser()}@{socket.gethostname()}"


@shares_app.command("create")
def create(document_id: Annotated[str, typer.Option("--document", "-d", help="The document to share (a tenant's "
                                                                             "current one, or the current "
                                                                             "provider-wide attestation)",
                                                  show_default=False)],
           recipient: Annotated[str, typer.Option("--recipient", help="Who receives it (stamped on the PDF)",
                                                  show_default=False)],
           days: Annotated[int, typer.Option("--days", help="Days until the link expires")] = 30,
           scope: Annotated[str, typer.Option("--scope", help="pdf, tender-pack or audit-pack (a tenant's "
                                                              "document); pdf or fleet-pack (the provider-wide "
                                                              "attestation)")] = "pdf",
           nda_file: Annotated[Path | None, typer.Option("--nda-file", help="A UTF-8 text the recipient must accept "
                                                                            "first", show_default=False)] = None,
           by: Annotated[str | None, typer.Option("--by", help="Who creates it (default: user@host)")] = None,
           config: _ConfigOpt = None) -> None:
    """Create a share link and print it (the only time the token is shown). Exit 2 for a document that is neither a
    tenant's current one nor the current provider-wide attestation, a scope that does not fit it, a bad recipient or
    expiry."""
    from attest.cli import _signer, _workspace, out
    from attest.errors import BadInput
    from attest.portal.context import Portal
    from attest.portal.shares import create_link

    try:
        nda = nda_file.read_text(encoding="utf-8") if nda_file else None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--nda-file {nda_file}: cannot read it as UTF-8 text ({exc})") from None
    with _workspace(config) as (loaded, log):
        made = create_link(Portal(loaded, log, _signer(loaded)), document_id=document_id, scope=scope,
                           recipient=recipient, days=days, created_by=_by(by), nda_text=nda)
        base = loaded.model.provider.verification_url.rstrip("/")
    link = made.link
    whose = "provider-wide" if link.fleet else link.tenant
    out.print(f"{link.public_id}: {link.scope} of {link.document_id} ({whose}) for {link.recipient}, "
              f"until {link.expires_at}{', NDA required' if link.nda_text else ''}", highlight=False, markup=False)
    out.print(base + made.path, highlight=False, markup=False, soft_wrap=True)


@shares_app.command("list")
def list_(tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's links (_fleet: the "
                                                                          "provider-wide attestation's)",
                                                     show_default=False)] = None,
          config: _ConfigOpt = None) -> None:
    """List share links (never their tokens), newest first."""
    from attest.canonical import utc_iso
    from attest.cli import _signer, _workspace, out
    from attest.portal.context import Portal
    from attest.portal.shares import list_links

    with _workspace(config) as (loaded, log):
        portal = Portal(loaded, log, _signer(loaded))
        links, now = list_links(portal, tenant), utc_iso(portal.now())
    for link in links:
        out.print(f"{link.public_id}  {link.state(now):8}  {link.tenant}  {link.document_id}  {link.scope:11}  "
                  f"until {link.expires_at}  uses {link.uses}  {link.recipient}", highlight=False, markup=False)


@shares_app.command("revoke")
def revoke(public_id: Annotated[str, typer.Argument(metavar="LINK_ID", help="The link's id (SL-…)",
                                                    show_default=False)],
           by: Annotated[str | None, typer.Option("--by", help="Who revokes it (default: user@host)")] = None,
           config: _ConfigOpt = None) -> None:
    """Revoke a share link: from now on it answers 410. Exit 2 for an unknown or already revoked link."""
    from attest.cli import _signer, _workspace, err
    from attest.portal.context import Portal
    from attest.portal.shares import revoke_link

    with _workspace(config) as (loaded, log):
        link = revoke_link(Portal(loaded, log, _signer(loaded)), public_id, _by(by))
    err.print(f"revoked {link.public_id} ({link.document_id}, {link.recipient}) at {link.revoked_at}",
              highlight=False, markup=False)

"""`attest tokens add|list|revoke`: per-tenant tokens for the portal's JSON API, managed on the
provider's server only. `add` prints the token once (only its SHA-256 is kept); `list` and the
audit trail name tokens by their public id. Each action is audited with the operator (user@host).
Exit codes: 0 done; 2 bad input (unknown tenant, unknown token)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attest.errors import BadInput

if TYPE_CHECKING:
    from attest.portal.context import Portal

tokens_app = typer.Typer(no_args_is_help=True, help="API tokens for the portal's JSON API (attest serve).")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="attest.yaml (default: $ATTEST_CONFIG or "
                                                                       "./attest.yaml)", show_default=False)]


@contextmanager
def _portal(config: Path | None) -> Iterator[Portal]:
    from attest.cli import _signer, _workspace
    from attest.portal.context import Portal

    with _workspace(config) as (loaded, log):
        yield Portal(loaded, log, _signer(loaded))


def _operator() -> str:
    from collectors.manual import default_author

    return default_author()[:64]


@tokens_app.command("add")
def add(tenant: Annotated[str, typer.Option("--tenant", help="The tenant whose documents the token reads",
                                            show_default=False)],
        label: Annotated[str, typer.Option("--label", help="What the token is for (e.g. the customer area's "
                                                           "name)", show_default=False)],
        config: ConfigOpt = None) -> None:
    """Create a token for one tenant and print it (once: it is not stored and cannot be shown again)."""
    from attest.canonical import utc_iso
    from attest.cli import err
    from attest.portal import audit
    from attest.portal.tokens import create_token

    label = " ".join(label.split())
    if not 1 <= len(label) <= 120:
        raise BadInput("--label: give 1–120 characters")
    by = _operator()
    with _portal(config) as portal:
        if tenant not in {t.id for t in portal.loaded.model.tenants}:
            known = ", ".join(t.id for t in portal.loaded.model.tenants)
            raise BadInput(f"--tenant {tenant!r}: not a tenant in {portal.loaded.path} (known: {known})")
        with portal.db() as s:
            token, info = create_token(s, tenant, label, by, utc_iso(portal.now()))
        audit.record(portal, None, "token_add", "ok", account=by, link=info.public_id, tenant=tenant,
                     detail={"label": label})
    typer.echo(token)
    err.print(f"Token {info.public_id} for {tenant}: give it to the integrator now; it is not stored and cannot be "
              "shown again.", highlight=False)


@tokens_app.command("list")
def list_tokens_command(config: ConfigOpt = None) -> None:
    """List the tokens: public id, tenant, label, created, last used, revoked (never the secret)."""
    from rich.table import Table

    from attest.cli import out
    from attest.portal.tokens import list_tokens

    table = Table(title="API tokens")
    for col in ("public id", "tenant", "label", "created", "by", "last used", "revoked"):
        table.add_column(col, overflow="fold")
    with _portal(config) as portal, portal.db() as s:
        for t in list_tokens(s):
            table.add_row(t.public_id, t.tenant_id, t.label, t.created_at, t.created_by, t.last_used_at or "",
                          t.revoked_at or "")
    out.print(table)


@tokens_app.command("revoke")
def revoke(public_id: Annotated[str, typer.Argument(metavar="PUBLIC_ID", help="As `attest tokens list` shows it",
                                                    show_default=False)],
           config: ConfigOpt = None) -> None:
    """Revoke a token: it stops working at once."""
    from attest.canonical import utc_iso
    from attest.cli import err
    from attest.portal import audit
    from attest.portal.tokens import revoke_token

    with _portal(config) as portal:
        with audit.writing(portal) as s:  # read then write: take the write lock at BEGIN
            info = revoke_token(s, public_id.strip().lower(), utc_iso(portal.now()))
        if info is None:
            raise BadInput(f"PUBLIC_ID {public_id!r}: no such token (see `attest tokens list`)")
        audit.record(portal, None, "token_revoke", "ok", account=_operator(), link=info.public_id,
                     tenant=info.tenant_id, detail={})
    err.print(f"Revoked token {info.public_id} ({info.tenant_id}, {info.label}).", highlight=False)

"""`attest users add|list|disable|reset-link`: the portal's local accounts, managed on the
provider's server only (there is no sign-up page).

No password ever goes on a command line (it would sit in shell history and `ps`): `add` and
`reset-link` print a one-time link on which the user sets a password. The link's base is
`--base-url`, default the provider's verification URL (the portal's public address). Each
action is recorded in the portal's audit trail with the operator (user@host) as the actor.
Exit codes: 0 done; 2 bad input (unknown or duplicate user, bad role or tenant).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attest.errors import BadInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from attest.portal.context import Portal

users_app = typer.Typer(no_args_is_help=True, help="Portal accounts (attest serve).")

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="attest.yaml (default: $ATTEST_CONFIG or "
                                                                       "./attest.yaml)", show_default=False)]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="The portal's public address for the link "
                                                                   "(default: provider.verification_url)")]
UserArg = Annotated[str, typer.Argument(metavar="USERNAME", show_default=False)]


def write_tx(portal: Portal) -> AbstractContextManager[Session]:
    """A read-then-write transaction (see attest.portal.sessions.write_tx); imported late so
    `attest --help` does not load the web stack."""
    from attest.portal.sessions import write_tx as tx

    return tx(portal)


@contextmanager
def _portal(config: Path | None) -> Iterator[Portal]:
    from attest.cli import _signer, _workspace
    from attest.portal.context import Portal

    with _workspace(config) as (loaded, log):
        yield Portal(loaded, log, _signer(loaded))


def _operator() -> str:
    from collectors.manual import default_author

    return default_author()[:64]


def _link(portal: Portal, username: str, base_url: str | None, by: str) -> str:
    from sqlalchemy import select

    from attest.portal.models import Account
    from attest.portal.resets import issue_reset, reset_url

    with write_tx(portal) as s:
        account = s.scalar(select(Account).where(Account.username == username))
        if account is None:
            raise BadInput(f"USERNAME {username!r}: no such account (see `attest users list`)")
        if account.disabled:
            raise BadInput(f"USERNAME {username!r}: the account is disabled")
        token = issue_reset(s, account, by, portal.now(), portal.settings.reset_link_hours)
    return reset_url(base_url or portal.loaded.model.provider.verification_url, token)


def _print_link(portal: Portal, username: str, url: str) -> None:
    from attest.cli import err

    typer.echo(url)
    err.print(f"Give {username} this link (valid {portal.settings.reset_link_hours} h, once) to set a password; "
              "it is not stored and cannot be shown again.", highlight=False)


@users_app.command("add")
def add(username: UserArg,
        role: Annotated[str, typer.Option("--role", help="admin | sales | tenant", show_default=False)],
        tenant: Annotated[str | None, typer.Option("--tenant", help="The tenant (role tenant only)")] = None,
        base_url: BaseUrlOpt = None, config: ConfigOpt = None) -> None:
    """Add an account and print a one-time link on which its user sets a password."""
    from sqlalchemy import select

    from attest.canonical import utc_iso
    from attest.portal import audit
    from attest.portal.models import ROLES, Account

    if not USERNAME.fullmatch(username):
        raise BadInput(f"USERNAME {username!r}: 3–64 letters, digits and . _ @ -, starting with a letter or digit")
    if role not in ROLES:
        raise BadInput(f"--role {role!r}: give one of {', '.join(ROLES)}")
    if (role == "tenant") != (tenant is not None):
        raise BadInput("--tenant: required for role tenant, and only for it")
    by = _operator()
    with _portal(config) as portal:
        if tenant is not None and tenant not in {t.id for t in portal.loaded.model.tenants}:
            known = ", ".join(t.id for t in portal.loaded.model.tenants)
            raise BadInput(f"--tenant {tenant!r}: not a tenant in {portal.loaded.path} (known: {known})")
        with write_tx(portal) as s:
            if s.scalar(select(Account).where(Account.username == username)) is not None:
                raise BadInput(f"USERNAME {username!r}: an account with this name exists")
            s.add(Account(username=username, role=role, tenant_id=tenant, password_hash=None, disabled=False,
                          failed_logins=0, created_at=utc_iso(portal.now())))
        url = _link(portal, username, base_url, by)
        audit.record(portal, None, "user_add", "ok", account=by, tenant=tenant,
                     detail={"username": username, "role": role})
        _print_link(portal, username, url)


@users_app.command("list")
def list_users(config: ConfigOpt = None) -> None:
    """List the accounts: username, role, tenant, disabled, locked."""
    from rich.table import Table
    from sqlalchemy import select

    from attest.cli import out
    from attest.portal.models import Account
    from attest.portal.ratelimit import locked

    table = Table(title="Portal accounts")
    for col in ("username", "role", "tenant", "disabled", "locked", "password set"):
        table.add_column(col, overflow="fold")
    with _portal(config) as portal:
        now = portal.now()
        with portal.db() as s:
            for a in s.scalars(select(Account).order_by(Account.username)):
                table.add_row(a.username, a.role, a.tenant_id or "", "yes" if a.disabled else "no",
                              "yes" if locked(a, now) else "no", "yes" if a.password_hash else "no")
    out.print(table)


@users_app.command("disable")
def disable(username: UserArg, config: ConfigOpt = None) -> None:
    """Disable an account: it can no longer sign in, its sessions end, its unused links are void."""
    from sqlalchemy import select

    from attest.canonical import utc_iso
    from attest.cli import err
    from attest.portal import audit
    from attest.portal.models import Account, ResetToken
    from attest.portal.sessions import end_all_sessions

    with _portal(config) as portal:
        with write_tx(portal) as s:
            account = s.scalar(select(Account).where(Account.username == username))
            if account is None:
                raise BadInput(f"USERNAME {username!r}: no such account (see `attest users list`)")
            account.disabled = True
            ended = end_all_sessions(s, account.id)
            for link in s.scalars(select(ResetToken).where(ResetToken.account_id == account.id,
                                                           ResetToken.used_at.is_(None))):
                link.used_at = utc_iso(portal.now())
            tenant = account.tenant_id
        audit.record(portal, None, "user_disable", "ok", account=_operator(), tenant=tenant,
                     detail={"username": username, "sessions_ended": ended})
    err.print(f"Disabled {username}; {ended} session(s) ended.", highlight=False)


@users_app.command("reset-link")
def reset_link(username: UserArg, base_url: BaseUrlOpt = None, config: ConfigOpt = None) -> None:
    """Print a one-time link on which the user sets a new password (earlier unused links stop working)."""
    from attest.portal import audit

    by = _operator()
    with _portal(config) as portal:
        url = _link(portal, username, base_url, by)
        audit.record(portal, None, "reset_link", "ok", account=by, detail={"username": username})
        _print_link(portal, username, url)

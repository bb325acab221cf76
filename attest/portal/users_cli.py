"""`attest users add|list|disable|enable|reset-link`: the portal's local accounts, managed on the
provider's server only (there is no sign-up page).

No password ever goes on a command line (it would sit in shell history and `ps`): `add` and
`reset-link` print a one-time link on which the user sets a password. The link's base is
`--base-url`, default the provider's verification URL (the portal's public address). The
logic is attest/portal/accounts.py, shared with the admin's accounts page. Each
action is recorded in the portal's audit trail with the operator (user@host) as the actor.
Exit codes: 0 done; 2 bad input (unknown or duplicate user, bad role or tenant).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from attest.portal.context import Portal

users_app = typer.Typer(no_args_is_help=True, help="Portal accounts (attest serve).")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="attest.yaml (default: $ATTEST_CONFIG or "
                                                                       "./attest.yaml)", show_default=False)]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="The portal's public address for the link "
                                                                   "(default: provider.verification_url)")]
UserArg = Annotated[str, typer.Argument(metavar="USERNAME", show_default=False)]


@contextmanager
def _portal(config: Path | None) -> Iterator[Portal]:
    from attest.cli import _signer, _workspace
    from attest.portal.context import Portal

    with _workspace(config) as (loaded, log):
        yield Portal(loaded, log, _signer(loaded))


def _operator() -> str:
    from collectors.manual import default_author

    return default_author()[:64]


def _print_link(portal: Portal, username: str, url: str) -> None:
    from attest.cli import err

    typer.echo(url)
    err.print(f"Give {username} this link (valid {portal.settings.reset_link_hours} h, once) to set a password; "
              "it is not stored and cannot be shown again.", highlight=False)


def _url(portal: Portal, base_url: str | None, token: str) -> str:
    from attest.portal.resets import reset_url

    return reset_url(base_url or portal.loaded.model.provider.verification_url, token)


@users_app.command("add")
def add(username: UserArg,
        role: Annotated[str, typer.Option("--role", help="admin | sales | tenant", show_default=False)],
        tenant: Annotated[str | None, typer.Option("--tenant", help="The tenant (role tenant only)")] = None,
        base_url: BaseUrlOpt = None, config: ConfigOpt = None) -> None:
    """Add an account and print a one-time link on which its user sets a password."""
    from attest.portal import accounts

    with _portal(config) as portal:
        token = accounts.add(portal, username, role, tenant, _operator())
        _print_link(portal, username, _url(portal, base_url, token))


@users_app.command("list")
def list_users(config: ConfigOpt = None) -> None:
    """List the accounts: username, role, tenant, disabled, locked."""
    from rich.table import Table

    from attest.cli import out
    from attest.portal import accounts

    table = Table(title="Portal accounts")
    for col in ("username", "role", "tenant", "disabled", "locked", "password set"):
        table.add_column(col, overflow="fold")
    with _portal(config) as portal:
        for a in accounts.list_accounts(portal):
            table.add_row(a.username, a.role, a.tenant, *("yes" if flag else "no"
                                                          for flag in (a.disabled, a.locked, a.password_set)))
    out.print(table)


@users_app.command("disable")
def disable(username: UserArg, config: ConfigOpt = None) -> None:
    """Disable an account: it can no longer sign in, its sessions end, its unused links are void."""
    from attest.cli import err
    from attest.portal import accounts

    with _portal(config) as portal:
        ended = accounts.disable(portal, username, _operator())
    err.print(f"Disabled {username}; {ended} session(s) ended.", highlight=False)


@users_app.command("enable")
def enable(username: UserArg, config: ConfigOpt = None) -> None:
    """Enable a disabled account again: its password (if set) works again; the links voided when it was disabled
    stay void (`attest users reset-link` issues a new one)."""
    from attest.cli import err
    from attest.portal import accounts

    with _portal(config) as portal:
        accounts.enable(portal, username, _operator())
    # The same words as the admin's accounts page: a re-enabled user without a password needs a new link.
    err.print(f"Enabled {username}. Issue a password link (attest users reset-link) if its user needs one.",
              highlight=False)


@users_app.command("reset-link")
def reset_link(username: UserArg, base_url: BaseUrlOpt = None, config: ConfigOpt = None) -> None:
    """Print a one-time link on which the user sets a new password (earlier unused links stop working)."""
    from attest.portal import accounts

    with _portal(config) as portal:
        token = accounts.reset_link(portal, username, _operator())
        _print_link(portal, username, _url(portal, base_url, token))

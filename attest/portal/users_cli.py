"""`attest users add|list|disable|reset-link` (being built)."""

from __future__ import annotations

import typer

users_app = typer.Typer(no_args_is_help=True, help="Portal accounts (attest serve).")

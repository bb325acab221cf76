"""`attest audit seal|export|prune`: the portal audit trail from the command line.

`export` answers a GDPR request: one tenant's entries with inclusion proofs against the latest
signed checkpoint (attest/portal/audit_export.py), checkable offline; entries past retention are
listed as redacted. `prune` applies `portal.audit_retention_days` now (the portal does so after
sealing): to the staging table and to the payloads of sealed entries in the evidence log."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(no_args_is_help=True, help="The portal audit trail (attest serve).")

_ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="attest.yaml (default: $ATTEST_CONFIG or "
                                                                        "./attest.yaml)", show_default=False)]


def _instant(option: str, text: str | None) -> datetime | None:
    from attest.errors import BadInput
    from attest.period import parse_instant

    if text is None:
        return None
    try:
        return parse_instant(text)
    except BadInput as exc:
        raise BadInput(f"{option}: {exc}") from None


@audit_app.command("seal")
def seal(config: _ConfigOpt = None) -> None:
    """Seal staged audit entries into the evidence log now (the portal does so every few seconds)."""
    from attest.cli import _signer, _workspace, err
    from attest.portal.audit import seal_pending
    from attest.portal.context import Portal

    with _workspace(config) as (loaded, log):
        count = seal_pending(Portal(loaded, log, _signer(loaded)))
    err.print(f"sealed {count} audit entr{'y' if count == 1 else 'ies'}", highlight=False)


@audit_app.command("export")
def export(tenant: Annotated[str, typer.Option("--tenant", "-t", help="The tenant whose entries to export",
                                               show_default=False)],
           out_path: Annotated[Path, typer.Option("--out", "-o", help="The JSON-lines file to write (must not "
                                                                      "exist)", show_default=False)],
           since: Annotated[str | None, typer.Option("--since", help="From this instant (ISO 8601 with offset)",
                                                     show_default=False)] = None,
           until: Annotated[str | None, typer.Option("--until", help="Before this instant (ISO 8601 with offset)",
                                                     show_default=False)] = None,
           config: _ConfigOpt = None) -> None:
    """Write a tenant's sealed audit entries, each with its leaf index and an inclusion proof against the latest
    signed checkpoint (for a GDPR access request); entries past retention are listed as redacted, with their leaf
    and proof. Exit 2 for an unknown tenant, a bad instant, or an output that
    exists."""
    from attest.cli import _anchors, _signer, _workspace, err
    from attest.errors import BadInput
    from attest.portal.audit_export import export_tenant
    from attest.portal.context import Portal

    low, high = _instant("--since", since), _instant("--until", until)
    if out_path.exists():
        raise BadInput(f"--out {out_path}: exists; choose a new file")
    with _workspace(config) as (loaded, log):
        loaded.tenant(tenant)  # BadInput for an unknown tenant
        anchors = _anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])
        data = export_tenant(Portal(loaded, log, _signer(loaded)), tenant, low, high, anchors)
    try:
        with out_path.open("xb") as fh:
            fh.write(data)
    except OSError as exc:
        raise BadInput(f"--out {out_path}: cannot write ({exc.strerror})") from None
    head = json.loads(data.split(b"\n", 1)[0])
    entries, redacted = int(head["entries"]), int(head.get("redacted", 0))
    past = f" ({redacted} past retention: redacted, leaf and proof only)" if redacted else ""
    err.print(f"{out_path}: {entries} audit entr{'y' if entries == 1 else 'ies'} of {tenant}{past}, with inclusion "
              "proofs against the latest signed checkpoint", highlight=False)


@audit_app.command("prune")
def prune(dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is past retention; change "
                                                                  "nothing")] = False,
          config: _ConfigOpt = None) -> None:
    """Apply portal.audit_retention_days now: delete sealed staging rows past it and remove the payloads of older
    sealed entries from the evidence log, keeping their leaves (the log still verifies; a signed record names
    what was removed and why)."""
    from attest.canonical import utc_iso
    from attest.cli import _signer, _workspace, out
    from attest.portal import audit
    from attest.portal.context import Portal

    with _workspace(config) as (loaded, log):
        pruned = audit.prune(Portal(loaded, log, _signer(loaded)), dry_run=dry_run, force=True)
    verb = "would remove" if dry_run else "removed"
    out.print(f"audit retention ({loaded.model.portal.audit_retention_days} days, before "
              f"{utc_iso(pruned.cutoff)}): {verb} {pruned.staging} sealed staging row(s) and the payloads of "
              f"{pruned.payloads} sealed entr{'y' if pruned.payloads == 1 else 'ies'} in the evidence log",
              highlight=False)

"""The `attest` command line (stable names and exit codes: DESIGN.md §7).

Exit codes: 0 success; 1 the thing checked failed (verify, evidence verify, collect with a
failed source); 2 bad input or usage. `evaluate` and `render` exit 0 whatever the verdicts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from attest.errors import AttestError, BadInput, CheckFailed

if TYPE_CHECKING:  # the heavy modules load only in the commands that need them (fast --help)
    from cryptography import x509

    from attest.collect import RunSummary
    from attest.config import LoadedConfig
    from attest.engine import Evaluation
    from attest.fleet.issue import IssuedFleet
    from attest.issue import IssuedDocument
    from attest.period import Period
    from attest.signing import ProviderSigner
    from attest.status import DocumentIndex
    from evidence.log import EvidenceLog

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Attest: signed, verifiable attestations that hosted PBX instances are run properly.")
evidence_app = typer.Typer(no_args_is_help=True, help="The evidence log.")
app.add_typer(evidence_app, name="evidence")
# The portal's account commands live with the portal; imported here only for their typer app.
from attest.portal.users_cli import users_app  # noqa: E402

app.add_typer(users_app, name="users")
from attest.portal.tokens_cli import tokens_app  # noqa: E402

app.add_typer(tokens_app, name="tokens")
from attest.portal.audit_cli import audit_app  # noqa: E402
from attest.portal.shares_cli import shares_app  # noqa: E402

app.add_typer(audit_app, name="audit")
app.add_typer(shares_app, name="shares")

err = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="attest.yaml (default: $ATTEST_CONFIG or "
                                                                       "./attest.yaml)", show_default=False)]
PeriodOpt = Annotated[str | None, typer.Option("--period", help="YYYY-MM in the provider's time zone "
                                                                "(default: the current month)")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Judge evidence as of this instant (ISO 8601 with "
                                                             "offset); default min(period end, now)")]
TenantOpt = Annotated[list[str] | None, typer.Option("--tenant", "-t", help="Only this tenant (repeatable)")]

# How long a command waits for another run (a timer's `attest run`) to release the log.
RUN_WAIT_S = 600.0

VERDICT_STYLE = {"pass": "green", "fail": "bold red", "insufficient_evidence": "yellow", "not_applicable": "dim",
                 "waived": "cyan"}


def _config_path(config: Path | None) -> Path:
    return config or Path(os.environ.get("ATTEST_CONFIG", "attest.yaml"))


def _open_log(loaded: LoadedConfig, *, repair: bool = True) -> EvidenceLog:
    """Open the workspace's evidence log; a database that cannot be reached is bad input (exit 2)
    named in one line, credentials scrubbed."""
    from sqlalchemy.exc import SQLAlchemyError

    from evidence.log import EvidenceLog
    from evidence.scrub import scrub_text

    try:
        return EvidenceLog.open(loaded.database_url, loaded.evidence_dir, repair=repair)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        detail = scrub_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise BadInput(f"{loaded.path}: database_url: cannot open the evidence log: {detail}") from exc


def _anchors(paths: list[Path]) -> list[x509.Certificate]:
    from attest.verify import UnusableInput, load_trust_anchors

    try:
        return load_trust_anchors(paths)
    except (UnusableInput, ValueError, OSError) as exc:
        raise BadInput(f"trust anchors: {exc}") from exc


@contextmanager
def _workspace(config: Path | None) -> Iterator[tuple[LoadedConfig, EvidenceLog]]:
    """Load the config and open its evidence log (closed on exit)."""
    from attest.config import load_config

    loaded = load_config(_config_path(config))
    log = _open_log(loaded)
    try:
        yield loaded, log
    finally:
        log.close()


def _signer(loaded: LoadedConfig) -> ProviderSigner:
    from attest.signing import ProviderSigner, SigningError

    try:
        return ProviderSigner.from_config(loaded)
    except SigningError as exc:
        raise BadInput(f"provider.signing: {exc}") from exc


def _period(loaded: LoadedConfig, period: str | None) -> Period:
    from attest.period import current_period, parse_period

    tz = loaded.model.time_zone
    p = parse_period(period, tz) if period else current_period(tz)
    if p.start > datetime.now(UTC):
        raise BadInput(f"--period {p.label}: the period has not started yet; nothing can be attested for it")
    return p


def _as_of(as_of: str | None, period: Period) -> datetime | None:
    """--as-of: within the period's bounds and not in the future (a signed document must not
    claim to know what has not happened yet)."""
    from attest.period import parse_instant

    if not as_of:
        return None
    moment = parse_instant(as_of)
    if moment > datetime.now(UTC):
        raise BadInput(f"--as-of {as_of}: in the future")
    if not period.start < moment <= period.end:
        raise BadInput(f"--as-of {as_of}: outside the period {period.label} "
                       f"({period.start:%Y-%m-%dT%H:%M:%SZ} – {period.end:%Y-%m-%dT%H:%M:%SZ})")
    return moment


# --- commands -----------------------------------------------------------------------------------


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="Workspace folder to create")],
         force: Annotated[bool, typer.Option("--force", help="Overwrite an existing workspace")] = False) -> None:
    """Create a workspace: attest.yaml, a demo CA and signer, secret files."""
    from attest.workspace import init_workspace

    path = init_workspace(directory, force=force)
    err.print(f"Created {path} with a demo CA (keys/demo-ca.pem) — documents it signs say [bold]DEMO – not "
              "trusted[/bold].")


@app.command()
def collect(config: ConfigOpt = None,
            source: Annotated[list[str] | None, typer.Option("--source", help="Only this source (repeatable)")]
            = None) -> None:
    """Collect evidence from every source; exit 1 when a source failed (the run is recorded as partial)."""
    with _workspace(config) as (loaded, log):
        summary = _collect(loaded, log, source)
    if not summary.all_ok:
        raise typer.Exit(1)


def _collect(loaded: LoadedConfig, log: EvidenceLog, only: list[str] | None) -> RunSummary:
    from attest.collect import run_collection

    known = {s.id for s in loaded.model.sources}
    unknown = sorted(set(only or []) - known)
    if unknown:
        raise BadInput(f"--source {', '.join(unknown)}: not in {loaded.path} (known: {', '.join(sorted(known))})")
    with err.status("Collecting…") as status:
        summary = run_collection(loaded, log, _signer(loaded), only,
                                 progress=lambda s: status.update(f"Collecting from {s}…"), wait_s=RUN_WAIT_S)
    for r in summary.sources:
        if r.ok:
            err.print(f"[green]✓[/green] {r.source_id}: {r.records} records in {r.seconds:.1f} s")
        else:
            err.print(f"[red]✗[/red] {r.source_id}: {r.error} ({r.records} records kept)")
    err.print(f"Run {summary.run_id} {summary.status}; checkpoint {summary.checkpoint.id}: "
              f"{summary.checkpoint.tree_size} records, root {summary.checkpoint.root_hash.hex()[:16]}…")
    return summary


@app.command()
def evaluate(config: ConfigOpt = None, tenant: TenantOpt = None, period: PeriodOpt = None, as_of: AsOfOpt = None,
             as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON (shape: README)")] = False
             ) -> None:
    """Judge every control for every tenant from the evidence log (exit 0 whatever the verdicts)."""
    from attest.engine import evaluate as run_evaluate

    with _workspace(config) as (loaded, log):
        p = _period(loaded, period)
        ev = run_evaluate(loaded, log, _signer(loaded), p, _as_of(as_of, p), tenant, wait_s=RUN_WAIT_S)
        if as_json:
            sys.stdout.write(json.dumps(_evaluation_json(loaded, ev), indent=2, ensure_ascii=False) + "\n")
        else:
            _print_results(loaded, ev)


def _evaluation_json(loaded: LoadedConfig, ev: Evaluation) -> dict[str, Any]:
    from attest.attestation import overall_verdict

    return {
        "schema": "attest.evaluation/v1",
        "period": ev.period.label,
        "period_start": ev.period.start.isoformat(),
        "period_end": ev.period.end.isoformat(),
        "as_of": ev.as_of.isoformat(),
        "config_digest": loaded.digest,
        "checkpoint": {"id": ev.checkpoint.id, "tree_size": ev.checkpoint.tree_size,
                       "root_hash": ev.checkpoint.root_hash.hex()},
        "tenants": [{
            "id": tid,
            "legal_name": loaded.tenant(tid).legal_name,
            "overall": overall_verdict(results).value,
            "results": [r.model_dump(mode="json") for r in results],
        } for tid, results in ev.results.items()],
    }


def _print_results(loaded: LoadedConfig, ev: Evaluation) -> None:
    table = Table(title=f"Period {ev.period.label}, as of {ev.as_of:%Y-%m-%d %H:%M} UTC")
    for col in ("tenant", "control", "verdict", "reason"):
        table.add_column(col, overflow="fold")
    for tid, results in ev.results.items():
        for r in results:
            style = VERDICT_STYLE.get(r.verdict.value, "")
            table.add_row(tid, r.control_id, f"[{style}]{r.verdict.value}[/{style}]", r.reason.get("en", ""))
    out.print(table)


@app.command()
def render(config: ConfigOpt = None, tenant: TenantOpt = None,
           all_tenants: Annotated[bool, typer.Option("--all", help="Every tenant (the default)")] = False,
           period: PeriodOpt = None, as_of: AsOfOpt = None,
           jobs: Annotated[int | None, typer.Option("--jobs", min=1, max=64, help="Render worker processes "
                                                                              "(default: one per core)")] = None,
           force: Annotated[bool, typer.Option("--force", help="Issue every document again, even when nothing "
                                                               "it shows changed")] = False,
           fleet: Annotated[bool, typer.Option("--fleet", help="One provider-wide attestation over every tenant, "
                                                               "naming none")] = False,
           lang: Annotated[str, typer.Option("--lang", help="Language of the --fleet document (en or it)")] = "en"
           ) -> None:
    """Evaluate and issue signed PDF, HTML and JSON attestations (exit 0 whatever the verdicts). A tenant whose
    document would show nothing new keeps its current one, unless --force. With --fleet, one provider-wide
    document (always issued anew; it supersedes the period's previous one)."""
    if sum(map(bool, (tenant, all_tenants, fleet))) > 1:
        raise BadInput("give one of --tenant, --all or --fleet")
    if fleet:
        with _workspace(config) as (loaded, log):
            issued = _render_fleet(loaded, log, period, as_of, lang)
        rel = os.path.relpath(issued.pdf.parent, Path.cwd())
        out.print(f"Provider-wide attestation {issued.fleet.document_id} for {issued.fleet.period}: "
                  f"{issued.fleet.tenant_count} tenants, {issued.fleet.instance_count} instances"
                  + (f"; supersedes {issued.supersedes}" if issued.supersedes else ""), highlight=False)
        out.print(f"{rel}/{issued.fleet.document_id}.{{pdf,html,json}}", highlight=False, soft_wrap=True)
        return
    with _workspace(config) as (loaded, log):
        docs = _render(loaded, log, tenant, period, as_of, jobs=jobs, force=force)
    _print_documents(loaded, docs)


def _render(loaded: LoadedConfig, log: EvidenceLog, tenant: list[str] | None, period: str | None,
            as_of: str | None, jobs: int | None = None, force: bool = False) -> list[IssuedDocument]:
    from attest.engine import evaluate as run_evaluate
    from attest.issue import issue

    signer = _signer(loaded)
    # A timestamp authority that is down fails the command now, before any document id is reserved.
    signer.check_timestamp_authority()
    p = _period(loaded, period)
    with err.status("Evaluating…") as status:
        ev = run_evaluate(loaded, log, signer, p, _as_of(as_of, p), tenant, wait_s=RUN_WAIT_S)
        return issue(loaded, log, signer, ev, progress=lambda t: status.update(f"Rendering and signing {t}…"),
                     wait_s=RUN_WAIT_S, jobs=jobs, force=force)


def _render_fleet(loaded: LoadedConfig, log: EvidenceLog, period: str | None, as_of: str | None,
                  lang: str) -> IssuedFleet:
    from attest.engine import evaluate as run_evaluate
    from attest.fleet.issue import FLEET_LANGUAGES, issue_fleet

    if lang not in FLEET_LANGUAGES:  # refused before any evaluation is recorded
        raise BadInput(f"--lang {lang}: give one of {', '.join(FLEET_LANGUAGES)}")
    signer = _signer(loaded)
    signer.check_timestamp_authority()
    p = _period(loaded, period)
    with err.status("Evaluating every tenant…") as status:
        ev = run_evaluate(loaded, log, signer, p, _as_of(as_of, p), None, wait_s=RUN_WAIT_S)
        status.update("Rendering and signing the provider-wide attestation…")
        return issue_fleet(loaded, log, signer, ev, lang=lang, wait_s=RUN_WAIT_S)


def _print_documents(loaded: LoadedConfig, docs: list[IssuedDocument]) -> None:
    table = Table(title="Attestations issued")
    for col in ("tenant", "overall", "document id", "files"):
        table.add_column(col, overflow="fold")
    for d in docs:
        style = VERDICT_STYLE.get(d.overall.value, "")
        rel = os.path.relpath(d.pdf.parent, Path.cwd())
        table.add_row(d.tenant_id, f"[{style}]{d.overall.value}[/{style}]",
                      d.document_id + (" (unchanged: still current)" if d.unchanged else ""),
                      f"{rel}/{d.document_id}.{{pdf,html,json}}")
    out.print(table)


@app.command()
def run(config: ConfigOpt = None, period: PeriodOpt = None) -> None:
    """Collect, evaluate and render, for a timer. Exit 1 when a source failed (documents are still issued,
    saying what could not be assessed)."""
    with _workspace(config) as (loaded, log):
        summary = _collect(loaded, log, None)
        docs = _render(loaded, log, None, period, None)
    _print_documents(loaded, docs)
    if not summary.all_ok:
        raise typer.Exit(1)


@app.command()
def verify(files: Annotated[list[Path], typer.Argument(help="PDF, HTML or JSON documents (HTML/JSON need their "
                                                            ".dsse.json beside them), or evidence packs (.zip)")],
           trust: Annotated[list[Path] | None, typer.Option("--trust", help="Extra trust anchor PEM (repeatable)")]
           = None,
           config: ConfigOpt = None) -> None:
    """Verify signed documents: exit 0 valid and trusted, 1 invalid or untrusted, 2 unusable input."""
    from attest.verify import UnusableInput, verify_file

    anchor_paths = list(trust or [])
    cfg_path = _config_path(config)
    loaded: LoadedConfig | None = None
    if config is not None or cfg_path.exists():
        from attest.config import load_config

        loaded = load_config(cfg_path)
        anchor_paths += [loaded.resolve(p) for p in loaded.model.provider.trust_anchors]
    if not anchor_paths:
        raise BadInput("no trust anchor: pass --trust CA.pem or run where attest.yaml lists trust_anchors")
    anchors = _anchors(anchor_paths)
    tsa_anchors = loaded.tsa_ca_certificates() if loaded else []  # trusted for timestamps only
    statuses = _StatusLookup(loaded, anchors)
    worst = 0
    try:
        for path in files:
            if path.suffix.lower() == ".zip":
                worst = max(worst, _verify_pack(path, anchors, statuses))
                continue
            try:
                report = verify_file(path, anchors, tsa_trust_anchors=tsa_anchors)
            except UnusableInput as exc:
                err.print(f"[yellow]UNUSABLE[/yellow] {path}: {exc}")
                worst = max(worst, 2)
                continue
            if report.ok:
                when = f", signed {report.signing_time:%Y-%m-%d %H:%M:%S %Z}" if report.signing_time else ""
                ts = report.details.get("timestamp") or {}
                if report.timestamp:
                    when += f", timestamped {report.timestamp:%Y-%m-%d %H:%M:%S %Z} by {escape(str(ts.get('tsa')))}"
                elif report.kind == "pdf":
                    when += ", no timestamp (the signing time is the signer's claim)"
                doc = report.details.get("document_id")
                added = report.details.get("annotations_added") or []
                proofs = report.details.get("evidence_proofs")
                out.print(f"[green]VALID[/green] {path}: signer {report.signer}{when}"
                          + (f", document {doc}" if doc else "")
                          + (f"; {proofs}" if proofs else "")
                          + (f"; {len(added)} annotation(s) added after signing, as the signature permits" if added
                             else ""))
                if isinstance(doc, str):
                    # Status is reported, never judged: a superseded or revoked document is still authentic.
                    out.print(f"  status: {statuses.describe(doc)}", highlight=False)
            else:
                label = "UNTRUSTED" if report.valid and not report.trusted else "INVALID"
                out.print(f"[red]{label}[/red] {path}: " + "; ".join(report.reasons or ["not valid"]))
                worst = max(worst, 1)
    finally:
        statuses.close()
    if worst:
        raise typer.Exit(worst)


def _verify_pack(path: Path, anchors: list[x509.Certificate], statuses: _StatusLookup) -> int:
    """`attest verify PACK.zip`: the exit code this pack deserves (0, 1 or 2), its verdict printed."""
    from attest.pack.verify import verify_pack
    from attest.verify import UnusableInput

    try:
        report = verify_pack(path, anchors)
    except UnusableInput as exc:
        err.print(f"[yellow]UNUSABLE[/yellow] {escape(str(path))}: {escape(str(exc))}", highlight=False)
        return 2
    if not report.valid:
        out.print(f"[red]INVALID[/red] {escape(str(path))}: {escape(str(report.problem))}", highlight=False)
        return 1
    whose = report.tenant or "provider-wide"  # a fleet pack names no tenant
    who = (f"evidence pack for document {report.document_id} ({escape(whose)}, {report.period}): "
           f"{report.files} files, {report.records} record(s) proven in checkpoint of size {report.tree_size}; "
           f"signer {escape(str(report.signer))}, certificate SHA-256 {report.fingerprint}")
    if not report.trusted:
        out.print(f"[red]UNTRUSTED[/red] {escape(str(path))}: valid but signer not trusted: "
                  f"{escape(str(report.trust_problem))}; {who}", highlight=False, soft_wrap=True)
        return 1
    # soft_wrap: no line break inside the fingerprint, which a reader copies to compare.
    out.print(f"[green]VALID[/green] {escape(str(path))}: {who}", highlight=False, soft_wrap=True)
    if report.document_id:
        out.print(f"  status: {statuses.describe(report.document_id)}", highlight=False)
    return 0


class _StatusLookup:
    """The status of verified documents (current, superseded, revoked) for `attest verify`, from
    the workspace's evidence log, opened read-only at the first document that needs it. A log
    that is missing, unreachable or does not match its checkpoint leaves the status unchecked;
    it never changes the signature verdict or the exit code."""

    def __init__(self, loaded: LoadedConfig | None, anchors: list[x509.Certificate]) -> None:
        self.loaded = loaded
        self.anchors = anchors
        self.log: EvidenceLog | None = None
        self.index: DocumentIndex | None = None
        self.problem: str | None = None if loaded else "no evidence log (run where attest.yaml is, or pass --config)"

    def describe(self, document_id: str) -> str:
        if self.index is None and self.problem is None:
            self._load()
        if self.index is None:
            return f"not checked: {self.problem}"
        return escape(self.index.status(document_id).describe())

    def _load(self) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import SQLAlchemyError

        from attest.status import DocumentIndex

        assert self.loaded is not None
        url = make_url(self.loaded.database_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            self.problem = escape(f"no evidence log at {url.database}")  # opening it would create an empty one
            return
        try:
            self.log = _open_log(self.loaded, repair=False)  # verification writes nothing
            self.index = DocumentIndex.load(self.log, self.anchors)
        except (AttestError, SQLAlchemyError, ValueError) as exc:
            self.problem = escape(str(exc))

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


@app.command()
def export(out_path: Annotated[Path, typer.Option("--out", "-o", help="The ZIP to write (must not exist)",
                                                  show_default=False)],
           tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="The tenant whose pack to build",
                                                      show_default=False)] = None,
           fleet: Annotated[bool, typer.Option("--fleet", help="The provider-wide pack (attest render --fleet), "
                                                               "naming no tenant")] = False,
           period: Annotated[str | None, typer.Option("--period", help="YYYY-MM (default: the newest period with a "
                                                                       "current document)")] = None,
           kind: Annotated[str | None, typer.Option("--kind", help="tender (default), or audit (adds a GDPR audit "
                                                                   "report); not with --fleet",
                                                    show_default=False)] = None,
           config: ConfigOpt = None) -> None:
    """Write an evidence pack (ZIP): a current signed document, the records it cites with their proofs, the
    datacenter certificates on record, the provider certificates, a verification guide and a signed manifest.
    --tenant T for a tenant's pack, --fleet for the provider-wide one. Exit 2 (nothing written) when there is no
    current document, a certificate file is missing, or the output exists or cannot be written."""
    from attest.pack.build import build_pack, check_output, write_pack

    if bool(tenant) == fleet:
        raise BadInput("give --tenant T (a tenant's pack) or --fleet (the provider-wide pack)")
    if fleet and kind is not None:
        raise BadInput("--kind: a provider-wide pack has one kind; give --kind only with --tenant")
    check_output(out_path)
    with _workspace(config) as (loaded, log):
        if fleet:
            from attest.pack.fleet import FLEET_KIND, build_fleet_pack

            pack = build_fleet_pack(loaded, log, _signer(loaded), period)
            what, whose = FLEET_KIND, "provider-wide"
        else:
            assert tenant is not None
            pack = build_pack(loaded, log, _signer(loaded), tenant, period, kind or "tender")
            what, whose = kind or "tender", pack.tenant
    write_pack(out_path, pack.data)
    err.print(f"[green]✓[/green] {escape(str(out_path))}: evidence pack ({what}) for document {pack.document_id} "
              f"({escape(whose)}, {pack.period}): {pack.files} files, {pack.records} record(s); "
              f"check it with `attest verify {escape(str(out_path))} --trust CA.pem`", highlight=False)


@app.command()
def serve(config: ConfigOpt = None,
          host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default: portal.host, "
                                                                  "127.0.0.1)")] = None,
          port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="TCP port (default: "
                                                                                  "portal.port, 8080)")] = None
          ) -> None:
    """Run the customer portal: tenants download and verify their documents, sales share them, anyone verifies
    one at /d/<document id>. HTTPS with portal.tls_cert_file/tls_key_file; plain HTTP otherwise (loopback or
    behind a TLS proxy)."""
    import uvicorn

    from attest.portal.app import create_app
    from attest.portal.context import Portal

    with _workspace(config) as (loaded, log):
        settings = loaded.model.portal
        portal = Portal(loaded, log, _signer(loaded))
        tls = ({"ssl_certfile": str(loaded.resolve(settings.tls_cert_file)),
                "ssl_keyfile": str(loaded.resolve(settings.tls_key_file))}
               if settings.tls_cert_file and settings.tls_key_file else {})
        err.print(f"Portal on {'https' if tls else 'http'}://{host or settings.host}:{port or settings.port}/",
                  highlight=False)
        # proxy_headers off: the client address comes from portal.trusted_proxies only (context.py).
        uvicorn.run(create_app(portal), host=host or settings.host, port=port or settings.port, proxy_headers=False,
                    server_header=False, date_header=True, log_level="info", **tls)  # type: ignore[arg-type]


@app.command()
def revoke(document_id: Annotated[str, typer.Argument(metavar="DOCUMENT_ID", help="The id of an issued document, "
                                                                                 "e.g. AT-7K3M9QX2D4F8HJ6TNV1R",
                                                      show_default=False)],
           reason: Annotated[str, typer.Option("--reason", help="Why it is revoked, in words the customer and "
                                                                "auditors will read (at least 10 characters)",
                                               show_default=False)],
           by: Annotated[str | None, typer.Option("--by", help="Who revokes it (default: user@host)")] = None,
           config: ConfigOpt = None) -> None:
    """Revoke an issued document: one `attest.revocation` record in a run of its own, signed into the evidence
    log. The document still verifies as authentic; `attest verify` reports it revoked. Exit 2 (nothing recorded)
    for an unknown or malformed id, an empty or too short reason, or a document already revoked."""
    from attest.status import MAX_BY, MAX_REASON, MIN_REASON, clean_text, parse_document_id, revoke_document

    # Checked again by revoke_document; here too, so a typo is refused before the log is even opened.
    parse_document_id(document_id)
    clean_text("--reason", reason, MIN_REASON, MAX_REASON)
    if by is not None:
        clean_text("--by", by, 1, MAX_BY)
    with _workspace(config) as (loaded, log):
        anchors = _anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])
        done = revoke_document(log, _signer(loaded), document_id, reason, by, trust_anchors=anchors,
                               wait_s=RUN_WAIT_S)
    rec, cp, before = done.record, done.checkpoint, done.before
    p = rec.payload
    err.print(f"[green]✓[/green] revoked {p['document_id']} ({escape(str(before.tenant))}, {before.period}; it was "
              f"{before.state}): record #{rec.idx} ({rec.kind} {rec.subject}), signed in checkpoint {cp.id} "
              f"({cp.tree_size} records, root {cp.root_hash.hex()[:16]}…)", highlight=False)
    err.print(f"  by {escape(p['revoked_by'])} on {p['revoked_at']}: {escape(p['reason'])}", highlight=False)
    if before.state == "current":
        err.print(f"  {escape(str(before.tenant))}, {before.period} now has no current document: issue a new one "
                  f"with `attest render --tenant {escape(str(before.tenant))} --period {before.period}`",
                  highlight=False)


@evidence_app.command("verify")
def evidence_verify(config: ConfigOpt = None) -> None:
    """Recompute every leaf and root and check every checkpoint: exit 1 naming what changed."""
    from attest.config import load_config

    loaded = load_config(_config_path(config))
    anchors = _anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])
    log = _open_log(loaded, repair=False)  # verification writes nothing
    try:
        outcome = log.verify(anchors)
    finally:
        log.close()
    for note in outcome.notes:
        out.print(f"[cyan]note:[/cyan] {note}")
    if outcome.ok:
        out.print(f"[green]OK[/green] evidence log: {outcome.tree_size} records, {outcome.checkpoints} signed "
                  "checkpoints, every leaf, root and signature checks out")
        return
    for p in outcome.problems:
        out.print(f"[red]✗[/red] {p.what}")
    raise CheckFailed(f"evidence log verification failed: {len(outcome.problems)} problem(s)")


@evidence_app.command("add")
def evidence_add(
        file: Annotated[Path, typer.Argument(help="The document: PDF, PNG, JPEG or UTF-8 text", show_default=False)],
        kind: Annotated[str, typer.Option("--kind", help="restore-test | site-certificate | maintenance-notice | "
                                                         "document", show_default=False)],
        subject: Annotated[str, typer.Option("--subject", help="What it is about: site/<id>, tenant/<id> or "
                                                               "<source>/<qemu|lxc>/<vmid>; a maintenance notice: "
                                                               "tenant/<id> (all its SLA instances) or "
                                                               "sla/<instance>", show_default=False)],
        performed: Annotated[str | None, typer.Option("--performed", help="When the restore test (or other act) "
                                                                          "took place: YYYY-MM-DD or ISO 8601")]
        = None,
        reference: Annotated[str | None, typer.Option("--reference", help="The certificate number it proves, or "
                                                                          "another reference")] = None,
        title: Annotated[str | None, typer.Option("--title", help="A short title")] = None,
        note: Annotated[str | None, typer.Option("--note", help="A note for the auditor")] = None,
        by: Annotated[str | None, typer.Option("--by", help="Who adds it (default: user@host)")] = None,
        window_start: Annotated[str | None, typer.Option("--window-start", help="maintenance-notice: when the "
                                                                                "announced window starts (ISO 8601 "
                                                                                "with offset)")] = None,
        window_end: Annotated[str | None, typer.Option("--window-end", help="maintenance-notice: when it ends "
                                                                            "(at most 7 days after the start)")]
        = None,
        announced: Annotated[str | None, typer.Option("--announced", help="maintenance-notice: when the notice was "
                                                                          "sent to the customers (ISO 8601 with "
                                                                          "offset; default: now)")] = None,
        config: ConfigOpt = None) -> None:
    """Store a document no API holds (restore-test log, site certificate, maintenance notice…) in the evidence
    log."""
    from attest.period import parse_instant
    from collectors.manual import NOTICE, NoticeWindow, add_manual_evidence

    def instant(option: str, text: str) -> datetime:
        try:
            return parse_instant(text)
        except (ValueError, BadInput) as exc:
            raise BadInput(f"{option} {text!r}: not an ISO 8601 instant with an offset (e.g. "
                           "2026-12-05T02:00:00+01:00 or 2026-12-05T01:00:00Z)") from exc

    performed_at = None
    if performed:
        text = performed + ("T12:00:00Z" if len(performed) == 10 else "")
        try:
            performed_at = parse_instant(text)
        except (ValueError, BadInput) as exc:
            raise BadInput(f"--performed {performed!r}: not a date (YYYY-MM-DD) or an ISO 8601 instant "
                           "with offset") from exc
    window = None
    if kind != NOTICE:
        given = [o for o, v in (("--window-start", window_start), ("--window-end", window_end),
                                ("--announced", announced)) if v is not None]
        if given:
            raise BadInput(f"{'/'.join(given)}: only for --kind {NOTICE}")
    elif window_start is None or window_end is None:
        missing = "/".join(o for o, v in (("--window-start", window_start), ("--window-end", window_end)) if v is None)
        raise BadInput(f"{missing}: a maintenance notice needs the window it announces (ISO 8601 with an offset, "
                       "e.g. --window-start 2026-12-05T02:00:00+01:00 --window-end 2026-12-05T04:00:00+01:00)")
    else:
        window = NoticeWindow(instant("--window-start", window_start), instant("--window-end", window_end),
                              instant("--announced", announced) if announced else None)
    with _workspace(config) as (loaded, log):
        added = add_manual_evidence(loaded, log, _signer(loaded), kind=kind, path=file, subject=subject,
                                    performed_at=performed_at, reference=reference, title=title, note=note,
                                    added_by=by, window=window, wait_s=RUN_WAIT_S)
    rec = added.record
    err.print(f"[green]✓[/green] {rec.kind} for {rec.subject}: {file.name} (sha256 {added.sha256[:16]}…) is record "
              f"#{rec.idx}, signed in checkpoint {added.checkpoint.id}")
    w = rec.payload.get("window")
    if w:
        lead = (parse_instant(w["start"]) - parse_instant(w["announced_at"])).total_seconds() / 3600
        err.print(f"  window {w['start']} – {w['end']} for {', '.join(w['instances'])}, announced "
                  f"{w['announced_at']}" + (f" ({lead:.1f} h ahead): SLA-01 excludes it for contracts whose "
                                            "notice_hours is at most that" if lead >= 0 else ""),
                  highlight=False)
    for n in added.notes:
        err.print(f"[yellow]note:[/yellow] {n}", highlight=False)


@app.command("pbx-check")
def pbx_check(
        target: Annotated[str, typer.Argument(help="An /etc/asterisk folder (or a root-like dump with etc/asterisk), "
                                                   "or ssh://user@host[:port]", show_default=False)],
        inventory: Annotated[Path | None, typer.Option("--inventory", help="YAML: tenants: {X: {extensions: "
                                                                           "\"10-19\"}}")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list the facts of passing checks")]
        = False,
        known_hosts: Annotated[Path | None, typer.Option("--known-hosts", help="SSH: known_hosts file holding the "
                                                                               "PBX's host key")] = None,
        fingerprint: Annotated[str | None, typer.Option("--host-key-fingerprint", help="SSH: the PBX's host key, "
                                                                                       "SHA256:… as ssh-keygen -lf "
                                                                                       "prints it")] = None,
        key_file: Annotated[Path | None, typer.Option("--key-file", help="SSH: private key (default: the SSH "
                                                                         "agent)")] = None,
        config_dir: Annotated[str, typer.Option("--config-dir", help="SSH: the configuration folder")]
        = "/etc/asterisk",
        cli_command: Annotated[str, typer.Option("--cli-command", help="SSH: how to run Asterisk CLI commands")]
        = "asterisk -rx",
        cdr: Annotated[str | None, typer.Option("--cdr", help="Master.csv to sample (local file, or the path on "
                                                              "the PBX over SSH)")] = None,
        cdr_mysql: Annotated[str | None, typer.Option("--cdr-mysql", help="SSH: sample CDR from this MySQL table "
                                                                          "(e.g. asteriskcdrdb.cdr)")] = None,
        cdr_rows: Annotated[int, typer.Option("--cdr-rows", min=0, max=100_000, help="Newest CDR rows to sample")]
        = 2000) -> None:
    """Analyse one Asterisk/FreePBX instance: can tenants dial, pick up, spy on or read each other's calls?
    Exit 0 when no check fails, 1 when any fails, 2 on unusable input."""
    from attest.pbx.analysis import analyse
    from attest.pbx.inventory import load_inventory
    from attest.pbx.report import render_text
    from attest.pbx.target import read_target

    inv = load_inventory(inventory) if inventory is not None else None
    passphrase = os.environ.get("ATTEST_SSH_KEY_PASSPHRASE") or None
    dump = read_target(target, known_hosts=known_hosts, host_key_fingerprint=fingerprint, key_file=key_file,
                       key_passphrase=passphrase, config_dir=config_dir, cli_command=cli_command, cdr_csv=cdr,
                       cdr_mysql=cdr_mysql, cdr_rows=cdr_rows)
    from collectors.pbx.reader import TOP_FILES

    if not dump.asterisk:
        raise BadInput(f"{target}: no configuration file was found there (the folder is empty)")
    if not any(name in dump.asterisk for name in TOP_FILES):
        raise BadInput(f"{target}: none of Asterisk's configuration files ({', '.join(TOP_FILES[:4])}, …) is there: "
                       "give the /etc/asterisk folder, or a dump holding etc/asterisk")
    analysis = analyse(dump, inv)
    if as_json:
        sys.stdout.write(json.dumps(analysis.as_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(analysis, verbose))
    sys.stdout.flush()
    if analysis.failed:
        raise typer.Exit(1)


def _probe_command() -> None:
    from collectors.sla.sip_probe import probe_command

    app.command("probe", help="Probe PBX instances with SIP OPTIONS (UDP, TCP or TLS) at a fixed interval from "
                              "this vantage point; append the samples as JSON lines for an sla_file source.")(
        probe_command)


_probe_command()


@app.command()
def demo(directory: Annotated[Path, typer.Option("--dir", help="Demo workspace")] = Path("attest-demo"),
         period: PeriodOpt = None) -> None:
    """Run the whole pipeline against the simulated provider: collect, evaluate, render, sign."""
    from attest.demo import run_demo

    run_demo(directory, period, err, out)


def main() -> None:
    # pyHanko logs whole tracebacks at WARNING for every rejected file; the verdict and its
    # reason are what `attest verify` reports.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
    try:
        app()  # standalone: usage errors exit 2, typer.Exit(code) exits with its code
    except AttestError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)  # a reason or path may hold "[…]"
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("aborted")
        sys.exit(130)


if __name__ == "__main__":
    main()

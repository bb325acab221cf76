"""Issuing a tenant's attestation from the provider's page (admin only): what `attest render
--tenant T --period P` does — evaluate that tenant for the period, then issue a new document or,
when nothing it would show changed, keep the current one (unless forced).

A sync endpoint, so FastAPI runs it in its threadpool: evaluating, rendering and signing take
seconds of CPU and must not block the event loop. Everything a request can get wrong (tenant,
period, a timestamp authority that is down) is refused before anything is recorded. Issuing
itself is as atomic as `attest render`: files are written by rename, and a document exists for
the portal only once its `attest.document` record is signed into the log, so a failure midway
leaves a reserved, unused id and a run closed as partial, never a half document.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from attest.errors import AttestError, BadInput
from attest.portal import audit
from attest.portal.admin import Admin, overview_page
from attest.portal.auth import require_csrf
from attest.portal.context import Portal, get_portal
from evidence.log import RunInProgress

if TYPE_CHECKING:
    from attest.issue import IssuedDocument
    from attest.period import Period

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
# How long a request waits for another issue in this portal, then for another run holding the
# log (a timer's `attest run`, the audit sealer), before answering 409: a browser should not
# hang for the ten minutes the command line is willing to wait.
ISSUE_WAIT_S = 30.0
# One issue at a time per portal process: each is CPU-bound, and a second would only queue on
# the log anyway while holding a threadpool thread.
_ISSUING = threading.Lock()


class Busy(Exception):
    """Another issue, or another run of the log, holds it."""


def _period(portal: Portal, label: str) -> Period:
    from attest.period import parse_period

    try:
        period = parse_period(label, portal.loaded.model.time_zone)
    except BadInput:  # its message names the command line's option
        raise BadInput(f"period {label[:20]!r}: give a month as YYYY-MM, e.g. 2026-11") from None
    if period.start > portal.now():
        raise BadInput(f"period {period.label}: it has not started yet; nothing can be attested for it")
    return period


def issue_for(portal: Portal, tenant: str, period_label: str, force: bool = False) -> IssuedDocument:
    """Evaluate *tenant* for the period and issue (or keep) its document. BadInput for a tenant
    or period `attest render` would refuse; Busy when the log is held for longer than
    ISSUE_WAIT_S; SigningError (an AttestError) when the key or the timestamp authority fails."""
    from attest.engine import evaluate
    from attest.issue import issue

    if tenant not in {t.id for t in portal.loaded.model.tenants}:
        raise BadInput(f"tenant {tenant[:64]!r}: not a configured tenant")
    period = _period(portal, period_label)
    if not _ISSUING.acquire(timeout=ISSUE_WAIT_S):
        raise Busy("another document is being issued from this portal; try again when it has finished")
    try:
        # A timestamp authority that is down fails now, before any evaluation is recorded or id reserved.
        portal.signer.check_timestamp_authority()
        try:
            ev = evaluate(portal.loaded, portal.log, portal.signer, period, None, [tenant], wait_s=ISSUE_WAIT_S)
            # jobs=1: one document, laid out in this thread; never a worker pool forked from the server.
            (doc,) = issue(portal.loaded, portal.log, portal.signer, ev, wait_s=ISSUE_WAIT_S, jobs=1, force=force)
        except RunInProgress as exc:
            raise Busy(str(exc)) from None
    finally:
        _ISSUING.release()
    return doc


@router.post("/admin/issue")
def issue_document(request: Request, signed: Admin, tenant: FormText = "", period: FormText = "",
                   force: FormText = "", csrf_token: FormText = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    form = {"tenant": tenant[:64], "period": period[:20], "force": "yes" if force else ""}
    asked = {"tenant": form["tenant"], "period": form["period"], "force": bool(force)}
    try:
        doc = issue_for(portal, tenant, period, force=bool(force))
    except BadInput as exc:
        return _refused(request, portal, signed.username, asked, 400, "bad_request", str(exc), form)
    except Busy as exc:
        return _refused(request, portal, signed.username, asked, 409, "busy", str(exc), form)
    except AttestError as exc:  # the log does not verify (LogIntegrityError); the key or the TSA failed
        return _refused(request, portal, signed.username, asked, 503, "failed", str(exc), form)
    audit.record(portal, request, "issue", "ok", account=signed.username, tenant=doc.tenant_id,
                 detail={"period": form["period"], "document_id": doc.document_id, "unchanged": doc.unchanged,
                         "overall": doc.overall.value, "supersedes": doc.supersedes, "force": bool(force)})
    return RedirectResponse(f"/admin?{'kept' if doc.unchanged else 'issued'}={doc.document_id}", 303)


def _refused(request: Request, portal: Portal, by: str, asked: dict[str, object], status: int, outcome: str,
             message: str, form: dict[str, str]) -> Response:
    # The tenant goes in the detail, not the entry's tenant column: it may not be a tenant at all.
    audit.record(portal, request, "issue", outcome, account=by, detail=asked)
    return overview_page(request, portal, status, error=f"Not issued: {message}", form=form)

"""The datacenter certificates on record, as pack entries, and their check.

A site's certificate (an ISO/IEC 27001 certificate as a PDF, say) enters the log with `attest
evidence add --kind site-certificate`: a `manual.site_certificate` record about `site/<id>`,
whose `artifacts` list the SHA-256 of the stored file. A pack carries the file of every such
record the attestation cites (so only the sites the tenant's instances use), named
``certificates/sites/<site>/<record index>-<certificate number>.<ext>``: the record
``records/<record index>.json`` beside it says what it is, and its hash is in that record, which
the checkpoint's inclusion proof covers. A verifier thus needs no trust in the file name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from attest.errors import BadInput
from evidence.log import EvidenceLog

SITE_CERTIFICATES = "certificates/sites/"
SITE_CERTIFICATE_KIND = "manual.site_certificate"
_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
_ENTRY = re.compile(r"^certificates/sites/(?P<site>[a-z0-9][a-z0-9_-]*)/(?P<idx>\d+)-[A-Za-z0-9._-]+$")


def _safe(text: str) -> str:
    """A certificate number as a file-name part: letters, digits, dot, dash, underscore."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "certificate"


def _extension(media_type: object) -> str:
    return _EXTENSIONS.get(str(media_type), "txt")


def site_certificate_files(log: EvidenceLog, records: Mapping[int, bytes]) -> dict[str, bytes]:
    """The stored files of the site-certificate records among *records* (log index → stored
    bytes); BadInput naming the record when a file is missing from the artifact store or no
    longer matches its digest: a pack without the certificate it promises is not written."""
    files: dict[str, bytes] = {}
    for idx, body in sorted(records.items()):
        record = json.loads(body)
        if record.get("kind") != SITE_CERTIFICATE_KIND:
            continue
        site = str(record.get("subject", "")).removeprefix("site/")
        payload = record.get("payload") or {}
        document = payload.get("document") or {}
        number = str(payload.get("reference") or "")
        what = f"the certificate {number or '(no number)'} of site {site} (record #{idx})"
        artifacts = record.get("artifacts") or []
        if not artifacts:
            raise BadInput(f"{what} names no stored file; nothing was packed")
        for sha in artifacts:
            try:
                data = log.get_artifact(sha)
            except FileNotFoundError:
                raise BadInput(f"{what}: its file {document.get('filename', '')!r} (SHA-256 {sha}) is missing from "
                               f"the evidence store {log.blobs.root}; restore it from a backup and export again. "
                               "Nothing was packed") from None
            except (OSError, ValueError) as exc:
                raise BadInput(f"{what}: its stored file (SHA-256 {sha}) cannot be read: {exc}. "
                               "Nothing was packed") from None
            files[f"{SITE_CERTIFICATES}{site}/{idx}-{_safe(number)}.{_extension(document.get('media_type'))}"] = data
    return files


def check_site_certificates(files: Mapping[str, bytes]) -> tuple[str, str] | None:
    """The first problem with a pack's site certificates as (file, what is wrong), or None: every file under
    certificates/sites/ must be named after a site-certificate record in the pack about that
    site whose `artifacts` hold the file's SHA-256 (the records themselves are proven against
    the checkpoint elsewhere); every such record must have its file."""
    named: set[int] = set()
    for name in sorted(files):
        if not name.startswith(SITE_CERTIFICATES):
            continue
        m = _ENTRY.match(name)
        if m is None:
            return name, "not a site certificate's name (certificates/sites/<site>/<record>-<number>.<ext>)"
        idx = int(m["idx"])
        body = files.get(f"records/{idx}.json")
        if body is None:
            return name, f"the pack has no record #{idx} to say what it is"
        try:
            record = json.loads(body)
        except ValueError:
            return f"records/{idx}.json", "not JSON"
        if record.get("kind") != SITE_CERTIFICATE_KIND or record.get("subject") != f"site/{m['site']}":
            return name, f"record #{idx} is not a certificate of site {m['site']}"
        if hashlib.sha256(files[name]).hexdigest() not in (record.get("artifacts") or []):
            return name, f"its SHA-256 is not the one record #{idx} holds (the file was changed)"
        named.add(idx)
    for name in sorted(files):
        if name.startswith("records/") and name.endswith(".json"):
            try:
                record = json.loads(files[name])
            except ValueError:
                continue
            idx = int(name.removeprefix("records/").removesuffix(".json")) if name[8:-5].isdigit() else -1
            if isinstance(record, dict) and record.get("kind") == SITE_CERTIFICATE_KIND and idx not in named:
                return name, f"a site certificate's record, but the pack lacks its file under {SITE_CERTIFICATES}"
    return None

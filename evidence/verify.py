"""`attest evidence verify`: recompute every leaf and root, check every checkpoint (signature,
signer chain, content) against the database and the witness file, check consistency between
successive checkpoints, and name whatever was altered, inserted, deleted or truncated.

Every row is examined on its own, so one damaged row is reported, not a crash; and a damaged
range is blamed once, on the first checkpoint it breaks."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlalchemy import LargeBinary, cast, func, literal, select
from sqlalchemy.orm import Session

from attest.canonical import parse_utc
from attest.signing import verify_bytes
from evidence import merkle
from evidence.models import Artifact, Checkpoint, LogMeta, Record, Run

if TYPE_CHECKING:
    from evidence.log import EvidenceLog, Problem, VerifyOutcome

signature_valid = verify_bytes


def _ranges(indices: Sequence[int]) -> str:
    """[3,4,5,9] -> '#3–#5, #9'"""
    out: list[str] = []
    ordered = sorted(indices)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(f"#{ordered[i]}" if i == j else f"#{ordered[i]}–#{ordered[j]}")
        i = j + 1
    return ", ".join(out)


def witness_entries(path: Path) -> tuple[dict[int, tuple[bytes, bytes]], list[str]]:
    """id -> (body, signature) from the witness file, and what is wrong with it: unreadable lines,
    and two different signed checkpoints under one id (a fork: the log was rolled back and
    signed again)."""
    entries: dict[int, tuple[bytes, bytes]] = {}
    problems: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            entry = json.loads(line)
            cid, value = int(entry["id"]), (entry["body"].encode(), base64.b64decode(entry["signature"]))
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {n} is not a well-formed checkpoint")
            continue
        if cid in entries and entries[cid] != value:
            problems.append(f"checkpoint {cid} appears twice with different content (line {n}): the log was rolled "
                            "back and signed again")
        entries.setdefault(cid, value)
    return entries, problems


@dataclass
class _Cp:
    """A checkpoint row as read, tolerating damage."""

    id: int
    run_id: int
    tree_size: int
    root_hash: bytes
    body: bytes
    signature: bytes
    chain: list[x509.Certificate] | None
    signed: dict[str, Any] | None  # the parsed signed body


@dataclass
class _Row:
    """A record row as read, tolerating damage (binary columns are read through CAST AS BLOB, so a
    value rewritten as text that is not UTF-8 is still read, and reported, not a crash)."""

    idx: int
    leaf_hash: bytes
    body: bytes
    as_text: bool  # SQLite only: the body was rewritten as TEXT
    run_id: int
    source: str
    kind: str
    subject: str
    collected_at: str
    redacted_at: str | None  # set by retention (evidence/retention.py)

    @property
    def redacted(self) -> bool:
        """Its payload was removed under retention: the body is empty, only the leaf hash is left."""
        return self.redacted_at is not None and not self.body


def _blob(column: Any) -> Any:
    return cast(column, LargeBinary)


def _read_rows(s: Session) -> list[_Row]:
    kind_of_body = func.typeof(Record.body) if s.get_bind().dialect.name == "sqlite" else literal("blob")
    q = select(Record.idx, _blob(Record.leaf_hash), _blob(Record.body), kind_of_body, Record.run_id, Record.source,
               Record.kind, Record.subject, Record.collected_at, Record.redacted_at).order_by(Record.idx)
    return [_Row(int(r[0]), bytes(r[1] or b""), bytes(r[2] or b""), r[3] == "text", *r[4:]) for r in s.execute(q)]


def _read_checkpoints(s: Session) -> list[_Cp]:
    q = select(Checkpoint.id, Checkpoint.run_id, Checkpoint.tree_size, _blob(Checkpoint.root_hash),
               _blob(Checkpoint.body), _blob(Checkpoint.signature), _blob(Checkpoint.signer_cert)
               ).order_by(Checkpoint.id)
    out = []
    for cid, run_id, size, root, body, signature, cert in s.execute(q):
        try:
            chain: list[x509.Certificate] | None = x509.load_pem_x509_certificates(bytes(cert))
        except (ValueError, TypeError):
            chain = None
        try:
            signed = json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError):
            signed = None
        out.append(_Cp(cid, run_id, size, bytes(root or b""), bytes(body or b""), bytes(signature or b""), chain,
                       signed if isinstance(signed, dict) else None))
    return out


def verify_log(log: EvidenceLog, anchors: Sequence[x509.Certificate]) -> VerifyOutcome:
    from evidence.log import Problem, VerifyOutcome

    problems: list[Problem] = []
    notes: list[str] = []
    with Session(log.engine) as s:
        rows = _read_rows(s)
        meta = s.get(LogMeta, 1)
        cps = _read_checkpoints(s)
        runs = list(s.execute(select(Run).order_by(Run.id)).scalars())
        artifact_ids = set(s.execute(select(Artifact.sha256)).scalars())

    if meta is None:
        problems.append(Problem("the log's head row (log_meta) was deleted"))
    log_id = meta.log_id if meta else None

    # 1. Positions: a deleted record leaves a gap.
    present = {r.idx for r in rows}
    top = max(present) + 1 if present else 0
    missing = [i for i in range(top) if i not in present]
    if missing:
        problems.append(Problem(f"record(s) {_ranges(missing)} missing: deleted from the log", missing[0]))
    if meta is not None and meta.size != len(rows):
        problems.append(Problem(f"the log's head says {meta.size} records, {len(rows)} are present"))

    # 2. Each record against its leaf hash and its index columns; cited artifacts must exist. A
    # redacted record has no body left to hash: its stored leaf goes into the roots as it is, so a
    # changed leaf still breaks them (step 3), and step 4 requires a signed statement naming it.
    leaves: dict[int, bytes] = {}
    for r in rows:
        if r.redacted:
            leaves[r.idx] = r.leaf_hash
            continue
        problem = _check_record(r, artifact_ids)
        if problem:
            problems.append(Problem(problem, r.idx))
        elif r.redacted_at is not None:
            problems.append(Problem(f"record #{r.idx} is marked as redacted but still holds its payload: its "
                                    "redaction mark was altered", r.idx))
        leaves[r.idx] = merkle.leaf_hash(r.body)

    # 3. Checkpoints: numbering, witness file, signature, chain, content, roots, consistency.
    problems += _check_numbering(cps, runs)
    problems += _compare_witness(log.witness_path, cps)
    previous: _Cp | None = None
    root_broken = False
    for cp in cps:
        problems += _check_checkpoint(cp, anchors, log_id)
        if cp.tree_size > top:
            problems.append(Problem(f"log truncated: checkpoint {cp.id} signs {cp.tree_size} records but the log "
                                    f"ends at #{top - 1 if top else 0} (records #{top}–#{cp.tree_size - 1} gone)"))
        elif not root_broken and not missing:
            prefix = [leaves[i] for i in range(cp.tree_size)]
            if merkle.root(prefix) != cp.root_hash:
                start = previous.tree_size if previous and previous.tree_size <= cp.tree_size else 0
                problems.append(Problem(f"records #{start}–#{cp.tree_size - 1} do not match signed checkpoint "
                                        f"{cp.id}: a record in that range was rewritten, inserted or removed "
                                        "(later checkpoints not compared)", start))
                root_broken = True  # every later root includes the same damage: blame it once
            elif previous is not None and 0 < previous.tree_size <= cp.tree_size:
                # RFC 6962 consistency: the later signed tree extends the earlier signed tree.
                proof = merkle.consistency_proof(prefix, previous.tree_size)
                if not merkle.verify_consistency(previous.tree_size, cp.tree_size, previous.root_hash,
                                                 cp.root_hash, proof):
                    problems.append(Problem(f"checkpoint {cp.id} is not an append-only extension of checkpoint "
                                            f"{previous.id}"))
        if previous is not None and cp.tree_size < previous.tree_size:
            problems.append(Problem(f"checkpoint {cp.id} signs a smaller tree ({cp.tree_size}) than checkpoint "
                                    f"{previous.id} ({previous.tree_size}): the log was rewound"))
        previous = cp

    # 4. Redacted records: each must be named by a signed redaction of its kind.
    signed_size = cps[-1].tree_size if cps else 0
    found, redaction_notes = _check_redactions(rows, signed_size)
    problems += found
    notes += redaction_notes

    # 5. Records nobody signed: after the last checkpoint. Those of a run whose process is alive
    # are work in progress; any other is an unsigned insertion (or the tail of a crashed run,
    # which the next run closes as aborted).
    from evidence.log import RUN_KIND, _owner_alive

    live_runs = {r.id for r in runs if r.status == "running" and _owner_alive(r.owner, r.started_at)}
    tail = [r for r in rows if r.idx >= signed_size]
    unsigned = [r.idx for r in tail if r.run_id not in live_runs]
    if unsigned:
        problems.append(Problem(f"record(s) {_ranges(unsigned)} appended after the last signed checkpoint, outside "
                                "any live run: not covered by any signature (inserted, or left by an interrupted "
                                "run that the next run will close as aborted)", unsigned[0]))
    if len(tail) > len(unsigned):
        notes.append(f"{len(tail) - len(unsigned)} record(s) belong to a run still in progress and are not signed yet")
    closings: dict[int, list[int]] = {}
    for r in rows:
        if r.kind == RUN_KIND and r.idx < signed_size:
            closings.setdefault(r.run_id, []).append(r.idx)
    for run in runs:
        idxs = closings.get(run.id, [])
        if len(idxs) > 1:
            problems.append(Problem(f"run {run.id} has {len(idxs)} signed closing records ({_ranges(idxs)}): a closed "
                                    "run was reopened", idxs[1]))
        elif idxs and run.status == "running":
            problems.append(Problem(f"run {run.id} is marked as running but its signed record #{idxs[0]} closed it: "
                                    "its status was altered", idxs[0]))
    aborted = [r.id for r in runs if r.status == "aborted"]
    if aborted:
        notes.append(f"run(s) {', '.join(map(str, aborted))} were interrupted and closed as aborted: their records "
                     "are signed but no check relies on them")

    # 6. Artifacts still match their digests.
    for sha in sorted(artifact_ids):
        try:
            log.blobs.get(sha)
        except FileNotFoundError:
            problems.append(Problem(f"artifact {sha[:16]}… is missing from the evidence folder"))
        except ValueError:
            problems.append(Problem(f"artifact {sha[:16]}… was altered: its bytes no longer match its digest"))

    return VerifyOutcome(tree_size=len(rows), checkpoints=len(cps), problems=problems, notes=notes,
                         redacted=sum(1 for r in rows if r.redacted))


def _signed_payload(r: _Row) -> dict[str, Any] | None:
    """The payload of an intact record (its body gives its leaf), else None (reported in step 2)."""
    if r.redacted or merkle.leaf_hash(r.body) != r.leaf_hash:
        return None
    try:
        payload = json.loads(r.body).get("payload")
    except (ValueError, AttributeError):
        return None
    return payload if isinstance(payload, dict) else None


def _check_redactions(rows: list[_Row], signed_size: int) -> tuple[list[Problem], list[str]]:
    """A redacted record must be of a redactable kind and named by a signed `attest.redaction`
    record of that kind, from a run closed "ok" (the only order evidence/retention.py empties a
    body in); anything else is a payload deleted from the log."""
    from evidence.log import REDACTABLE_KINDS, REDACTION_KIND, RUN_KIND, Problem
    from evidence.retention import NEVER_REDACTED, Coverage, statement_problem

    problems: list[Problem] = []
    statuses: dict[int, str] = {}
    statements: list[tuple[_Row, dict[str, Any]]] = []
    for r in rows:
        if r.idx >= signed_size or r.kind not in (RUN_KIND, REDACTION_KIND):
            continue
        payload = _signed_payload(r)
        if payload is None:
            continue
        if r.kind == RUN_KIND:
            statuses[r.run_id] = str(payload.get("status"))
            continue
        problem = statement_problem(payload)
        if problem:
            problems.append(Problem(f"redaction record #{r.idx} is not valid: {problem}", r.idx))
        else:
            statements.append((r, payload))
    coverage = Coverage(p for r, p in statements if statuses.get(r.run_id) == "ok")
    redacted: dict[str, int] = {}
    pending = 0
    for r in rows:
        named = coverage.kind_of(r.idx)
        if not r.redacted:
            if named is not None and named == r.kind:
                pending += 1
            continue
        redacted[r.kind] = redacted.get(r.kind, 0) + 1
        label = f"record #{r.idx} ({r.kind} {r.subject})"
        if r.kind in NEVER_REDACTED or r.kind not in REDACTABLE_KINDS:
            problems.append(Problem(f"{label}: its content was removed, and records of this kind are never "
                                    "redacted: deleted from the log", r.idx))
        elif named is None:
            problems.append(Problem(f"{label}: its content was removed but no signed redaction record names it: "
                                    "deleted from the log, not redacted under retention", r.idx))
        elif named != r.kind:
            problems.append(Problem(f"{label}: the signed redaction record naming it redacted {named} records: its "
                                    "kind column was changed", r.idx))
    notes: list[str] = []
    if redacted:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(redacted.items()))
        notes.append(f"{sum(redacted.values())} record(s) had their payload redacted under retention ({kinds}): "
                     "their leaves still verify and prove they existed; their content can no longer be checked")
    if pending:
        notes.append(f"{pending} record(s) named by a signed redaction still hold their payload (the redaction was "
                     "interrupted; the next retention run removes it)")
    return problems, notes


def _check_record(r: _Row, artifact_ids: set[str]) -> str | None:
    label = f"record #{r.idx} ({r.kind} {r.subject})"
    if r.as_text:
        return f"{label} altered: its content was rewritten as text"
    if merkle.leaf_hash(r.body) != r.leaf_hash:
        return f"{label} altered: its content no longer matches its leaf hash"
    try:
        body = json.loads(r.body)
        cols = (body["source"], body["kind"], body["subject"], body["collected_at"], body["run"])
        cited = list(body.get("artifacts", []))
    except (ValueError, KeyError, TypeError):
        return f"record #{r.idx} is not a well-formed record"
    if cols != (r.source, r.kind, r.subject, r.collected_at, r.run_id):
        return f"record #{r.idx}: its indexed columns were changed and no longer agree with its signed content"
    lost = [a for a in cited if a not in artifact_ids]
    if lost:
        return f"{label}: artifact(s) it cites were removed from the artifact table ({lost[0][:16]}…)"
    return None


def _check_numbering(cps: list[_Cp], runs: list[Run]) -> list[Problem]:
    from evidence.log import Problem

    out = []
    ids = [c.id for c in cps]
    if ids:
        gaps = [i for i in range(1, max(ids) + 1) if i not in set(ids)]
        if gaps:
            out.append(Problem(f"checkpoint(s) {', '.join(map(str, gaps))} missing: removed from the database"))
    closed = {c.run_id for c in cps}
    for run in runs:
        if run.status != "running" and run.id not in closed:
            out.append(Problem(f"run {run.id} ({run.purpose}, {run.status}) finished but its checkpoint is gone"))
    return out


def _check_checkpoint(cp: _Cp, anchors: Sequence[x509.Certificate], log_id: str | None) -> list[Problem]:
    from evidence.log import Problem

    out: list[Problem] = []
    if not cp.chain:
        return [Problem(f"checkpoint {cp.id}: its signer certificate is unreadable")]
    if not signature_valid(cp.chain[0], cp.body, cp.signature):
        out.append(Problem(f"checkpoint {cp.id}: signature does not match its content"))
    elif anchors:
        from attest.verify import validate_signer_chain

        try:
            at = parse_utc(cp.signed["signed_at"]) if cp.signed else None
        except (KeyError, ValueError, TypeError):
            at = None
        reason = validate_signer_chain(cp.chain, anchors, at=at)
        if reason:
            out.append(Problem(f"checkpoint {cp.id}: {reason}"))
    signed = cp.signed
    if not isinstance(signed, dict):
        out.append(Problem(f"checkpoint {cp.id}: its signed content is not well-formed"))
        return out
    try:
        if signed["tree_size"] != cp.tree_size or bytes.fromhex(signed["root_hash"]) != cp.root_hash:
            out.append(Problem(f"checkpoint {cp.id}: its stored size/root differ from what was signed"))
        if signed["run"] != cp.run_id:
            out.append(Problem(f"checkpoint {cp.id}: stored for run {cp.run_id} but signed for run {signed['run']}"))
        if log_id is not None and signed["log_id"] != log_id:
            out.append(Problem(f"checkpoint {cp.id} was signed for log {signed['log_id']}, not this log ({log_id})"))
    except (KeyError, ValueError, TypeError):
        out.append(Problem(f"checkpoint {cp.id}: its signed content lacks size, root, run or log id"))
    return out


def _compare_witness(path: Path, cps: list[_Cp]) -> list[Problem]:
    from evidence.log import Problem

    if not path.exists():
        return [Problem(f"witness file {path} is missing")] if cps else []
    witnessed, issues = witness_entries(path)
    out = [Problem(f"{path}: {issue}") for issue in issues]
    in_db = {cp.id: cp for cp in cps}
    for cid in sorted(set(witnessed) - set(in_db)):
        try:
            size = json.loads(witnessed[cid][0]).get("tree_size")
        except ValueError:
            size = "?"
        out.append(Problem(f"checkpoint {cid} (tree size {size}) is in the witness file but was removed from the "
                           "database"))
    for cid, cp in in_db.items():
        if cid not in witnessed:
            out.append(Problem(f"checkpoint {cid} is in the database but not in the witness file (after a crash "
                               "while signing, the next attest command restores the newest line)"))
        elif witnessed[cid] != (cp.body, cp.signature):
            out.append(Problem(f"checkpoint {cid} differs from its copy in the witness file"))
    if witnessed:
        gaps = [i for i in range(1, max(witnessed) + 1) if i not in witnessed]
        if gaps:
            out.append(Problem(f"witness file: checkpoint line(s) {', '.join(map(str, gaps))} removed"))
    return out

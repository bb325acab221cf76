"""The attestation JSON has a published JSON Schema (attest/schemas/attestation-v1.schema.json)
that stays equal to the model, that real attestations satisfy and broken ones do not, and the
DSSE-wrapped in-toto Statement carries the attestation as its predicate under the project's own
predicate type, whose schema that is."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from attest.attestation import Result, Timeline, TimelineLane, TimelineSpan, Verdict, WaiverRef
from attest.issue import write_documents
from attest.schema import PREDICATE_TYPE, SCHEMA_FILE, SCHEMA_ID, published_schema, schema_text
from attest.signing import ProviderSigner
from tests.render.conftest import build_attestation

REGENERATE = "python -m attest.schema > attest/schemas/attestation-v1.schema.json"


def _rich_results() -> list[Result]:
    base = build_attestation().results
    tl = Timeline(title={"en": "t"}, start=datetime(2026, 10, 31, 23, tzinfo=UTC),
                  end=datetime(2026, 11, 30, 23, tzinfo=UTC), measured_until=datetime(2026, 11, 26, tzinfo=UTC),
                  time_zone="Europe/Rome", lanes=[TimelineLane(label="pbx-a", spans=[TimelineSpan(
                      start=datetime(2026, 11, 3, tzinfo=UTC), end=datetime(2026, 11, 3, 1, tzinfo=UTC),
                      state="down")])])
    waived = base[1].model_copy(update={"verdict": Verdict.WAIVED, "waiver": WaiverRef(
        justification="Backups paused for the move.", approver="CISO", expires=date(2026, 12, 31),
        verdict_without=Verdict.FAIL, reason_without=base[1].reason)})
    return [base[0], waived, base[2].model_copy(update={"timelines": [tl]})]


def _validator() -> Draft202012Validator:
    schema = published_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_the_published_schema_is_the_models() -> None:
    path = Path(__file__).resolve().parents[2] / "attest" / "schemas" / SCHEMA_FILE
    assert path.read_text(encoding="utf-8") == schema_text(), f"the model changed: run `{REGENERATE}`"
    assert published_schema()["$id"] == SCHEMA_ID and SCHEMA_ID.startswith(PREDICATE_TYPE)


def test_a_real_attestation_satisfies_it() -> None:
    att = build_attestation("it", results=_rich_results())
    errors = list(_validator().iter_errors(json.loads(att.to_json_bytes())))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d.pop("document_id"), "document_id"),
    (lambda d: d["results"][0].update(verdict="great"), "verdict"),
    (lambda d: d["results"][0].update(colour="red"), "colour"),
    (lambda d: d["tenant"].update(language="fr"), "language"),
    (lambda d: d["results"][2]["timelines"][0]["lanes"][0]["spans"][0].update(state="sideways"), "state"),
])
def test_a_broken_attestation_does_not(change: Any, where: str) -> None:
    data = json.loads(build_attestation("en", results=_rich_results()).to_json_bytes())
    change(data)
    errors = list(_validator().iter_errors(data))
    assert errors and any(where in (e.message + str(list(e.path))) for e in errors)


def test_the_dsse_statement_carries_the_attestation_under_the_projects_predicate_type(
        tmp_path: Path, signer: ProviderSigner) -> None:
    att = build_attestation("en", results=_rich_results())
    _, html_path, json_path = write_documents(att, signer, tmp_path)
    for path in (html_path, json_path):
        envelope = json.loads(path.with_name(path.name + ".dsse.json").read_bytes())
        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert statement["predicateType"] == PREDICATE_TYPE
        assert statement["predicate"] == json.loads(att.to_json_bytes())
        assert not list(_validator().iter_errors(statement["predicate"]))

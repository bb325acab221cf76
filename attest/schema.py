"""The attestation's published JSON Schema and its in-toto predicate type.

The attestation JSON (`Attestation.to_json_bytes`: embedded in the PDF, beside the HTML, the
predicate of the DSSE-wrapped in-toto Statement) is described by
`attest/schemas/attestation-v1.schema.json`, generated from the pydantic model and committed, so a
reader can validate a document without this tool; a test keeps the file equal to the model. The
predicate type URI names the format; the schema's `$id` is that URI + `/schema.json`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from attest.attestation import SCHEMA, Attestation

PREDICATE_TYPE = "https://attest-pbx.org/attestation/v1"
SCHEMA_ID = PREDICATE_TYPE + "/schema.json"
SCHEMA_FILE = "attestation-v1.schema.json"


def generate_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the attestation JSON, from the model."""
    body = Attestation.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Attest attestation",
        "description": f"A signed attestation of a cloud-PBX provider for one tenant and period ({SCHEMA}); "
                       f"the predicate of in-toto Statements with predicateType {PREDICATE_TYPE}.",
        **{k: v for k, v in body.items() if k != "title"},
    }


def schema_text() -> str:
    """The schema as it is published (stable key order, two-space indent, final newline)."""
    return json.dumps(generate_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def published_schema() -> dict[str, Any]:
    text = resources.files("attest.schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


if __name__ == "__main__":  # python -m attest.schema > attest/schemas/attestation-v1.schema.json
    print(schema_text(), end="")

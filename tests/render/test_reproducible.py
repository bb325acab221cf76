"""Issue 6 item 6: the same attestation data renders to byte-identical unsigned PDF and HTML —
here across separate processes with different hash seeds (so no set or dict ordering, object id
or clock leaks into the output), from the attestation JSON as it is stored."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from attest.attestation import Attestation
from tests.render.conftest import build_attestation
from tests.render.test_schema import _rich_results

RENDER = """
import hashlib, sys
from attest.attestation import Attestation
from attest.render.html import render_html
from attest.render.pdf import render_pdf
att = Attestation.from_json_bytes(open(sys.argv[1], "rb").read())
html = render_html(att)
print(hashlib.sha256(html.encode()).hexdigest(), hashlib.sha256(render_pdf(att, html)).hexdigest())
"""


def _render_in_process(path: Path, seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=seed, TZ="America/New_York" if seed == "1" else "Asia/Tokyo")
    done = subprocess.run([sys.executable, "-c", RENDER, str(path)], capture_output=True, text=True, env=env,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    return done.stdout.strip()


def test_same_attestation_same_bytes_in_any_process(tmp_path: Path) -> None:
    att = build_attestation("it", results=_rich_results())
    path = tmp_path / "attestation.json"
    path.write_bytes(att.to_json_bytes())
    assert Attestation.from_json_bytes(path.read_bytes()).to_json_bytes() == att.to_json_bytes()  # round trip
    first, second = _render_in_process(path, "1"), _render_in_process(path, "4242")
    assert first == second and len(first.split()) == 2


def test_a_different_attestation_gives_different_bytes(tmp_path: Path) -> None:
    a = build_attestation("en", results=_rich_results())
    b = a.model_copy(update={"document_id": "AT-0000000000000000000B"})
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_bytes(a.to_json_bytes())
    pb.write_bytes(b.to_json_bytes())
    assert _render_in_process(pa, "7") != _render_in_process(pb, "7")
    assert hashlib.sha256(pa.read_bytes()).digest() != hashlib.sha256(pb.read_bytes()).digest()

"""Render an Attestation to PDF/A-3b with WeasyPrint, the attestation JSON attached.

Choices that the reference measurements (shared/reference/rendering.md §4, §8) forced:

* WeasyPrint logs problems (missing glyphs, failed fetches, bad CSS) to the ``weasyprint``
  logger, which only has a NullHandler: they are captured here, re-logged, and with
  ``strict=True`` turned into a :class:`RenderError`.
* The URL fetcher only allows ``data:`` and any failed fetch is fatal, so nothing outside the
  document (``file:``, ``http:``) can ever be read into a PDF, not even silently.
* Info ``/Producer`` and XMP ``pdf:Producer`` are both set to *producer*; the signer passes
  pyHanko's vendor string so that the two still agree after signing (PDF/A requires it).
* Attachment dates come from ``generated_at``, so the same Attestation gives the same bytes.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter
from typing import Any
from xml.sax.saxutils import quoteattr

import pydyf
from weasyprint import HTML, Attachment, Document
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from attest.attestation import Attestation
from attest.render.html import render_html

PDF_VARIANT = "pdf/a-3b"
ATTACHMENT_NAME = "attestation.json"
DEFAULT_PRODUCER = "Attest"

log = logging.getLogger(__name__)
weasyprint_logger = logging.getLogger("weasyprint")

_XMP_PRODUCER = re.compile(rb'pdf:Producer="[^"]*"')


class RenderError(Exception):
    """The PDF could not be produced cleanly (a WeasyPrint warning in strict mode, a fetch)."""


@dataclass
class RenderStats:
    """Time spent in WeasyPrint, summed over the documents rendered by this process.

    ``layout_s`` is ``HTML(...).render()`` (parsing, CSS cascade, layout, pagination);
    ``write_s`` is ``Document.write_pdf`` (font subsetting, PDF objects, attachment).
    """

    layout_s: float = 0.0
    write_s: float = 0.0
    documents: int = 0
    warnings: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, layout_s: float, write_s: float, warnings: int) -> None:
        with self._lock:
            self.layout_s += layout_s
            self.write_s += write_s
            self.documents += 1
            self.warnings += warnings

    def reset(self) -> None:
        with self._lock:
            self.layout_s = self.write_s = 0.0
            self.documents = self.warnings = 0

    @property
    def layout_share(self) -> float:
        """Fraction of WeasyPrint time spent in layout (0 when nothing was rendered)."""
        total = self.layout_s + self.write_s
        return self.layout_s / total if total else 0.0


stats = RenderStats()


def data_only_fetcher() -> URLFetcher:
    """A WeasyPrint fetcher that serves ``data:`` URLs and refuses everything else.

    ``fail_on_errors`` makes a refused fetch abort the render instead of leaving a hole in
    the page with a log line nobody reads.
    """
    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


class _WarningCapture(logging.Handler):
    """Collects WeasyPrint warnings and errors raised by the rendering thread only."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append(record)


@contextmanager
def _captured_warnings() -> Iterator[list[logging.LogRecord]]:
    # An application that raised the root level above WARNING would otherwise drop them
    # before any handler sees them.
    if not weasyprint_logger.isEnabledFor(logging.WARNING):
        weasyprint_logger.setLevel(logging.WARNING)
    handler = _WarningCapture()
    weasyprint_logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        weasyprint_logger.removeHandler(handler)


def _utc_naive(moment: datetime) -> datetime:
    # WeasyPrint prints attachment dates with a literal "Z": hand it UTC wall-clock time.
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _attachment(att: Attestation, fetcher: URLFetcher) -> Attachment:
    stamp = _utc_naive(att.generated_at)
    return Attachment(
        string=att.to_json_bytes(),
        name=ATTACHMENT_NAME,  # the .json suffix gives the /Subtype application/json
        description="Attestation data, canonical JSON (RFC 8785)",
        relationship="Data",
        created=stamp,
        modified=stamp,
        url_fetcher=fetcher,
    )


def _object_number(reference: bytes | str) -> int:
    """``b"56 0 R"`` → 56 (pydyf keeps references as bytes)."""
    text = reference.decode("ascii") if isinstance(reference, bytes) else reference
    return int(text.split()[0])


def _set_xmp_producer(pdf: pydyf.PDF, producer: str) -> None:
    stream = pdf.objects[_object_number(pdf.catalog["Metadata"])]
    content = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in stream.stream)
    replacement = b"pdf:Producer=" + quoteattr(producer).encode("utf-8")
    content, count = _XMP_PRODUCER.subn(lambda _: replacement, content)
    if count != 1:
        # A WeasyPrint upgrade changed the XMP layout: fail rather than ship Info ≠ XMP.
        raise RenderError(f"expected one pdf:Producer in the XMP metadata, found {count}")
    stream.stream = [content]


def _dedupe_af(pdf: pydyf.PDF) -> None:
    # WeasyPrint 70 lists the same Filespec twice in the catalog /AF (reference §4).
    if "AF" in pdf.catalog:
        unique = list(dict.fromkeys(pdf.catalog["AF"]))
        pdf.catalog["AF"] = pydyf.Array(unique)


def _finisher(producer: str) -> Callable[[Document, pydyf.PDF], None]:
    def finish(_document: Document, pdf: pydyf.PDF) -> None:
        pdf.info["Producer"] = pydyf.String(producer)
        _set_xmp_producer(pdf, producer)
        _dedupe_af(pdf)

    return finish


def _report(records: list[logging.LogRecord], strict: bool) -> None:
    messages = [record.getMessage() for record in records]
    if strict and messages:
        raise RenderError("WeasyPrint reported: " + " | ".join(messages))
    for message in messages:
        log.warning("WeasyPrint: %s", message)


def render_pdf(
    att: Attestation,
    html: str | None = None,
    *,
    producer: str = DEFAULT_PRODUCER,
    strict: bool = False,
) -> bytes:
    """The attestation as PDF/A-3b bytes with ``attestation.json`` attached.

    *html* is the output of :func:`render_html` when the caller already has it (the PDF then
    shows exactly the HTML document's content); otherwise it is rendered here. With *strict*,
    any WeasyPrint warning raises :class:`RenderError` instead of being logged.
    """
    source = render_html(att) if html is None else html
    fetcher = data_only_fetcher()
    options: dict[str, Any] = {"pdf_variant": PDF_VARIANT}
    with _captured_warnings() as records:
        try:
            started = perf_counter()
            document = HTML(string=source, url_fetcher=fetcher).render(**options)
            laid_out = perf_counter()
            pdf = document.write_pdf(finisher=_finisher(producer), attachments=[_attachment(att, fetcher)], **options)
            written = perf_counter()
        except FatalURLFetchingError as exc:  # a BaseException: keep it from escaping as one
            raise RenderError(f"refused to fetch an external resource: {exc}") from exc
    stats.add(laid_out - started, written - laid_out, len(records))
    _report(records, strict)
    if not isinstance(pdf, bytes):  # write_pdf returns bytes when no target is given
        raise RenderError("WeasyPrint returned no PDF bytes")
    return pdf

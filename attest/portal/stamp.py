"""Recipient stamps on shared PDFs (issue 8): each download through a share link carries a
visible note "Shared with <recipient> on <date>", added after the provider's signature.

The note is a /Stamp markup annotation on page 1, written in an incremental update. The
original bytes are never rewritten: the signed document as issued stays a byte prefix of the
stamped copy (``original_revision``), so its SHA-256 still finds the ``attest.document``
record, and the certification signature (DocMDP P=3: annotations permitted) stays valid.
``attest verify`` reports the copy valid, with the annotation added after signing; pdfsig says
"Signature is Valid." (and "Not total document signed"). pyHanko's *default* diff policy cannot
tell: it has no rule for annotations and calls any stamp ILLEGAL_MODIFICATIONS (pyHanko's
"known issues"), which is why attest/verify.py brings its own.

Why /Stamp and not /FreeText: a rubber stamp is exactly what this is, and unlike FreeText it
needs no /DA default-appearance string, which would have to name a font that PDF/A requires to
be embedded. Why no font at all: PDF/A embeds every font used for rendering, the standard 14
included, so a plain Helvetica appearance breaks PDF/A-3b, and pyHanko's embedding of a TTF
subset needs the optional uharfbuzz (and ~90 ms). The appearance stream draws the glyphs of
DejaVu Sans (the font the documents use, installed with WeasyPrint) as filled outlines; the
text itself travels in /Contents, which viewers list in their comments panel.

Nothing in a stamp is signed: anyone can add an annotation that says anything. The
verification page must present ``describe_stamps`` as "added after signing", never as part of
what the provider attests.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest.errors import AttestError

if TYPE_CHECKING:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

MAX_RECIPIENT_CHARS = 120
STAMP_SUBJECT = "Attest recipient stamp"  # /Subj: tells our stamps from other markup
STAMP_AUTHOR = "Attest"  # /T: the "author" a viewer shows next to the note

_TEXT = {
    "en": "Shared with {recipient} on {date} — provider content unchanged since signing",
    "it": "Condiviso con {recipient} il {date} — contenuto del fornitore invariato dalla firma",
}
# The Babel locales the documents use (attest/render/html.py LOCALES; not imported: that module
# pulls in Jinja2 and the renderer, ~0.3 s), so the date reads as it does in the document.
_LOCALES = {"en": "en_GB", "it": "it_IT"}

# Unicode categories refused in a recipient: controls, format characters (bidi overrides could
# make the stamp read differently from its /Contents), separators that break lines, private-use,
# surrogates and unassigned code points.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})

# DejaVu Sans where distributions put it (Debian/Ubuntu, Fedora, Arch/Alpine).
FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)

# Layout, in points. The attestation template has 20 mm / 16 mm page margins with the running
# header centred in the top margin (ends ~34 pt below the top edge): the first stamp sits in the
# gap between header and content, so it covers nothing the provider signed; later ones alternate
# with the bottom margin and move inwards.
_FONT_SIZE = 7.0
_LEADING = 8.5
_PADDING = 3.0
_BORDER = 0.75
_SIDE_MARGIN = 45.35  # 16 mm
_EDGE_GAP = 34.0
_STACK_GAP = 3.0
_MAX_LINES = 4
_FILL_RGB = "0.93 0.96 1"
_INK_RGB = "0.09 0.2 0.45"

# Annotation flags: Print (PDF/A requires it; Hidden/Invisible/NoView must stay clear) and
# Locked (a viewer should not let the reader move or delete it by accident).
_FLAGS = 4 | 128


class StampError(AttestError):
    """The stamp cannot be drawn on this machine (no DejaVu Sans), or pyHanko did not append."""


# --- input ---------------------------------------------------------------------------------


def clean_recipient(recipient: str) -> str:
    """*recipient* as it will appear: NFC, runs of spaces collapsed, trimmed. ValueError for an
    empty name, one over ``MAX_RECIPIENT_CHARS``, control/format characters, or characters the
    stamp font cannot draw."""
    if not isinstance(recipient, str):
        raise ValueError("the recipient must be text")
    text = unicodedata.normalize("NFC", recipient)
    bad = sorted({c for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise ValueError(f"the recipient contains control or invisible formatting characters ({shown})")
    # Other spaces (no-break, em space…) become plain ones, so wrapping and width stay predictable.
    text = " ".join("".join(" " if unicodedata.category(c) == "Zs" else c for c in text).split())
    if not text:
        raise ValueError("the recipient is empty")
    if len(text) > MAX_RECIPIENT_CHARS:
        raise ValueError(f"the recipient is {len(text)} characters long; at most {MAX_RECIPIENT_CHARS} are allowed")
    missing = sorted({c for c in text if not _font().covers(c)})
    if missing:
        shown = ", ".join(f"'{c}' (U+{ord(c):04X})" for c in missing[:5])
        raise ValueError(f"the recipient contains characters the stamp cannot draw: {shown}")
    return text


def stamp_text(recipient: str, when: datetime, lang: str = "en") -> str:
    """The stamp's words, e.g. "Shared with ACME S.p.A. on 28 November 2026 — provider content
    unchanged since signing" (the date is the UTC calendar date)."""
    from babel import dates as babel_dates

    if lang not in _TEXT:
        raise ValueError(f"unsupported stamp language {lang!r}; use one of {', '.join(sorted(_TEXT))}")
    when = _utc(when)
    date = babel_dates.format_date(when.date(), format="long", locale=_LOCALES[lang])
    return _TEXT[lang].format(recipient=clean_recipient(recipient), date=date)


def _utc(when: datetime) -> datetime:
    if not isinstance(when, datetime):
        raise ValueError("the stamp date must be a datetime")
    if when.tzinfo is None or when.utcoffset() is None:
        # A naive time would be stamped as UTC on one server and local time on another.
        raise ValueError("the stamp date must carry a time zone (e.g. datetime.now(UTC))")
    return when.astimezone(UTC)


# --- glyph outlines ------------------------------------------------------------------------


class _OutlineFont:
    """DejaVu Sans glyphs as PDF path operators (font units), cached per glyph."""

    def __init__(self, path: Path) -> None:
        from fontTools.ttLib import TTFont

        self._font = TTFont(str(path), lazy=True)
        self._cmap: dict[int, str] = self._font.getBestCmap()
        self._glyphs = self._font.getGlyphSet()
        self._hmtx = self._font["hmtx"]
        self.units_per_em: int = self._font["head"].unitsPerEm
        self._paths: dict[str, bytes] = {}
        # The portal stamps from a thread pool; fontTools' lazy glyph loading is not thread-safe.
        self._lock = threading.Lock()

    def covers(self, char: str) -> bool:
        return ord(char) in self._cmap

    def glyph(self, char: str) -> str:
        return self._cmap.get(ord(char), ".notdef")

    def advance(self, glyph: str) -> int:
        width: int = self._hmtx[glyph][0]
        return width

    def width(self, text: str, size: float) -> float:
        return sum(self.advance(self.glyph(c)) for c in text) * size / self.units_per_em

    def path(self, glyph: str) -> bytes:
        cached = self._paths.get(glyph)
        if cached is None:
            with self._lock:
                pen = _pen_class()(self._glyphs)
                self._glyphs[glyph].draw(pen)
                cached = self._paths[glyph] = " ".join(pen.ops).encode("ascii")
        return cached


@cache
def _pen_class() -> type:
    """The pen class, built on first use: fontTools is imported only when a stamp is drawn."""
    from fontTools.pens.basePen import BasePen

    class PdfPathPen(BasePen):
        """Collects m/l/c/h operators; BasePen turns TrueType quadratic curves into cubic ones
        (PDF has no quadratic Bézier). Coordinates rounded to whole font units: 1/2048 em is far
        below what 7 pt text can show, and integers keep the stream short."""

        def __init__(self, glyph_set: Any) -> None:
            super().__init__(glyph_set)
            self.ops: list[str] = []

        def _moveTo(self, pt: tuple[float, float]) -> None:
            self.ops.append(f"{round(pt[0])} {round(pt[1])} m")

        def _lineTo(self, pt: tuple[float, float]) -> None:
            self.ops.append(f"{round(pt[0])} {round(pt[1])} l")

        def _curveToOne(self, p1: tuple[float, float], p2: tuple[float, float], p3: tuple[float, float]) -> None:
            self.ops.append(" ".join(f"{round(v)}" for v in (*p1, *p2, *p3)) + " c")

        def _closePath(self) -> None:
            self.ops.append("h")

    return PdfPathPen


_FONT_LOCK = threading.Lock()


@cache
def _font() -> _OutlineFont:
    with _FONT_LOCK:
        return _load_font()


def _load_font() -> _OutlineFont:
    for path in FONT_PATHS:
        if path.is_file():
            return _OutlineFont(path)
    raise StampError(
        "cannot draw a recipient stamp: DejaVu Sans is not installed (apt: fonts-dejavu-core); looked in "
        + ", ".join(str(p) for p in FONT_PATHS)
    )


def _wrap(text: str, font: _OutlineFont, size: float, width: float) -> list[str]:
    """Greedy word wrap to *width* points; a word wider than a line is cut between characters."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if font.width(candidate, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if line and font.width(line + char, size) > width:
                lines.append(line)
                line = ""
            line += char
    if line:
        lines.append(line)
    return lines


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _appearance(lines: list[str], width: float, height: float) -> bytes:
    """The content of the stamp's /AP /N form: a light box with the lines as filled outlines."""
    font = _font()
    scale = _FONT_SIZE / font.units_per_em
    half = _BORDER / 2
    ops = [
        b"q",
        f"{_FILL_RGB} rg {_INK_RGB} RG {_num(_BORDER)} w".encode(),
        f"{_num(half)} {_num(half)} {_num(width - _BORDER)} {_num(height - _BORDER)} re B".encode(),
        f"{_INK_RGB} rg".encode(),
    ]
    # First baseline: one ascent (~0.76 em for DejaVu's Latin capitals) below the top padding.
    baseline = height - _PADDING - 0.78 * _FONT_SIZE
    for line in lines:
        x = _PADDING + _BORDER
        for char in line:
            glyph = font.glyph(char)
            path = font.path(glyph)
            if path:  # a space has no outline
                ops.append(
                    f"q {_num(scale)} 0 0 {_num(scale)} {_num(x)} {_num(baseline)} cm ".encode() + path + b" f Q"
                )
            x += font.advance(glyph) * scale
        baseline -= _LEADING
    ops.append(b"Q")
    return b"\n".join(ops)


# --- reading the signed PDF ----------------------------------------------------------------


def _reader(pdf: bytes) -> PdfFileReader:
    from pyhanko.pdf_utils.reader import PdfFileReader

    if not isinstance(pdf, bytes | bytearray) or b"%PDF-" not in bytes(pdf[:1024]):
        raise ValueError("the input is not a PDF")
    try:
        reader = PdfFileReader(BytesIO(bytes(pdf)))
        reader.root  # noqa: B018 - force the catalog to be read so a broken file fails here
    except Exception as e:  # pyHanko raises assorted errors (even AssertionError) on broken files
        raise ValueError(f"the input is not a readable PDF: {e}") from None
    return reader


def _provider_signature(reader: PdfFileReader) -> EmbeddedPdfSignature | None:
    """The certification signature (the one /Perms /DocMDP points at), else the earliest
    ordinary signature; None if the file has no signature."""
    try:
        sigs = [s for s in reader.embedded_signatures if s.sig_object_type == "/Sig"]
    except Exception as e:
        raise ValueError(f"a signature in the PDF cannot be read: {e}") from None
    if not sigs:
        return None
    try:
        perm = reader.root["/Perms"].raw_get("/DocMDP")
        perm_ref = getattr(perm, "reference", None)
    except (KeyError, TypeError, AttributeError):
        perm_ref = None
    for sig in sigs:
        value = sig.sig_field.raw_get("/V")
        if perm_ref is not None and getattr(value, "reference", None) == perm_ref:
            return sig
    return sigs[0]  # embedded_signatures is in signing order


def _signed_end(sig: EmbeddedPdfSignature, size: int) -> int:
    byte_range = [int(v) for v in sig.byte_range]
    if len(byte_range) != 4 or byte_range[0] != 0 or not 0 < byte_range[2] + byte_range[3] <= size:
        raise ValueError("the signature's byte range is malformed")
    return byte_range[2] + byte_range[3]


def original_revision(pdf: bytes) -> bytes | None:
    """The bytes the provider signed: the file up to the end of the certification signature's
    byte range (for a document Attest issued, exactly the PDF as issued, whose SHA-256 the
    ``attest.document`` record holds). None if the PDF has no signature; ValueError if it is
    not a readable PDF. Hashing this finds the record; it does not prove the signature valid."""
    reader = _reader(pdf)
    sig = _provider_signature(reader)
    if sig is None:
        return None
    return bytes(pdf[: _signed_end(sig, len(pdf))])


def _leaf_pages(node: Any, depth: int = 0) -> list[generic.Reference]:
    """Page references in document order (a cycle or a deep tree ends the walk)."""
    from pyhanko.pdf_utils import generic

    out: list[generic.Reference] = []
    kids = node.get_object().get("/Kids")
    if depth > 32 or not isinstance(kids, generic.ArrayObject):
        return out
    for kid in kids:
        if not isinstance(kid, generic.IndirectObject):
            continue
        obj = kid.get_object()
        if isinstance(obj, generic.DictionaryObject) and obj.get("/Type") == "/Pages":
            out.extend(_leaf_pages(obj, depth + 1))
        elif isinstance(obj, generic.DictionaryObject):
            out.append(kid.reference)
    return out


def _annot_refs(page: Any) -> list[generic.Reference]:
    from pyhanko.pdf_utils import generic

    if not isinstance(page, generic.DictionaryObject) or "/Annots" not in page:
        return []
    array = page["/Annots"]
    if not isinstance(array, generic.ArrayObject):
        return []
    return [a.reference for a in array if isinstance(a, generic.IndirectObject)]


def describe_stamps(pdf: bytes) -> list[str]:
    """The texts of the annotations added after the provider's signature, in page order: our
    recipient stamps and anything else someone added (a verification page must show all of
    it as "added after signing"). An annotation without text is described by its type.
    Empty if the PDF has no signature or nothing was added; ValueError if it is unreadable."""
    from pyhanko.pdf_utils import generic

    reader = _reader(pdf)
    sig = _provider_signature(reader)
    if sig is None:
        return []
    signed = reader.get_historical_resolver(sig.signed_revision)
    texts: list[str] = []
    for page_ref in _leaf_pages(reader.root["/Pages"]):
        try:
            then = set(_annot_refs(signed.get_object(page_ref)))
        except Exception:  # a page added after signing (verify refuses such a file)
            then = set()
        for ref in _annot_refs(page_ref.get_object()):
            annot = ref.get_object()
            if ref in then or not isinstance(annot, generic.DictionaryObject):
                continue
            subtype = str(annot.get("/Subtype", "/Annot")).lstrip("/")
            if subtype == "Widget":
                continue  # a document timestamp's (invisible) field, not a note
            contents = annot.get("/Contents")
            texts.append(str(contents) if contents else f"({subtype} annotation without text)")
    return texts


# --- writing the stamp ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Placement:
    rect: tuple[float, float, float, float]
    lines: list[str]


def _place(page: Any, text: str, earlier: int) -> _Placement:
    """Where stamp number *earlier*+1 goes on *page*: see the layout note at the top."""
    x0, y0, x1, y1 = _page_box(page)
    side = min(_SIDE_MARGIN, (x1 - x0) * 0.08)
    width = (x1 - x0) - 2 * side
    font = _font()
    lines = _wrap(text, font, _FONT_SIZE, width - 2 * (_PADDING + _BORDER))
    if len(lines) > _MAX_LINES:  # cannot happen with the length cap; keep the box bounded anyway
        lines = [*lines[: _MAX_LINES - 1], lines[_MAX_LINES - 1] + "…"]
    height = 2 * _PADDING + (len(lines) - 1) * _LEADING + _FONT_SIZE + _BORDER
    step = (earlier // 2) * (height + _STACK_GAP)
    if earlier % 2 == 0:
        top = max(y1 - _EDGE_GAP - step, y0 + height)
        rect = (x0 + side, top - height, x0 + side + width, top)
    else:
        bottom = min(y0 + _EDGE_GAP + step, y1 - height)
        rect = (x0 + side, bottom, x0 + side + width, bottom + height)
    return _Placement(rect, lines)


def _page_box(page: Any) -> tuple[float, float, float, float]:
    """The visible area of *page*: /CropBox, else /MediaBox, either possibly inherited."""
    node, depth = page, 0
    while node is not None and depth < 32:
        for key in ("/CropBox", "/MediaBox"):
            box = node.get(key)
            if box is not None and len(box) == 4:
                x0, y0, x1, y1 = (float(v) for v in box)
                return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
        node, depth = node.get("/Parent"), depth + 1
        node = node.get_object() if node is not None else None
    raise ValueError("page 1 of the PDF has no page box")


def stamp_pdf(pdf: bytes, recipient: str, when: datetime, lang: str = "en") -> bytes:
    """*pdf* (signed, certified with annotations permitted) plus an incremental update adding a
    recipient stamp to page 1: "Shared with <recipient> on <date> — provider content unchanged
    since signing" (*lang* "en" or "it"). The input is a byte prefix of the result.

    ValueError for a bad recipient, a naive *when*, an unknown *lang*, a PDF that is unreadable,
    unsigned, encrypted, or certified with a DocMDP level that forbids annotations (the stamp
    would void the signature). StampError if DejaVu Sans is missing."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import MDPPerm

    text = stamp_text(recipient, when, lang)  # input errors first, before parsing the PDF
    moment = _utc(when)
    data = bytes(pdf)
    reader = _reader(data)
    if reader.security_handler is not None:
        raise ValueError("the PDF is encrypted; Attest never issues encrypted PDFs")
    sig = _provider_signature(reader)
    if sig is None:
        raise ValueError("the PDF carries no signature: a recipient stamp goes on a signed document only")
    if sig.docmdp_level is not None and sig.docmdp_level < MDPPerm.ANNOTATE:
        raise ValueError(
            f"the PDF's certification (DocMDP {sig.docmdp_level.name}) forbids annotations: a stamp would void it"
        )

    writer = IncrementalPdfFileWriter.from_reader(reader)
    page_ref, _resources = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    existing = [ref.get_object() for ref in _annot_refs(page)]
    earlier = sum(1 for a in existing if isinstance(a, generic.DictionaryObject) and a.get("/Subj") == STAMP_SUBJECT)
    place = _place(page, text, earlier)
    x0, y0, x1, y1 = place.rect
    width, height = x1 - x0, y1 - y0

    appearance = generic.StreamObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
            generic.pdf_name("/BBox"): generic.ArrayObject(
                [generic.FloatObject(0), generic.FloatObject(0), _float(width), _float(height)]
            ),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),  # no font, no image: nothing to embed
        },
        stream_data=_appearance(place.lines, width, height),
    )
    appearance.compress()
    stamp_number = earlier + 1
    annot = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Stamp"),
            generic.pdf_name("/Rect"): generic.ArrayObject([_float(v) for v in place.rect]),
            generic.pdf_name("/Contents"): generic.TextStringObject(text),
            generic.pdf_name("/T"): generic.TextStringObject(STAMP_AUTHOR),
            generic.pdf_name("/Subj"): generic.TextStringObject(STAMP_SUBJECT),
            generic.pdf_name("/NM"): generic.TextStringObject(f"attest-stamp-{stamp_number}-{moment:%Y%m%dT%H%M%SZ}"),
            generic.pdf_name("/Name"): generic.pdf_name("/AttestRecipientStamp"),
            generic.pdf_name("/CreationDate"): generic.pdf_date(moment),
            generic.pdf_name("/M"): generic.pdf_date(moment),
            generic.pdf_name("/F"): generic.NumberObject(_FLAGS),
            generic.pdf_name("/P"): page_ref,
            generic.pdf_name("/AP"): generic.DictionaryObject(  # PDF/A: /N only
                {generic.pdf_name("/N"): writer.add_object(appearance)}
            ),
        }
    )
    annot_ref = writer.add_object(annot)
    raw = page.raw_get("/Annots") if "/Annots" in page else None
    if isinstance(raw, generic.IndirectObject):
        raw.get_object().append(annot_ref)
        writer.mark_update(raw)
    else:
        page["/Annots"] = generic.ArrayObject([*(raw or []), annot_ref])
        writer.update_container(page)

    out = BytesIO()
    writer.write(out)
    result = out.getvalue()
    if not result.startswith(data):  # IncrementalPdfFileWriter copies its input first; make sure
        raise StampError("the stamped PDF does not begin with the original bytes")
    return result


def _float(value: float) -> generic.FloatObject:
    from pyhanko.pdf_utils import generic

    return generic.FloatObject(round(value, 3))

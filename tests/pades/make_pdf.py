#!/usr/bin/env python3
"""Write a deterministic test PDF with the standard library only.

The same arguments always give the same bytes (no dates, a fixed /ID), so
signatures over these files can be compared across runs.

    make_pdf.py OUT [--pages N] [--xref-stream] [--size-mb M]

--pages N      N pages, each with a few lines of French text (accents,
               em dash) in Helvetica with WinAnsiEncoding.
--xref-stream  PDF 1.5: the non-stream objects go into an object stream and
               the cross-reference table is a cross-reference stream.
--size-mb M    add an uncompressed grey-scale image XObject so that the file
               is at least M MiB (for the large-input refusal cases).
"""

import argparse
import hashlib
import struct
import sys
import zlib

DOCUMENT_LINES = [
    "Ordonnance \u2014 Dr Claire Martin, m\u00e9decin",
    "RPPS 10001234567 \u2014 Centre de sant\u00e9 de Besan\u00e7on",
    "Patient : \u00c9lodie Lef\u00e8vre, n\u00e9e le 12/03/1985",
    "Parac\u00e9tamol 1 g \u2014 3 fois par jour pendant 5 jours",
    "Renouvellement : non. \u00c0 d\u00e9livrer en pharmacie d'officine.",
    "Fait \u00e0 Besan\u00e7on, le 7 d\u00e9cembre 2026",
]

PAGE_WIDTH = 595
PAGE_HEIGHT = 842
MIB = 1024 * 1024


def pdf_string(text: str) -> bytes:
    """A literal string in WinAnsiEncoding (cp1252 matches it for these glyphs)."""
    raw = text.encode("cp1252")
    escaped = raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped + b")"


def page_content(page_number: int, page_count: int, draw_image: bool) -> bytes:
    lines = DOCUMENT_LINES + [f"Page {page_number} / {page_count}"]
    ops = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 770 Td"]
    for line in lines:
        ops.append(pdf_string(line) + b" Tj T*")
    ops.append(b"ET")
    if draw_image:
        ops.append(b"q 100 0 0 100 72 500 cm /Im1 Do Q")
    return b"\n".join(ops) + b"\n"


def image_samples(size: int) -> bytes:
    """Deterministic, incompressible-looking grey samples (a SHA-256 keystream)."""
    block = b"".join(hashlib.sha256(struct.pack(">I", i)).digest() for i in range(2048))
    repeats, rest = divmod(size, len(block))
    return block * repeats + block[:rest]


class PdfBuilder:
    """Collects numbered objects; streams are kept apart from plain objects."""

    def __init__(self):
        self.objects = {}  # number -> (dict bytes, stream bytes or None)
        self.next_number = 1

    def reserve(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number

    def put(self, number: int, body: bytes, stream: bytes | None = None):
        self.objects[number] = (body, stream)

    def add(self, body: bytes, stream: bytes | None = None) -> int:
        number = self.reserve()
        self.put(number, body, stream)
        return number


def stream_object(number: int, dictionary: bytes, data: bytes) -> bytes:
    assert dictionary.endswith(b">>")
    full = dictionary[:-2] + b" /Length " + str(len(data)).encode() + b" >>"
    return f"{number} 0 obj\n".encode() + full + b"\nstream\n" + data + b"\nendstream\nendobj\n"


def plain_object(number: int, body: bytes) -> bytes:
    return f"{number} 0 obj\n".encode() + body + b"\nendobj\n"


def build(pages: int, xref_stream: bool, size_mb: int) -> bytes:
    builder = PdfBuilder()
    catalog = builder.reserve()
    pages_root = builder.reserve()
    font = builder.add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    image = None
    if size_mb > 0:
        side = 1024
        rows = max(1, (size_mb * MIB + side - 1) // side)
        samples = image_samples(side * rows)
        image = builder.add(
            f"<< /Type /XObject /Subtype /Image /Width {side} /Height {rows} "
            f"/ColorSpace /DeviceGray /BitsPerComponent 8 >>".encode(),
            samples,
        )
    kids = []
    for page_number in range(1, pages + 1):
        draw_image = image is not None and page_number == 1
        content = builder.add(
            b"<< /Filter /FlateDecode >>",
            zlib.compress(page_content(page_number, pages, draw_image), 9),
        )
        resources = f"/Font << /F1 {font} 0 R >>"
        if draw_image:
            resources += f" /XObject << /Im1 {image} 0 R >>"
        page = builder.add(
            f"<< /Type /Page /Parent {pages_root} 0 R "
            f"/MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << {resources} >> /Contents {content} 0 R >>".encode()
        )
        kids.append(page)
    kid_refs = " ".join(f"{k} 0 R" for k in kids)
    builder.put(pages_root, f"<< /Type /Pages /Kids [{kid_refs}] /Count {len(kids)} >>".encode())
    builder.put(catalog, f"<< /Type /Catalog /Pages {pages_root} 0 R >>".encode())
    info = builder.add(
        pdf_string_dict(
            {
                "Title": "Ordonnance de test",
                "Author": "Dr Claire Martin",
                "Producer": "igc tests/pades make_pdf.py",
            }
        )
    )
    file_id = hashlib.sha256(f"{pages}/{xref_stream}/{size_mb}".encode()).hexdigest()[:32]
    if xref_stream:
        return serialise_with_xref_stream(builder, catalog, info, file_id)
    return serialise_classic(builder, catalog, info, file_id)


def pdf_string_dict(entries: dict) -> bytes:
    return (
        b"<< "
        + b" ".join(b"/" + k.encode() + b" " + pdf_string(v) for k, v in entries.items())
        + b" >>"
    )


HEADER_14 = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
HEADER_15 = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"


def serialise_classic(builder: PdfBuilder, catalog: int, info: int, file_id: str) -> bytes:
    out = bytearray(HEADER_14)
    offsets = {}
    for number in sorted(builder.objects):
        body, stream = builder.objects[number]
        offsets[number] = len(out)
        out += (
            stream_object(number, body, stream)
            if stream is not None
            else plain_object(number, body)
        )
    size = builder.next_number
    xref_offset = len(out)
    out += f"xref\n0 {size}\n".encode()
    out += b"0000000000 65535 f \n"
    for number in range(1, size):
        out += f"{offsets[number]:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {size} /Root {catalog} 0 R /Info {info} 0 R "
        f"/ID [<{file_id}> <{file_id}>] >>\nstartxref\n{xref_offset}\n%%EOF\n"
    ).encode()
    return bytes(out)


def serialise_with_xref_stream(builder: PdfBuilder, catalog: int, info: int, file_id: str) -> bytes:
    object_stream = builder.reserve()
    xref_number = builder.reserve()
    compressed = [n for n in sorted(builder.objects) if builder.objects[n][1] is None]
    # Object stream body: "num offset" pairs, then the objects themselves.
    bodies = bytearray()
    pairs = []
    for number in compressed:
        pairs.append(f"{number} {len(bodies)}")
        bodies += builder.objects[number][0] + b"\n"
    index = (" ".join(pairs) + "\n").encode()
    builder.put(
        object_stream,
        f"<< /Type /ObjStm /N {len(compressed)} /First {len(index)} "
        f"/Filter /FlateDecode >>".encode(),
        zlib.compress(index + bytes(bodies), 9),
    )

    out = bytearray(HEADER_15)
    entries = {0: (0, 0, 65535)}
    for position, number in enumerate(compressed):
        entries[number] = (2, object_stream, position)
    for number in sorted(builder.objects):
        body, stream = builder.objects[number]
        if stream is None:
            continue
        entries[number] = (1, len(out), 0)
        out += stream_object(number, body, stream)
    size = xref_number + 1
    entries[xref_number] = (1, len(out), 0)
    rows = b"".join(struct.pack(">BIH", *entries[n]) for n in range(size))
    xref_dict = (
        f"<< /Type /XRef /Size {size} /W [1 4 2] /Index [0 {size}] "
        f"/Root {catalog} 0 R /Info {info} 0 R /ID [<{file_id}> <{file_id}>] "
        f"/Filter /FlateDecode >>"
    ).encode()
    xref_offset = entries[xref_number][1]
    out += stream_object(xref_number, xref_dict, zlib.compress(rows, 9))
    out += f"startxref\n{xref_offset}\n%%EOF\n".encode()
    return bytes(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output PDF path")
    parser.add_argument("--pages", type=int, default=1)
    parser.add_argument("--xref-stream", action="store_true")
    parser.add_argument("--size-mb", type=int, default=0)
    args = parser.parse_args()
    if args.pages < 1 or args.size_mb < 0:
        parser.error("--pages must be at least 1 and --size-mb not negative")
    data = build(args.pages, args.xref_stream, args.size_mb)
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"{args.out}: {len(data)} bytes, {args.pages} page(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

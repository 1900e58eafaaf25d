#!/usr/bin/env python3
"""Make a damaged copy of a signed PDF, for the negative cases of selftest.sh.

selftest_tamper.py IN OUT --flip            change one letter of the
                                            signed /Author string in place
selftest_tamper.py IN OUT --update-content  append an incremental update
                                            that replaces page 1's content
"""

import argparse
import sys


def flip(data: bytes) -> bytes:
    needle = b"Dr Claire Martin"
    position = data.find(needle)
    if position < 0:
        raise SystemExit("the signed /Author string is not in the file")
    return data[:position] + b"Dr Claire Mertin" + data[position + len(needle) :]


def update_content(path: str) -> bytes:
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    with open(path, "rb") as f:
        writer = IncrementalPdfFileWriter(io.BytesIO(f.read()))
    page_ref = writer.root["/Pages"].raw_get("/Kids")[0]
    page = page_ref.get_object()
    forged = generic.StreamObject(
        stream_data=b"BT /F1 12 Tf 72 770 Td (Ordonnance falsifiee) Tj ET\n"
    )
    page["/Contents"] = writer.add_object(forged)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--flip", action="store_true")
    mode.add_argument("--update-content", action="store_true")
    args = parser.parse_args()
    if args.flip:
        with open(args.input, "rb") as f:
            result = flip(f.read())
    else:
        result = update_content(args.input)
    with open(args.output, "wb") as f:
        f.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

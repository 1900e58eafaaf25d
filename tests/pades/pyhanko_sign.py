#!/usr/bin/env python3
"""Sign a PDF with pyHanko at PAdES baseline B-B, B-T, B-LT or B-LTA.

    pyhanko_sign.py IN OUT --key KEY.pem --cert CERT.pem [--chain CHAIN.pem ...]
                    --level B-B|B-T|B-LT|B-LTA [--tsa URL] [--root ROOT.pem]
                    [--ocsp RESP.der ...] [--crl CRL.der ...] [--no-fetch]
                    [--field NAME] [--reason TEXT] [--location TEXT]

B-T and above need --tsa (RFC 3161 over HTTP). B-LT and B-LTA need --root:
pyHanko validates the signer's and the TSA's paths to that root (the only
trust anchor), requiring revocation information for every certificate below
it, and embeds what it used in the DSS. Revocation information is fetched
from the certificates' AIA OCSP / CRL distribution points unless --no-fetch;
--ocsp/--crl supply responses directly. B-LTA adds a document time-stamp
after the DSS.

Prints {"out": OUT, "level": LEVEL, ...} as JSON on success (exit 0);
on failure prints {"error": ...} and exits 1 (2 for usage errors).
"""

import argparse
import importlib.metadata
import io
import json
import sys
import traceback

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Sign a PDF with pyHanko (PAdES baseline).")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--key", required=True, help="PEM (or DER) private key")
    parser.add_argument("--key-passphrase-file", help="file holding the key's passphrase")
    parser.add_argument("--cert", required=True, help="signer certificate, PEM or DER")
    parser.add_argument(
        "--chain",
        action="append",
        default=[],
        help="issuing CA certificate(s), PEM or DER; repeatable",
    )
    parser.add_argument("--level", required=True, choices=LEVELS)
    parser.add_argument("--tsa", help="RFC 3161 time-stamping URL (B-T and above)")
    parser.add_argument("--root", help="trust anchor, PEM or DER (B-LT and above)")
    parser.add_argument("--ocsp", action="append", default=[], help="DER OCSP response to embed")
    parser.add_argument("--crl", action="append", default=[], help="DER CRL to embed")
    parser.add_argument(
        "--no-fetch",
        action="store_true",
        help="do not fetch revocation information (use --ocsp/--crl only)",
    )
    parser.add_argument("--field", default="Signature1", help="signature field name")
    parser.add_argument(
        "--timestamp-field", default=None, help="field name of the B-LTA document time-stamp"
    )
    parser.add_argument("--reason", default=None)
    parser.add_argument("--location", default=None)
    parser.add_argument("--digest", default="sha256", choices=("sha256", "sha384", "sha512"))
    args = parser.parse_args(argv)
    if args.level != "B-B" and not args.tsa:
        parser.error(f"--level {args.level} needs --tsa")
    if args.level in ("B-LT", "B-LTA") and not args.root:
        parser.error(f"--level {args.level} needs --root")
    return args


def load_certificates(paths):
    from pyhanko.keys import load_certs_from_pemder

    return list(load_certs_from_pemder(paths))


def read_der_files(paths):
    result = []
    for path in paths:
        with open(path, "rb") as f:
            result.append(f.read())
    return result


def sign(args) -> dict:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko_certvalidator import ValidationContext

    passphrase = None
    if args.key_passphrase_file:
        with open(args.key_passphrase_file, "rb") as f:
            passphrase = f.read().rstrip(b"\r\n")
    signer = signers.SimpleSigner.load(
        args.key, args.cert, ca_chain_files=args.chain or None, key_passphrase=passphrase
    )
    if signer is None:
        raise RuntimeError("could not load the key or certificate (see pyHanko's log)")

    long_term = args.level in ("B-LT", "B-LTA")
    validation_context = None
    if long_term:
        # "require": every certificate under the root must have revocation
        # information, so a B-LT that silently lacks some cannot come out.
        validation_context = ValidationContext(
            trust_roots=load_certificates([args.root]),
            other_certs=load_certificates(args.chain),
            allow_fetching=not args.no_fetch,
            ocsps=read_der_files(args.ocsp),
            crls=read_der_files(args.crl),
            revocation_mode="require",
        )
    timestamper = HTTPTimeStamper(args.tsa) if args.level != "B-B" else None

    metadata = signers.PdfSignatureMetadata(
        field_name=args.field,
        reason=args.reason,
        location=args.location,
        md_algorithm=args.digest,
        subfilter=SigSeedSubFilter.PADES,
        embed_validation_info=long_term,
        use_pades_lta=args.level == "B-LTA",
        timestamp_field_name=args.timestamp_field,
        validation_context=validation_context,
    )
    pdf_signer = signers.PdfSigner(metadata, signer=signer, timestamper=timestamper)
    with open(args.input, "rb") as inf:
        writer = IncrementalPdfFileWriter(io.BytesIO(inf.read()))
    # Signed in memory so that a failure leaves no partial output behind.
    signed = io.BytesIO()
    pdf_signer.sign_pdf(writer, output=signed)
    with open(args.output, "wb") as outf:
        outf.write(signed.getvalue())
    return {
        "out": args.output,
        "level": args.level,
        "field": args.field,
        "pyhanko": importlib.metadata.version("pyhanko"),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = sign(args)
    except Exception as error:  # noqa: BLE001 - report any pyHanko failure as JSON
        report = {"error": f"{type(error).__name__}: {error}", "level": args.level}
        if error.__cause__ is not None:
            report["cause"] = f"{type(error.__cause__).__name__}: {error.__cause__}"
        print(json.dumps(report, ensure_ascii=False))
        traceback.print_exc(file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Throwaway TSA + OCSP + CRL/CA-certificate server for selftest.sh only.

    selftest_server.py PKI_DIR PORT [--max-requests N]

Listens on 127.0.0.1:PORT and serves, from the files selftest_pki.py wrote:
  POST /tsa      RFC 3161 request -> `openssl ts -reply` with PKI_DIR/tsa.cnf
  POST /ocsp     RFC 6960 request -> response signed by the OCSP responder
                 certificate (status from PKI_DIR/revoked.json), nonce echoed
  GET  /crl/X    PKI_DIR/X (root.crl, sub.crl)
  GET  /ca/X     PKI_DIR/X (root.cer, sub.cer)
Stops after --max-requests requests so a forgotten server cannot run forever.
"""

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

MAX_BODY = 64 * 1024


def issuer_name_hash(issuer: x509.Certificate, algorithm) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(issuer.subject.public_bytes())
    return digest.finalize()


class Handler(BaseHTTPRequestHandler):
    pki: Path

    def log_message(self, fmt, *args):
        sys.stderr.write("selftest_server: " + (fmt % args) + "\n")

    def reply(self, status: int, content_type: str, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        allowed = {("crl", "root.crl"), ("crl", "sub.crl"), ("ca", "root.cer"), ("ca", "sub.cer")}
        if len(parts) != 2 or tuple(parts) not in allowed:
            self.reply(404, "text/plain", b"not found\n")
            return
        content_type = "application/pkix-crl" if parts[0] == "crl" else "application/pkix-cert"
        self.reply(200, content_type, (self.pki / parts[1]).read_bytes())

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length <= 0 or length > MAX_BODY:
            self.reply(400, "text/plain", b"bad length\n")
            return
        body = self.rfile.read(length)
        if self.path == "/tsa":
            self.reply(200, "application/timestamp-reply", self.timestamp(body))
        elif self.path == "/ocsp":
            self.reply(200, "application/ocsp-response", self.ocsp(body))
        else:
            self.reply(404, "text/plain", b"not found\n")

    def timestamp(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            query_path = Path(tmp) / "q.tsq"
            reply_path = Path(tmp) / "r.tsr"
            query_path.write_bytes(query)
            subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(self.pki / "tsa.cnf"),
                    "-queryfile",
                    str(query_path),
                    "-out",
                    str(reply_path),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            return reply_path.read_bytes()

    def ocsp(self, der: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(der)
        issuer = x509.load_pem_x509_certificate((self.pki / "sub.pem").read_bytes())
        responder = x509.load_pem_x509_certificate((self.pki / "ocsp.pem").read_bytes())
        responder_key = serialization.load_pem_private_key(
            (self.pki / "ocsp.key").read_bytes(), None
        )
        revoked = set(json.loads((self.pki / "revoked.json").read_text()))
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        status = (
            ocsp.OCSPCertStatus.REVOKED
            if request.serial_number in revoked
            else ocsp.OCSPCertStatus.GOOD
        )
        if request.issuer_name_hash != issuer_name_hash(issuer, request.hash_algorithm):
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        # The request's own hashes name the certificate; no copy of it is needed.
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + datetime.timedelta(hours=1),
            revocation_time=now - datetime.timedelta(minutes=30)
            if status == ocsp.OCSPCertStatus.REVOKED
            else None,
            revocation_reason=None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder).certificates(
            [responder]
        )
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                builder = builder.add_extension(extension.value, False)
        return builder.sign(responder_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("pki")
    parser.add_argument("port", type=int)
    parser.add_argument("--max-requests", type=int, default=5000)
    args = parser.parse_args()
    Handler.pki = Path(args.pki)
    server = HTTPServer(("127.0.0.1", args.port), Handler)
    for _ in range(args.max_requests):
        server.handle_request()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

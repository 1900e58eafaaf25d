#!/usr/bin/env python3
"""Throwaway PKI for selftest.sh: lets the pyHanko scripts be tested without
the Rust CA. Mirrors the project's profiles (DESIGN.md §4) closely enough:

    root (pathLen 1) -> issuing CA (pathLen 0, CDP to the root's ARL)
        -> signer (nonRepudiation only, CDP + AIA OCSP/caIssuers)
        -> revoked signer (same profile, listed as revoked)
        -> TSA unit (timeStamping critical and sole EKU)
        -> OCSP responder (OCSPSigning, ocsp-nocheck)

    selftest_pki.py DIR BASE_URL     (BASE_URL like http://127.0.0.1:PORT)

All keys are ECDSA P-256, written unencrypted (test material only).
"""

import datetime
import json
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EXAMPLE_POLICY_ARC = "1.3.6.1.4.1.55555.1.7"


def name(common_name: str, organisation: str = "IGC Test") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def key_usage(**flags) -> x509.KeyUsage:
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ]
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


def issue(subject, subject_key, issuer_cert, issuer_key, now, days, extensions):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),
            False,
        )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(issuer_key, hashes.SHA256())


def end_entity_extensions(base_url: str):
    return [
        (
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(f"{base_url}/crl/sub.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            False,
        ),
        (
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(f"{base_url}/ocsp"),
                    ),
                    x509.AccessDescription(
                        x509.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(f"{base_url}/ca/sub.cer"),
                    ),
                ]
            ),
            False,
        ),
    ]


def write_pem(path: Path, *certs):
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))


def write_key(path: Path, key):
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_crl(issuer_cert, issuer_key, revoked_serials, now, number):
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(now - datetime.timedelta(minutes=5))
        .next_update(now + datetime.timedelta(days=7))
        .add_extension(x509.CRLNumber(number), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),
            False,
        )
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - datetime.timedelta(minutes=30))
            .build()
        )
    return builder.sign(issuer_key, hashes.SHA256())


def main() -> int:
    out = Path(sys.argv[1])
    base_url = sys.argv[2].rstrip("/")
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    keys = {
        n: ec.generate_private_key(ec.SECP256R1())
        for n in ("root", "sub", "signer", "revoked", "tsa", "ocsp", "other_root")
    }

    root = issue(
        name("IGC Test Root"),
        keys["root"],
        None,
        keys["root"],
        now,
        3650,
        [
            (x509.BasicConstraints(ca=True, path_length=1), True),
            (key_usage(key_cert_sign=True, crl_sign=True), True),
        ],
    )
    sub = issue(
        name("IGC Test Issuing CA"),
        keys["sub"],
        root,
        keys["root"],
        now,
        1825,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (key_usage(key_cert_sign=True, crl_sign=True), True),
            (
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(f"{base_url}/crl/root.crl")],
                            None,
                            None,
                            None,
                        )
                    ]
                ),
                False,
            ),
        ],
    )
    policies = (
        x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier(EXAMPLE_POLICY_ARC), None)]
        ),
        False,
    )
    signer_profile = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage(content_commitment=True), True),
        policies,
    ] + end_entity_extensions(base_url)
    signer = issue(
        name("Claire Martin", "Centre de sant\u00e9 de Besan\u00e7on"),
        keys["signer"],
        sub,
        keys["sub"],
        now,
        1095,
        signer_profile,
    )
    revoked = issue(
        name("Paul Revoque"), keys["revoked"], sub, keys["sub"], now, 1095, signer_profile
    )
    tsa = issue(
        name("IGC Test TSA unit 1"),
        keys["tsa"],
        sub,
        keys["sub"],
        now,
        1095,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage(digital_signature=True, content_commitment=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
        ]
        + end_entity_extensions(base_url),
    )
    ocsp_signer = issue(
        name("IGC Test OCSP responder"),
        keys["ocsp"],
        sub,
        keys["sub"],
        now,
        30,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage(digital_signature=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
            (x509.OCSPNoCheck(), False),
        ],
    )
    # A root nobody trusts, for the negative trust test.
    other_root = issue(
        name("Some Other Root"),
        keys["other_root"],
        None,
        keys["other_root"],
        now,
        3650,
        [
            (x509.BasicConstraints(ca=True, path_length=1), True),
            (key_usage(key_cert_sign=True, crl_sign=True), True),
        ],
    )

    for label, cert in (
        ("root", root),
        ("sub", sub),
        ("signer", signer),
        ("revoked", revoked),
        ("tsa", tsa),
        ("ocsp", ocsp_signer),
        ("other_root", other_root),
    ):
        write_pem(out / f"{label}.pem", cert)
    for label in ("signer", "revoked", "tsa", "ocsp", "sub"):
        write_key(out / f"{label}.key", keys[label])
    (out / "root.cer").write_bytes(root.public_bytes(serialization.Encoding.DER))
    (out / "sub.cer").write_bytes(sub.public_bytes(serialization.Encoding.DER))
    write_pem(out / "chain.pem", sub)
    (out / "root.crl").write_bytes(
        make_crl(root, keys["root"], [], now, 1).public_bytes(serialization.Encoding.DER)
    )
    (out / "sub.crl").write_bytes(
        make_crl(sub, keys["sub"], [revoked.serial_number], now, 1).public_bytes(
            serialization.Encoding.DER
        )
    )
    (out / "revoked.json").write_text(json.dumps([revoked.serial_number]))
    (out / "tsaserial").write_text("01\n")
    (out / "tsa.cnf").write_text(
        f"""[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {out}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/chain.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {EXAMPLE_POLICY_ARC}.9
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
    )
    print(json.dumps({"dir": str(out), "base_url": base_url}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

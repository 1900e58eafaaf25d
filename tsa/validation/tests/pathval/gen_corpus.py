#!/usr/bin/env python3
"""Generates the RFC 5280 path-validation corpus under corpus/ and corpus/manifest.json.

Deterministic: keys are derived from labels, serial numbers from the case and label,
ECDSA signatures are deterministic (RFC 6979) and RSA PKCS#1 v1.5 is deterministic, so a
regeneration with the same `cryptography` gives identical files.

Where the `cryptography` builder cannot express a case (duplicate extensions, a v1
certificate, a broken signature, a signature algorithm mismatch, extensions whose DER is
malformed on purpose), the certificate is first built normally and then its TBS is
rewritten with the small DER helpers below and signed again with the issuer's key; each
such case says so in its builder.

Usage: python gen_corpus.py [--out DIR]   (default: corpus/ beside this file)
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import ipaddress
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID, ObjectIdentifier

UTC = dt.timezone.utc
NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = dt.datetime(2036, 1, 1, tzinfo=UTC)
AT = dt.datetime(2030, 6, 1, tzinfo=UTC)
PAST_NB = dt.datetime(2020, 1, 1, tzinfo=UTC)
PAST_NA = dt.datetime(2025, 1, 1, tzinfo=UTC)
FUTURE_NB = dt.datetime(2031, 1, 1, tzinfo=UTC)
FUTURE_NA = dt.datetime(2040, 1, 1, tzinfo=UTC)

ANY_POLICY = "2.5.29.32.0"
# The NIST PKITS test policy arc, so that the policies read as test values.
P1 = "2.16.840.1.101.3.2.1.48.1"
P2 = "2.16.840.1.101.3.2.1.48.2"
P3 = "2.16.840.1.101.3.2.1.48.3"
UNKNOWN_EXT = "1.3.6.1.4.1.55555.7.1"
UPN = "1.3.6.1.4.1.311.20.2.3"
OTHER_NAME_TYPE_2 = "1.3.6.1.4.1.55555.8.2"

OID_SAN = "2.5.29.17"
OID_NC = "2.5.29.30"
OID_BC = "2.5.29.19"
OID_KU = "2.5.29.15"
OID_POLICY_MAPPINGS = "2.5.29.33"

ECDSA_SHA384_ALGID = bytes.fromhex("300a06082a8648ce3d040303")

# ---------------------------------------------------------------------------
# DER helpers (only what the hand-made encodings need)


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + der_len(len(value)) + value


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def der_int(v: int) -> bytes:
    body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, body)


def der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def der_split(data: bytes) -> list[bytes]:
    """Splits concatenated TLVs into whole TLVs (definite lengths only)."""
    out, i = [], 0
    while i < len(data):
        start = i
        i += 1
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        else:
            n = first & 0x7F
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        i += length
        out.append(data[start:i])
    return out


def der_content(element: bytes) -> bytes:
    first = element[1]
    header = 2 if first < 0x80 else 2 + (first & 0x7F)
    return element[header:]


# ---------------------------------------------------------------------------
# Keys


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def ec_key(label: str) -> ec.EllipticCurvePrivateKey:
    digest = hashlib.sha256(b"pathval-corpus/ec/" + label.encode()).digest()
    scalar = int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _probable_prime(rng: random.Random, bits: int) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if _miller_rabin(candidate, rng):
            return candidate


def _miller_rabin(n: int, rng: random.Random, rounds: int = 40) -> bool:
    for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def rsa_key(label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key derived from the label (cryptography cannot seed its own generator)."""
    rng = random.Random(hashlib.sha256(b"pathval-corpus/rsa/" + label.encode()).digest())
    e = 65537
    while True:
        p = _probable_prime(rng, bits // 2)
        q = _probable_prime(rng, bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e and (p * q).bit_length() == bits:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=d % (p - 1),
        dmq1=d % (q - 1),
        iqmp=pow(q, -1, p),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


def sign_bytes(key, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# ---------------------------------------------------------------------------
# Names and certificates


def dn(cn: str | None, o: str | None = "Pathval Corpus", c: str | None = "FR", email: str | None = None) -> x509.Name:
    attrs = []
    if c:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, c))
    if o:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


@dataclass
class Party:
    """A name and a key: what a certificate's subject or issuer needs."""

    name: x509.Name
    key: object


def party(cn: str, key_label: str | None = None, **name_kw) -> Party:
    return Party(dn(cn, **name_kw), ec_key(key_label or cn))


KU_CA = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
KU_EE = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
KU_CA_NO_CERTSIGN = x509.KeyUsage(True, False, False, False, False, False, True, False, False)


def policy_mappings_der(pairs: list[tuple[str, str]]) -> bytes:
    return seq(*(seq(der_oid(a), der_oid(b)) for a, b in pairs))


def build(
    subject: Party,
    issuer: Party,
    serial_seed: str,
    *,
    ca: bool | None = False,
    pathlen: int | None = None,
    bc_critical: bool = True,
    ku: x509.KeyUsage | None | str = "default",
    nb: dt.datetime = NOT_BEFORE,
    na: dt.datetime = NOT_AFTER,
    san: list | None = None,
    san_critical: bool = False,
    nc: tuple[list | None, list | None] | None = None,
    nc_critical: bool = True,
    policies: list[str] | None = None,
    mappings: list[tuple[str, str]] | None = None,
    policy_constraints: tuple[int | None, int | None] | None = None,
    pc_critical: bool = True,
    inhibit_any: int | None = None,
    raw: list[tuple[str, bool, bytes]] = (),
    ski: bool = True,
    aki: bool = True,
    issuer_name: x509.Name | None = None,
    ski_of: Party | None = None,
    aki_of: Party | None = None,
) -> bytes:
    """Builds and signs a certificate with cryptography's builder; returns DER.

    `ca=None` leaves basicConstraints out; `ku=None` leaves keyUsage out. `ski_of` and
    `aki_of` take the key identifiers from another party's key (decoys and forgeries).
    """
    serial = int.from_bytes(hashlib.sha256(serial_seed.encode()).digest()[:16], "big") >> 1 | 1
    b = (
        x509.CertificateBuilder()
        .subject_name(subject.name)
        .issuer_name(issuer_name if issuer_name is not None else issuer.name)
        .public_key(subject.key.public_key())
        .serial_number(serial)
        .not_valid_before(nb)
        .not_valid_after(na)
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca, pathlen), bc_critical)
    if ku == "default":
        ku = KU_CA if ca else KU_EE
    if ku is not None:
        b = b.add_extension(ku, True)
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key((ski_of or subject).key.public_key()), False)
    if aki:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key((aki_of or issuer).key.public_key()), False
        )
    if san is not None:
        b = b.add_extension(x509.SubjectAlternativeName(san), san_critical)
    if nc is not None:
        b = b.add_extension(x509.NameConstraints(nc[0], nc[1]), nc_critical)
    if policies is not None:
        b = b.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(p), None) for p in policies]),
            False,
        )
    if mappings is not None:
        # cryptography has no policyMappings class: the extension is encoded here.
        b = b.add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier(OID_POLICY_MAPPINGS), policy_mappings_der(mappings)),
            True,
        )
    if policy_constraints is not None:
        b = b.add_extension(x509.PolicyConstraints(*policy_constraints), pc_critical)
    if inhibit_any is not None:
        b = b.add_extension(x509.InhibitAnyPolicy(inhibit_any), True)
    for oid, critical, value in raw:
        b = b.add_extension(x509.UnrecognizedExtension(ObjectIdentifier(oid), value), critical)
    if isinstance(issuer.key, ec.EllipticCurvePrivateKey):
        cert = b.sign(issuer.key, hashes.SHA256(), ecdsa_deterministic=True)
    else:
        cert = b.sign(issuer.key, hashes.SHA256())
    return cert.public_bytes(Encoding.DER)


def cert_parts(cert_der: bytes) -> tuple[bytes, bytes, bytes]:
    """(tbs, signatureAlgorithm, signatureValue) as whole TLVs."""
    tbs, alg, sig = der_split(der_content(cert_der))
    return tbs, alg, sig


def resign(cert_der: bytes, new_tbs: bytes, issuer_key, alg: bytes | None = None) -> bytes:
    """Signs a rewritten TBS with the issuer key and reassembles the certificate."""
    _, old_alg, _ = cert_parts(cert_der)
    signature = sign_bytes(issuer_key, new_tbs)
    return seq(new_tbs, alg or old_alg, tlv(0x03, b"\x00" + signature))


def rewrite_extensions(cert_der: bytes, issuer_key, fn) -> bytes:
    """Applies fn(list of Extension TLVs) -> list, then signs the TBS again."""
    tbs, _, _ = cert_parts(cert_der)
    fields = der_split(der_content(tbs))
    idx = next(i for i, f in enumerate(fields) if f[0] == 0xA3)
    extensions = der_split(der_content(der_content(fields[idx])))
    fields[idx] = tlv(0xA3, seq(*fn(extensions)))
    return resign(cert_der, seq(*fields), issuer_key)


def ext_oid(extension: bytes) -> bytes:
    return der_split(der_content(extension))[0]


def duplicate_extension(cert_der: bytes, issuer_key, oid: str, replacement: bytes | None = None, first: bool = False) -> bytes:
    """Repeats the extension `oid` (the builder refuses a second instance).

    With `replacement`, the copy is that whole Extension TLV instead of an exact copy; with
    `first`, the copy goes before the original."""

    def fn(exts):
        at = next(i for i, e in enumerate(exts) if ext_oid(e) == der_oid(oid))
        copy = replacement or exts[at]
        return exts[:at] + [copy] + exts[at:] if first else exts + [copy]

    return rewrite_extensions(cert_der, issuer_key, fn)


def to_v1(cert_der: bytes, issuer_key) -> bytes:
    """Drops the version field (v1 is the DEFAULT) and the extensions."""
    tbs, _, _ = cert_parts(cert_der)
    fields = [f for f in der_split(der_content(tbs)) if f[0] not in (0xA0, 0xA3)]
    return resign(cert_der, seq(*fields), issuer_key)


def break_signature(cert_der: bytes) -> bytes:
    """Flips a bit in the last octet of the signature value (still well-formed DER)."""
    tbs, alg, sig = cert_parts(cert_der)
    body = bytearray(der_content(sig))
    body[-1] ^= 0x01
    return seq(tbs, alg, tlv(0x03, bytes(body)))


def extension(oid: str, critical: bool, value: bytes) -> bytes:
    """A whole Extension TLV (critical is DEFAULT FALSE, so it is only encoded when TRUE)."""
    critical_field = tlv(0x01, b"\xff") if critical else b""
    return seq(der_oid(oid), critical_field, tlv(0x04, value))


# ---------------------------------------------------------------------------
# Corpus bookkeeping


def pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Corpus:
    def __init__(self, out: Path):
        self.out = out
        self.cases: list[dict] = []
        self.bullet = ""
        self.section_default = ""

    def write(self, case_id: str, label: str, der: bytes) -> str:
        folder = self.out / case_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{label}.pem").write_text(pem(der))
        return f"{case_id}/{label}.pem"

    def add(
        self,
        case_id: str,
        section: str,
        why: str,
        expected: str,
        certs: dict[str, bytes],
        ee: str,
        anchors: list[str],
        untrusted: list[str],
        *,
        sub: str | None = None,
        at: dt.datetime = AT,
        policy: dict | None = None,
        basis: str | None = None,
    ):
        assert expected in ("valid", "invalid")
        assert basis in BASES, basis
        assert all(c["id"] != case_id for c in self.cases), case_id
        paths = {label: self.write(case_id, label, der) for label, der in certs.items()}
        entry = {
            "id": case_id,
            "bullet": self.bullet,
            "section": section,
            "why": why,
            "expected": expected,
        }
        if sub:
            entry["expected_sub_indication"] = sub
        entry.update(
            {
                "ee": paths[ee],
                "anchors": [paths[a] for a in anchors],
                "untrusted": [paths[u] for u in untrusted],
                "at": rfc3339(at),
            }
        )
        if policy:
            entry["policy"] = policy
        if basis:
            entry["basis"] = basis
        self.cases.append(entry)


# Why a verdict holds, when it is not plain §6.1 (see README.md).
PROFILE_REFUSED = "profile-refused"
PROFILE_TOLERATED = "profile-tolerated"
ANCHOR = "anchor"
BASES = (None, PROFILE_REFUSED, PROFILE_TOLERATED, ANCHOR)

CCF = "CHAIN_CONSTRAINTS_FAILURE"
NCF = "NO_CERTIFICATE_CHAIN_FOUND"
CGF = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
# A certificate validated at a time the caller gives takes that time as established (the
# validator's certificate validation, like a signature with a proof of existence): a
# certificate of the path expired before it is TOTAL_FAILED/EXPIRED (EN 319 102-1 §5.2.6),
# not INDETERMINATE/OUT_OF_BOUNDS_NO_POE, which is for a signature without such proof.
OOB = "EXPIRED"
NYV = "NOT_YET_VALID"


def self_signed(p: Party, seed: str, **kw) -> bytes:
    kw.setdefault("ca", True)
    return build(p, p, seed, **kw)


def chain3(cid: str, *, root_kw=None, int_kw=None, ee_kw=None, root=None, inter=None, ee=None):
    """Root -> Intermediate -> EE with per-certificate options; returns (certs, parties)."""
    root = root or party("Root CA")
    inter = inter or party("Intermediate CA")
    ee = ee or party("End Entity")
    certs = {
        "root": self_signed(root, cid + "/root", **(root_kw or {})),
        "int": build(inter, root, cid + "/int", **{"ca": True, **(int_kw or {})}),
        "ee": build(ee, inter, cid + "/ee", **(ee_kw or {})),
    }
    return certs, (root, inter, ee)


def add3(corpus: Corpus, cid, section, why, expected, certs, *, sub=None, at=AT, policy=None, untrusted=("int",), basis=None):
    corpus.add(cid, section, why, expected, certs, "ee", ["root"], list(untrusted), sub=sub, at=at, policy=policy, basis=basis)


def dns(*names):
    return [x509.DNSName(n) for n in names]


def ip(addr):
    return x509.IPAddress(ipaddress.ip_address(addr))


def net(cidr):
    return x509.IPAddress(ipaddress.ip_network(cidr))


def dirname(name: x509.Name):
    return x509.DirectoryName(name)


# ---------------------------------------------------------------------------
# Bullet 1: name constraints

NC_SEC = "RFC 5280 §4.2.1.10, §6.1.3(b)(c), §6.1.4(g)"


def nc_case(corpus, cid, why, expected, *, permitted=None, excluded=None, ee_san=None, ee_name=None,
            section=NC_SEC, sub=None, nc_critical=True, int_party=None, ee_kw=None, basis=None):
    ee_kw = dict(ee_kw or {})
    if ee_san is not None:
        ee_kw["san"] = ee_san
    certs, _ = chain3(
        cid,
        int_kw={"nc": (permitted, excluded), "nc_critical": nc_critical},
        ee_kw=ee_kw,
        inter=int_party,
        ee=Party(ee_name, ec_key("End Entity")) if ee_name is not None else None,
    )
    if expected == "invalid" and sub is None:
        sub = CCF
    add3(corpus, cid, section, why, expected, certs, sub=sub, basis=basis)


def bullet_name_constraints(c: Corpus):
    c.bullet = "name-constraints"
    # dNSName
    nc_case(c, "nc-dns-permitted-ok", "www.example.com is example.com with a label added on the left, so it is inside the permitted dNSName subtree.",
            "valid", permitted=dns("example.com"), ee_san=dns("www.example.com"))
    nc_case(c, "nc-dns-permitted-exact-ok", "A dNSName equal to the permitted subtree base is inside it (zero labels added).",
            "valid", permitted=dns("example.com"), ee_san=dns("example.com"))
    nc_case(c, "nc-dns-permitted-fail", "www.example.org is outside the only permitted dNSName subtree example.com.",
            "invalid", permitted=dns("example.com"), ee_san=dns("www.example.org"))
    nc_case(c, "nc-dns-permitted-label-boundary-fail", "badexample.com only shares a string suffix with example.com; §4.2.1.10 matches whole labels, so it is outside.",
            "invalid", permitted=dns("example.com"), ee_san=dns("badexample.com"))
    nc_case(c, "nc-dns-permitted-second-san-fail", "§6.1.3(b) checks each subjectAltName entry; the second one, b.example.org, is outside the permitted subtree.",
            "invalid", permitted=dns("example.com"), ee_san=dns("a.example.com", "b.example.org"))
    nc_case(c, "nc-dns-excluded-hit", "x.bad.example.com is inside the excluded subtree bad.example.com (§6.1.3(c)).",
            "invalid", excluded=dns("bad.example.com"), ee_san=dns("x.bad.example.com"))
    nc_case(c, "nc-dns-excluded-miss-ok", "good.example.com is not inside the excluded subtree bad.example.com.",
            "valid", excluded=dns("bad.example.com"), ee_san=dns("good.example.com"))
    nc_case(c, "nc-dns-excluded-overrides-permitted", "A name inside both a permitted and an excluded subtree is refused: §6.1.3(c) applies whatever (b) found.",
            "invalid", permitted=dns("example.com"), excluded=dns("bad.example.com"), ee_san=dns("host.bad.example.com"))
    nc_case(c, "nc-dns-cn-not-a-dnsname-ok", "With no subjectAltName, the subject CN www.example.org is part of a directoryName, not a dNSName; §6.1.3(b) applies dNSName subtrees only to dNSName names.",
            "valid", permitted=dns("example.com"), ee_name=dn("www.example.org"))
    nc_case(c, "nc-dns-other-form-only-ok", "A dNSName constraint restricts only names of that form (§4.2.1.10 'Restrictions apply only when the specified name form is present'); the EE carries only an rfc822Name.",
            "valid", permitted=dns("example.com"), ee_san=[x509.RFC822Name("alice@example.org")])
    # iPAddress v4
    nc_case(c, "nc-ipv4-permitted-ok", "192.168.5.4 is inside the permitted 192.168.0.0/16 (§4.2.1.10 address and mask, eight octets).",
            "valid", permitted=[net("192.168.0.0/16")], ee_san=[ip("192.168.5.4")])
    nc_case(c, "nc-ipv4-permitted-fail", "10.0.0.1 is outside the only permitted iPAddress subtree 192.168.0.0/16.",
            "invalid", permitted=[net("192.168.0.0/16")], ee_san=[ip("10.0.0.1")])
    nc_case(c, "nc-ipv4-excluded-hit", "10.1.2.3 is inside the excluded 10.0.0.0/8.",
            "invalid", excluded=[net("10.0.0.0/8")], ee_san=[ip("10.1.2.3")])
    nc_case(c, "nc-ipv4-excluded-miss-ok", "192.0.2.7 is outside the excluded 10.0.0.0/8.",
            "valid", excluded=[net("10.0.0.0/8")], ee_san=[ip("192.0.2.7")])
    # iPAddress v6
    nc_case(c, "nc-ipv6-permitted-ok", "2001:db8::1 is inside the permitted 2001:db8::/32 (§4.2.1.10, thirty-two octets).",
            "valid", permitted=[net("2001:db8::/32")], ee_san=[ip("2001:db8::1")])
    nc_case(c, "nc-ipv6-permitted-fail", "2001:db9::1 is outside the permitted 2001:db8::/32.",
            "invalid", permitted=[net("2001:db8::/32")], ee_san=[ip("2001:db9::1")])
    nc_case(c, "nc-ipv6-excluded-hit", "2001:db8:bad::5 is inside the excluded 2001:db8:bad::/48.",
            "invalid", excluded=[net("2001:db8:bad::/48")], ee_san=[ip("2001:db8:bad::5")])
    nc_case(c, "nc-ipv6-excluded-miss-ok", "2001:db8:1::5 is outside the excluded 2001:db8:bad::/48.",
            "valid", excluded=[net("2001:db8:bad::/48")], ee_san=[ip("2001:db8:1::5")])
    nc_case(c, "nc-ipv6-name-under-ipv4-only-permitted", "iPAddress is one name form: once permitted_subtrees for it holds only 192.0.2.0/24, the IPv6 address 2001:db8::1 is within none of them (§6.1.3(b)).",
            "invalid", permitted=[net("192.0.2.0/24")], ee_san=[ip("2001:db8::1")])
    nc_case(c, "nc-ipv4-excluded-v6-name-ok", "An excluded IPv4 subtree cannot contain an IPv6 address (§4.2.1.10 compares address and mask of the same length).",
            "valid", excluded=[net("0.0.0.0/0")], ee_san=[ip("2001:db8::1")])
    # directoryName
    base = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")])
    other = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Other")])
    nc_case(c, "nc-dirname-permitted-ok", "The subject C=FR,O=Example,CN=ee begins with the permitted base C=FR,O=Example (§6.1.3(b), §7.1).",
            "valid", permitted=[dirname(base)], ee_name=dn("ee", o="Example"))
    nc_case(c, "nc-dirname-permitted-fail", "The subject C=FR,O=Other,CN=ee does not begin with the permitted base C=FR,O=Example.",
            "invalid", permitted=[dirname(base)], ee_name=dn("ee", o="Other"))
    nc_case(c, "nc-dirname-excluded-hit", "The subject lies under the excluded base C=FR,O=Other.",
            "invalid", excluded=[dirname(other)], ee_name=dn("ee", o="Other"))
    nc_case(c, "nc-dirname-excluded-miss-ok", "The subject C=FR,O=Example,CN=ee is not under the excluded base C=FR,O=Other.",
            "valid", excluded=[dirname(other)], ee_name=dn("ee", o="Example"))
    nc_case(c, "nc-dirname-san-dirname-fail", "§6.1.3(b) checks subjectAltName directoryName entries too: C=DE,O=Example,CN=alt is outside the permitted base even though the subject is inside.",
            "invalid", permitted=[dirname(base)], ee_name=dn("ee", o="Example"),
            ee_san=[dirname(dn("alt", o="Example", c="DE"))])
    nc_case(c, "nc-dirname-casefold-ok", "§7.1 compares names after RFC 4518 preparation with case folding: O=EXAMPLE is under the base O=Example.",
            "valid", permitted=[dirname(base)], ee_name=dn("ee", o="EXAMPLE"))
    nc_case(c, "nc-dirname-empty-subject-ok", "directoryName restrictions apply to the subject 'when the certificate includes a non-empty subject field' (§4.2.1.10); the EE's subject is empty and its only name is a dNSName.",
            "valid", permitted=[dirname(base)], ee_name=x509.Name([]), ee_kw={"san_critical": True}, ee_san=dns("www.example.com"))
    # rfc822Name
    nc_case(c, "nc-email-host-ok", "Constraint 'example.com' is every mailbox on that host (§4.2.1.10); alice@example.com is one.",
            "valid", permitted=[x509.RFC822Name("example.com")], ee_san=[x509.RFC822Name("alice@example.com")])
    nc_case(c, "nc-email-host-subdomain-fail", "Constraint 'example.com' (no leading period) names one host, not its subdomains: alice@mail.example.com is outside.",
            "invalid", permitted=[x509.RFC822Name("example.com")], ee_san=[x509.RFC822Name("alice@mail.example.com")])
    nc_case(c, "nc-email-domain-ok", "Constraint '.example.com' is every mailbox in the domain (§4.2.1.10): alice@mail.example.com is inside.",
            "valid", permitted=[x509.RFC822Name(".example.com")], ee_san=[x509.RFC822Name("alice@mail.example.com")])
    nc_case(c, "nc-email-domain-host-fail", "Constraint '.example.com' covers hosts within the domain, not the host example.com itself: alice@example.com is outside.",
            "invalid", permitted=[x509.RFC822Name(".example.com")], ee_san=[x509.RFC822Name("alice@example.com")])
    nc_case(c, "nc-email-mailbox-ok", "Constraint 'alice@example.com' is that one mailbox; the SAN is that mailbox.",
            "valid", permitted=[x509.RFC822Name("alice@example.com")], ee_san=[x509.RFC822Name("alice@example.com")])
    nc_case(c, "nc-email-mailbox-fail", "Constraint 'alice@example.com' is one mailbox; bob@example.com is another.",
            "invalid", permitted=[x509.RFC822Name("alice@example.com")], ee_san=[x509.RFC822Name("bob@example.com")])
    nc_case(c, "nc-email-excluded-hit", "bob@spam.example is on the excluded host spam.example.",
            "invalid", excluded=[x509.RFC822Name("spam.example")], ee_san=[x509.RFC822Name("bob@spam.example")])
    nc_case(c, "nc-email-excluded-miss-ok", "alice@example.com is not on the excluded host spam.example.",
            "valid", excluded=[x509.RFC822Name("spam.example")], ee_san=[x509.RFC822Name("alice@example.com")])
    nc_case(c, "nc-email-subject-emailaddress-fail", "No subjectAltName, so the rfc822Name constraint MUST be applied to the emailAddress attribute of the subject DN (§4.2.1.10); alice@example.org is outside example.com.",
            "invalid", permitted=[x509.RFC822Name("example.com")], ee_name=dn("ee", email="alice@example.org"))
    nc_case(c, "nc-email-subject-emailaddress-ok", "No subjectAltName; the subject's emailAddress alice@example.com is inside the permitted host example.com (§4.2.1.10).",
            "valid", permitted=[x509.RFC822Name("example.com")], ee_name=dn("ee", email="alice@example.com"))
    nc_case(c, "nc-email-subject-emailaddress-excluded", "No subjectAltName; the subject's emailAddress bob@spam.example is on the excluded host spam.example (§4.2.1.10).",
            "invalid", excluded=[x509.RFC822Name("spam.example")], ee_name=dn("ee", email="bob@spam.example"))
    # URI
    uri = x509.UniformResourceIdentifier
    nc_case(c, "nc-uri-host-ok", "URI constraint 'example.com' is a host (§4.2.1.10); https://example.com/path has that host.",
            "valid", permitted=[uri("example.com")], ee_san=[uri("https://example.com/path")])
    nc_case(c, "nc-uri-host-subdomain-fail", "URI constraint 'example.com' names one host; https://www.example.com/ has another.",
            "invalid", permitted=[uri("example.com")], ee_san=[uri("https://www.example.com/")])
    nc_case(c, "nc-uri-domain-ok", "URI constraint '.example.com' covers hosts in the domain; www.example.com is one.",
            "valid", permitted=[uri(".example.com")], ee_san=[uri("https://www.example.com/x")])
    nc_case(c, "nc-uri-excluded-hit", "The host of ldap://evil.example/ is the excluded host evil.example.",
            "invalid", excluded=[uri("evil.example")], ee_san=[uri("ldap://evil.example/cn=x")])
    nc_case(c, "nc-uri-no-authority", "A URI constraint applies and the SAN URI urn:uuid:... has no authority with a host: §4.2.1.10 says the application MUST reject the certificate.",
            "invalid", permitted=[uri(".example.com")], ee_san=[uri("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")])
    nc_case(c, "nc-uri-ip-host", "A URI constraint applies and the SAN URI's host is an IP address, not a fully qualified domain name: §4.2.1.10 says the application MUST reject the certificate.",
            "invalid", permitted=[uri(".example.com")], ee_san=[uri("https://192.0.2.1/")])
    nc_case(c, "nc-uri-excluded-miss-ok", "The host example.com is not the excluded host evil.example.",
            "valid", excluded=[uri("evil.example")], ee_san=[uri("https://example.com/")])
    # otherName
    upn = x509.OtherName(ObjectIdentifier(UPN), b"\x0c\x11alice@example.com")
    upn_other = x509.OtherName(ObjectIdentifier(UPN), b"\x0c\x0fbob@example.org")
    nc_case(c, "nc-othername-constrained-form-present", "A critical constraint on the otherName form meets an otherName in the SAN; 5280 defines no otherName matching, so §4.2.1.10 leaves 'process the constraint or reject the certificate', and a validator without that rule rejects.",
            "invalid", permitted=[upn], ee_san=[upn_other])
    nc_case(c, "nc-othername-excluded-form-present", "Excluded otherName subtree and an otherName SAN: with no matching rule defined in RFC 5280, §4.2.1.10 requires rejection.",
            "invalid", excluded=[upn], ee_san=[upn])
    nc_case(c, "nc-othername-constrained-form-absent-ok", "The otherName constraint has nothing to apply to: the EE has only a dNSName, and §4.2.1.10 restricts only names of the constrained form.",
            "valid", permitted=[upn], ee_san=dns("www.example.com"))
    nc_case(c, "nc-othername-unconstrained-form-ok", "The EE's otherName is of a form the constraints do not touch (they constrain dNSName only), so it is accepted (§4.2.1.10).",
            "valid", permitted=dns("example.com"), ee_san=dns("www.example.com") + [upn])
    # Criticality, placement and malformed constraints
    nc_case(c, "nc-noncritical-still-enforced", "A non-critical nameConstraints (a CA-side violation of §4.2.1.10's MUST be critical) is still processed: §6.1.4(g) has no criticality condition, so the excluded name is refused.",
            "invalid", excluded=dns("bad.example.com"), ee_san=dns("x.bad.example.com"), nc_critical=False)
    nc_case(c, "nc-noncritical-compliant-refused", "A non-critical nameConstraints whose constraints the EE satisfies: §6.1 has no step that rejects the CA's criticality error.",
            "valid", permitted=dns("example.com"), ee_san=dns("www.example.com"), nc_critical=False, basis=PROFILE_TOLERATED)

    cid = "nc-in-ee-refused"
    certs, _ = chain3(cid, ee_kw={"san": dns("www.example.com"), "nc": (dns("example.com"), None)})
    add3(c, cid, "RFC 5280 §4.2.1.10, §6.2", "nameConstraints 'MUST be used only in a CA certificate' (§4.2.1.10); the EE carries one. §6.1 never reads the EE's nameConstraints, so this refusal is a profile check the issue asks for (§6.2: an implementation MAY further limit the valid paths).",
         "invalid", certs, sub=CGF, basis=PROFILE_REFUSED)

    def raw_nc_case(cid, why, nc_der, sub=CGF, basis=None, ee_san=None):
        certs, _ = chain3(cid, int_kw={"raw": [(OID_NC, True, nc_der)]}, ee_kw={"san": ee_san or dns("www.example.com")})
        add3(c, cid, "RFC 5280 §4.2, §4.2.1.10", why, "invalid", certs, sub=sub, basis=basis)

    # Hand-encoded NameConstraints: cryptography refuses to build these.
    raw_nc_case("nc-empty-refused", "An empty NameConstraints SEQUENCE: 'Conforming CAs MUST NOT issue certificates where name constraints is an empty sequence' (§4.2.1.10); §6.1.4(g) would change nothing, so refusing it is a profile check the issue asks for (§6.2).",
                seq(), basis=PROFILE_REFUSED)
    dns_subtree = tlv(0x82, b"example.com")
    raw_nc_case("nc-minimum-nonzero-refused", "A critical GeneralSubtree with minimum 1 on the dNSName form, and the EE has a dNSName: 'the application MUST either process these fields or reject the certificate' (§4.2.1.10), and RFC 5280 gives minimum no meaning to process.",
                seq(tlv(0xA0, seq(dns_subtree, tlv(0x80, b"\x01")))))
    raw_nc_case("nc-maximum-present-refused", "A critical GeneralSubtree with maximum present on the dNSName form, and the EE has a dNSName: process or reject (§4.2.1.10), and RFC 5280 gives maximum no meaning to process.",
                seq(tlv(0xA0, seq(dns_subtree, tlv(0x81, b"\x05")))))
    raw_nc_case("nc-ip-bad-length-5-refused", "An iPAddress subtree of five octets, which §4.2.1.10 forbids (eight for IPv4, thirty-two for IPv6), and the EE has an iPAddress: the critical constraint cannot be processed, so the certificate is rejected (§4.2, §4.2.1.10).",
                seq(tlv(0xA0, seq(tlv(0x87, bytes([192, 168, 0, 0, 255]))))), ee_san=[ip("192.168.0.1")])
    raw_nc_case("nc-ip-bad-length-16-refused", "An iPAddress subtree of sixteen octets (an IPv6 address without its mask), neither eight nor thirty-two (§4.2.1.10), and the EE has an IPv6 iPAddress: the critical constraint cannot be processed (§4.2, §4.2.1.10).",
                seq(tlv(0xA0, seq(tlv(0x87, ipaddress.ip_address("2001:db8::").packed)))), ee_san=[ip("2001:db8::1")])
    raw_nc_case("nc-not-der-refused", "The critical nameConstraints extnValue is a truncated SEQUENCE: 'a critical extension that contains information that it cannot process' MUST make the certificate rejected (§4.2).",
                bytes.fromhex("3010a00e300c820a6578616d706c65"))

    # Malformed subjectAltName under a constraining CA.
    def raw_san_case(cid, why, san_der, permitted=None, basis=None, section="RFC 5280 §4.2.1.6, §6.1.3(b)"):
        certs, _ = chain3(cid, int_kw={"nc": (permitted or dns("example.com"), None)},
                          ee_kw={"raw": [(OID_SAN, False, san_der)]})
        add3(c, cid, section, why, "invalid", certs, sub=CGF if basis else CCF, basis=basis)

    raw_san_case("nc-san-not-der", "The subjectAltName extnValue is a truncated GeneralNames: its names cannot be read, so §6.1.3(b) cannot show them inside the permitted subtree.",
                 bytes.fromhex("3012820f7777772e6578616d706c65"))
    raw_san_case("nc-san-trailing-bytes", "The subjectAltName extnValue holds a GeneralNames followed by stray octets, so it is not 'the corresponding ASN.1 DER encoded structure' (§4.2); §6.1 does not check encodings, so this is a profile refusal the issue asks for.",
                 seq(tlv(0x82, b"www.example.com")) + b"\x00\x00", basis=PROFILE_REFUSED, section="RFC 5280 §4.2, §4.2.1.6, §6.2")
    raw_san_case("nc-san-dns-double-dot", "dNSName 'www..example.com' breaks the preferred name syntax (§4.2.1.6), and it cannot be built by adding labels to example.com (an empty label is no label), so it is outside the permitted subtree (§4.2.1.10, §6.1.3(b)).",
                 seq(tlv(0x82, b"www..example.com")))
    raw_san_case("nc-san-dns-space", "dNSName ' ' 'MUST NOT be used' (§4.2.1.6) and is not inside the permitted subtree example.com (§6.1.3(b)).",
                 seq(tlv(0x82, b" ")))
    raw_san_case("nc-san-dns-inner-space", "dNSName 'ww w.example.com' holds a space, outside the preferred name syntax (§4.2.1.6); 'ww w' is no DNS label, so the name is not example.com with labels added (§4.2.1.10, §6.1.3(b)).",
                 seq(tlv(0x82, b"ww w.example.com")))
    raw_san_case("nc-san-rfc822-no-at", "rfc822Name 'alice.example.com' is not a Mailbox (§4.2.1.6), so it is no 'mail address at the host example.com' and falls outside the permitted rfc822Name subtree (§4.2.1.10, §6.1.3(b)).",
                 seq(tlv(0x81, b"alice.example.com")), permitted=[x509.RFC822Name("example.com")])
    raw_san_case("nc-san-empty-sequence", "An empty GeneralNames breaks SIZE (1..MAX) and 'the sequence MUST contain at least one entry' (§4.2.1.6); §6.1 does not check this, so refusing it is a profile check the issue asks for.",
                 seq(), basis=PROFILE_REFUSED, section="RFC 5280 §4.2.1.6, §6.2")

    # Many names times many constraints.
    cid = "nc-exhaustion-small-ok"
    permitted = dns(*[f"zone{i}.example" for i in range(32)])
    names = dns(*[f"h{i}.zone{i}.example" for i in range(32)])
    certs, _ = chain3(cid, int_kw={"nc": (permitted, None)}, ee_kw={"san": names})
    add3(c, cid, NC_SEC, "32 names against 32 permitted subtrees, each name inside one of them: valid, and cheap enough for any budget.", "valid", certs)
    cid = "nc-exhaustion-large-last-name-outside"
    permitted = dns(*[f"zone{i}.example" for i in range(1024)])
    excluded = dns(*[f"x{i}.zone{i}.example" for i in range(512)])
    names = dns(*[f"h{i}.zone{i}.example" for i in range(1023)], "h.outside.example")
    certs, _ = chain3(cid, int_kw={"nc": (permitted, excluded)}, ee_kw={"san": names})
    add3(c, cid, NC_SEC, "1024 names against 1024 permitted and 512 excluded subtrees (about 1.5 million comparisons done naively); the last name is outside every permitted subtree, so the verdict is invalid whether the validator finishes the work or stops at a work limit.",
         "invalid", certs, sub=CCF)

    # Self-issued certificates and constraints.
    outside = Party(dn("Sub CA", o="Outside", c="DE"), ec_key("Sub CA"))
    outside_new = Party(outside.name, ec_key("Sub CA new key"))
    root = party("Root CA")
    ee = Party(dn("ee", o="Example"), ec_key("End Entity"))
    for cid, self_issued in (("nc-self-issued-intermediate-not-checked", True), ("nc-non-self-issued-intermediate-checked", False)):
        second = outside_new if self_issued else Party(dn("Sub CA 2", o="Outside", c="DE"), ec_key("Sub CA new key"))
        certs = {
            "root": self_signed(root, cid + "/root"),
            "int": build(outside, root, cid + "/int", ca=True, nc=([dirname(base)], None)),
            "int2": build(second, outside, cid + "/int2", ca=True),
            "ee": build(ee, second, cid + "/ee"),
        }
        if self_issued:
            why = "The second intermediate is self-issued (issuer = subject = C=DE,O=Outside,CN=Sub CA, a new key): §6.1.3(b) skips it, and the EE C=FR,O=Example,CN=ee is inside the permitted base."
        else:
            why = "The second intermediate's subject C=DE,O=Outside,CN=Sub CA 2 is not self-issued, so §6.1.3(b) checks it against the permitted base C=FR,O=Example and it is outside."
        c.add(cid, "RFC 5280 §6.1.3(b)", why, "valid" if self_issued else "invalid", certs, "ee", ["root"], ["int", "int2"],
              sub=None if self_issued else CCF)
    cid = "nc-self-issued-final-cert-checked"
    certs = {
        "root": self_signed(root, cid + "/root"),
        "int": build(outside, root, cid + "/int", ca=True, nc=([dirname(base)], None)),
        "ee": build(Party(outside.name, ec_key("End Entity")), outside, cid + "/ee"),
    }
    add3(c, cid, "RFC 5280 §6.1.3(b)", "The EE is self-issued (its subject equals its issuer C=DE,O=Outside,CN=Sub CA) but it is the final certificate, which §6.1.3(b) still checks; its name is outside the permitted base.",
         "invalid", certs, sub=CCF)
    cid = "nc-in-trust-anchor-applied"
    certs, _ = chain3(cid, root_kw={"nc": (dns("example.com"), None)}, ee_kw={"san": dns("www.example.org")})
    add3(c, cid, "RFC 5280 §6.1.1(d)(h)(i), §6.2", "The anchor's own nameConstraints are not path input: §6.1.1 takes the anchor's name and key, and the initial subtrees come from the caller (unbounded here), so www.example.org passes. §6.2 lets an implementation process such anchor extensions instead.",
         "valid", certs, basis=ANCHOR)


# ---------------------------------------------------------------------------
# Bullet 2: extensions, criticality, structure


def bullet_extensions(c: Corpus):
    c.bullet = "extensions"
    unknown_crit = [(UNKNOWN_EXT, True, b"\x05\x00")]
    unknown_noncrit = [(UNKNOWN_EXT, False, b"\x05\x00")]
    ee_ext_sec = "RFC 5280 §4.2, §6.1.5(f)"
    int_ext_sec = "RFC 5280 §4.2, §6.1.4(o)"

    certs, _ = chain3("ext-unknown-critical-ee", ee_kw={"raw": unknown_crit})
    add3(c, "ext-unknown-critical-ee", ee_ext_sec, "A critical extension the validator cannot recognise in the EE: 'MUST reject the certificate' (§4.2), §6.1.5(f).", "invalid", certs, sub=CCF)
    certs, _ = chain3("ext-unknown-noncritical-ee-ok", ee_kw={"raw": unknown_noncrit})
    add3(c, "ext-unknown-noncritical-ee-ok", ee_ext_sec, "An unrecognised non-critical extension 'MAY be ignored' (§4.2).", "valid", certs)
    certs, _ = chain3("ext-unknown-critical-intermediate", int_kw={"raw": unknown_crit})
    add3(c, "ext-unknown-critical-intermediate", int_ext_sec, "An unrecognised critical extension in an intermediate: §6.1.4(o) requires recognising and processing every critical extension.", "invalid", certs, sub=CCF)
    certs, _ = chain3("ext-unknown-noncritical-intermediate-ok", int_kw={"raw": unknown_noncrit})
    add3(c, "ext-unknown-noncritical-intermediate-ok", int_ext_sec, "An unrecognised non-critical extension in an intermediate may be ignored (§4.2).", "valid", certs)
    certs, _ = chain3("ext-unknown-critical-anchor", root_kw={"raw": unknown_crit})
    add3(c, "ext-unknown-critical-anchor", "RFC 5280 §6.1, §6.1.1(d), §6.2",
         "The unknown critical extension sits in the trust anchor's certificate; §6.1.1(d) takes only the anchor's name and public key, and §6.1.3/§6.1.4 run on certificates 1..n only, so §6.1 never examines it: valid. §6.2 leaves an implementation 'free to process or ignore' anchor certificate contents, so refusing is also allowed; the next case covers a root certificate inside the path.",
         "valid", certs, basis=ANCHOR)
    # A root certified by another anchor: the root's certificate is then a path certificate.
    cid = "ext-unknown-critical-root-cross-certified"
    r1, r2, inter, ee = party("Root CA"), party("Other Root CA"), party("Intermediate CA"), party("End Entity")
    certs = {
        "root": self_signed(r1, cid + "/root"),
        "other-root-cross": build(r2, r1, cid + "/x", ca=True, raw=unknown_crit),
        "int": build(inter, r2, cid + "/int", ca=True),
        "ee": build(ee, inter, cid + "/ee"),
    }
    c.add(cid, int_ext_sec, "The other root's certificate, certified by the anchor, is certificate 1 of the path and carries an unknown critical extension: refused by §6.1.4(o).",
          "invalid", certs, "ee", ["root"], ["other-root-cross", "int"], sub=CCF)

    # basicConstraints criticality.
    certs, _ = chain3("ext-bc-noncritical-ca-refused", int_kw={"bc_critical": False})
    add3(c, "ext-bc-noncritical-ca-refused", "RFC 5280 §4.2.1.9, §6.1.4(k)",
         "§4.2.1.9 says the CA MUST mark basicConstraints critical in CA certificates (the 'MAY be critical or non-critical' sentence is about end-entity certificates); that binds the issuer, while §6.1.4(k) only checks v3, presence and cA TRUE, so path validation accepts it.",
         "valid", certs, basis=PROFILE_TOLERATED)
    certs, _ = chain3("ext-bc-noncritical-ee-ok", ee_kw={"ca": False, "bc_critical": False})
    add3(c, "ext-bc-noncritical-ee-ok", "RFC 5280 §4.2.1.9", "basicConstraints 'MAY appear as a critical or non-critical extension in end entity certificates' (§4.2.1.9).", "valid", certs)
    certs, _ = chain3("ext-ku-noncritical-ca-ok", int_kw={"ku": None, "raw": [(OID_KU, False, bytes.fromhex("03020106"))]})
    add3(c, "ext-ku-noncritical-ca-ok", "RFC 5280 §4.2.1.3, §6.1.4(n)", "keyUsage 'SHOULD' be critical (§4.2.1.3); non-critical with keyCertSign still satisfies §6.1.4(n).", "valid", certs)
    inter = party("Intermediate CA")
    key_id = x509.SubjectKeyIdentifier.from_public_key(inter.key.public_key()).digest
    certs, _ = chain3("ext-aki-critical-refused", inter=inter, ee_kw={"aki": False, "raw": [("2.5.29.35", True, seq(tlv(0x80, key_id)))]})
    add3(c, "ext-aki-critical-refused", "RFC 5280 §4.2.1.1, §6.1",
         "A critical authorityKeyIdentifier (matching the issuer's key) breaks the CA-side 'MUST mark this extension as non-critical' (§4.2.1.1), but the extension is recognised and §6.1 has no step refusing it.",
         "valid", certs, basis=PROFILE_TOLERATED)
    certs, _ = chain3("ext-san-critical-nonempty-subject-ok", ee_kw={"san": dns("www.example.com"), "san_critical": True})
    add3(c, "ext-san-critical-nonempty-subject-ok", "RFC 5280 §4.2.1.6", "subjectAltName SHOULD be non-critical when the subject is non-empty; critical is allowed and recognised.", "valid", certs)
    cid = "ext-ee-empty-subject-critical-san-ok"
    certs, _ = chain3(cid, ee=Party(x509.Name([]), ec_key("End Entity")), ee_kw={"san": dns("www.example.com"), "san_critical": True})
    add3(c, cid, "RFC 5280 §4.1.2.6, §4.2.1.6", "An EE may have an empty subject if the subjectAltName is present and critical (§4.1.2.6, §4.2.1.6).", "valid", certs)
    cid = "ext-ee-empty-subject-noncritical-san-refused"
    certs, _ = chain3(cid, ee=Party(x509.Name([]), ec_key("End Entity")), ee_kw={"san": dns("www.example.com"), "san_critical": False})
    add3(c, cid, "RFC 5280 §4.2.1.6, §6.1",
         "Empty subject with a non-critical subjectAltName breaks the issuing CA's MUST in §4.2.1.6, but no step of §6.1 turns that into a validation failure: valid per §6.1 (a profile linter would flag it).",
         "valid", certs, basis=PROFILE_TOLERATED)

    # Duplicate extensions: the builder refuses a second instance, so the TBS is rewritten.
    cid = "ext-duplicate-san-ee"
    certs, (root, inter, ee) = chain3(cid, ee_kw={"san": dns("www.example.com")})
    certs["ee"] = duplicate_extension(certs["ee"], inter.key, OID_SAN,
                                      extension(OID_SAN, False, seq(tlv(0x82, b"other.example.com"))))
    add3(c, cid, "RFC 5280 §4.2", "Two subjectAltName extensions: 'A certificate MUST NOT include more than one instance of a particular extension' (§4.2); §6.1 has no such check, so this is a profile refusal the issue asks for (§6.2).", "invalid", certs, sub=CGF, basis=PROFILE_REFUSED)
    cid = "ext-duplicate-bc-intermediate"
    certs, (root, inter, ee) = chain3(cid)
    certs["int"] = duplicate_extension(certs["int"], root.key, OID_BC, extension(OID_BC, True, seq()), first=True)
    add3(c, cid, "RFC 5280 §4.2", "Two basicConstraints in the intermediate, cA FALSE first and cA TRUE second: more than one instance of an extension is forbidden (§4.2), and §6.1.4(k) gives a different answer depending on which one is read.", "invalid", certs, sub=CGF, basis=PROFILE_REFUSED)
    cid = "ext-duplicate-unknown-noncritical-ee"
    certs, (root, inter, ee) = chain3(cid, ee_kw={"raw": unknown_noncrit})
    certs["ee"] = duplicate_extension(certs["ee"], inter.key, UNKNOWN_EXT)
    add3(c, cid, "RFC 5280 §4.2", "The same non-critical unknown extension twice: §4.2's 'MUST NOT include more than one instance' holds for every extension, recognised or not (a profile refusal, §6.2).", "invalid", certs, sub=CGF, basis=PROFILE_REFUSED)

    # A CA with an empty subject.
    cid = "ext-ca-empty-subject"
    empty_ca = Party(x509.Name([]), ec_key("Intermediate CA"))
    certs, _ = chain3(cid, inter=empty_ca, ee_kw={})
    add3(c, cid, "RFC 5280 §4.1.2.6, §4.1.2.4, §6.2",
         "The intermediate has cA TRUE and an empty subject: 'the subject field MUST be populated with a non-empty distinguished name' for a CA (§4.1.2.6), and the EE's issuer is then empty, which §4.1.2.4 forbids. Empty names still chain under §6.1.3(a)(4), so the refusal is a profile check the issue asks for (§6.2).",
         "invalid", certs, sub=CGF, basis=PROFILE_REFUSED)
    cid = "ext-ca-nonempty-subject-ok"
    certs, _ = chain3(cid)
    add3(c, cid, "RFC 5280 §4.1.2.6", "The same chain with a populated CA subject: valid (the counterpart of ext-ca-empty-subject).", "valid", certs)

    # SAN that is not DER, outside any name constraints.
    cid = "ext-san-not-der"
    certs, _ = chain3(cid, ee_kw={"raw": [(OID_SAN, False, bytes.fromhex("3080820f7777772e6578616d706c652e636f6d0000"))]})
    add3(c, cid, "RFC 5280 §4.1, §4.2.1.6", "The subjectAltName value uses an indefinite length (BER, not DER): extnValue holds 'the corresponding ASN.1 DER encoded structure' (§4.2). §6.1 does not check encodings, so this is a profile refusal the issue asks for (§6.2).", "invalid", certs, sub=CGF, basis=PROFILE_REFUSED)
    cid = "ext-san-der-ok"
    certs, _ = chain3(cid, ee_kw={"san": dns("www.example.com")})
    add3(c, cid, "RFC 5280 §4.2.1.6", "The same name DER-encoded: valid.", "valid", certs)


# ---------------------------------------------------------------------------
# Bullet 3: path building


def bullet_path_building(c: Corpus):
    c.bullet = "path-building"
    sec = "RFC 5280 §6.1, §6.1.3(a), RFC 4158"
    root, inter, ee = party("Root CA"), party("Intermediate CA"), party("End Entity")

    # Decoys with the intermediate's name.
    decoys = {
        "wrong-key": ("a certificate with the intermediate's name and subjectKeyIdentifier but another key (the EE's signature fails with it)",
                      lambda cid: build(Party(inter.name, ec_key("Decoy key")), root, cid + "/decoy", ca=True, ski_of=inter)),
        "expired": ("an expired re-issue of the intermediate (same name and key)",
                    lambda cid: build(inter, root, cid + "/decoy", ca=True, nb=PAST_NB, na=PAST_NA)),
        "not-ca": ("a re-issue of the intermediate with cA FALSE",
                   lambda cid: build(inter, root, cid + "/decoy", ca=False, ku=KU_CA)),
        "no-keycertsign": ("a re-issue of the intermediate whose keyUsage lacks keyCertSign",
                           lambda cid: build(inter, root, cid + "/decoy", ca=True, ku=KU_CA_NO_CERTSIGN)),
        "orphan": ("a re-issue of the intermediate by an unknown root (same name, same key; leads nowhere)",
                   lambda cid: build(inter, party("Unknown Root CA"), cid + "/decoy", ca=True)),
    }
    decoy_sub = {"wrong-key": CGF, "expired": OOB, "not-ca": CCF, "no-keycertsign": CCF, "orphan": NCF}
    for kind, (what, make) in decoys.items():
        for order in ("decoy-first", "decoy-last"):
            cid = f"pb-{kind}-{order}"
            certs = {
                "root": self_signed(root, cid + "/root"),
                "decoy": make(cid),
                "int": build(inter, root, cid + "/int", ca=True),
                "ee": build(ee, inter, cid + "/ee"),
            }
            untrusted = ["decoy", "int"] if order == "decoy-first" else ["int", "decoy"]
            c.add(cid, sec, f"Two candidate issuers named like the intermediate, {what} arriving {'first' if order == 'decoy-first' else 'last'}; a builder that backtracks finds the good one.",
                  "valid", certs, "ee", ["root"], untrusted)
        cid = f"pb-{kind}-only"
        certs = {"root": self_signed(root, cid + "/root"), "decoy": make(cid), "ee": build(ee, inter, cid + "/ee")}
        c.add(cid, sec, f"Only {what} is offered: no path satisfies §6.1.", "invalid", certs, "ee", ["root"], ["decoy"], sub=decoy_sub[kind])

    cid = "pb-aki-mismatch-refused"
    certs = {
        "root": self_signed(root, cid + "/root"),
        "int": build(inter, root, cid + "/int", ca=True),
        "ee": build(ee, inter, cid + "/ee", aki_of=party("Unrelated CA")),
    }
    c.add(cid, "RFC 5280 §4.2.1.1, §6.1.3(a)", "The EE's authorityKeyIdentifier names another key, yet the intermediate's name chains and its key verifies the signature: key identifiers help find an issuer (§4.2.1.1) but are no input of §6.1, so the path is valid.",
          "valid", certs, "ee", ["root"], ["int"])

    # Cross-certificates.
    r1, r2 = party("Root CA"), party("Other Root CA")

    def cross(cid, x_kw=None):
        return {
            "root": self_signed(r1, cid + "/root"),
            "other-root": self_signed(r2, cid + "/other-root"),
            "cross": build(r2, r1, cid + "/cross", ca=True, **(x_kw or {})),
            "int": build(inter, r2, cid + "/int", ca=True),
            "ee": build(ee, inter, cid + "/ee"),
        }

    for i, order in enumerate((["other-root", "cross", "int"], ["int", "cross", "other-root"], ["cross", "int", "other-root"])):
        cid = f"pb-cross-cert-order{i + 1}"
        c.add(cid, sec, "The intermediate is issued by Other Root CA, which only the anchor Root CA cross-certifies; the self-signed Other Root is offered too and is a dead end unless it is an anchor.",
              "valid", cross(cid), "ee", ["root"], order)
    cid = "pb-cross-cert-other-anchor"
    c.add(cid, sec, "With Other Root CA as the anchor, the path stops at it and the cross-certificate is unused.", "valid",
          cross(cid), "ee", ["other-root"], ["cross", "int"])
    cid = "pb-cross-cert-expired"
    c.add(cid, "RFC 5280 §6.1.3(a)(2)", "The only link to the anchor Root CA is an expired cross-certificate.", "invalid",
          cross(cid, {"nb": PAST_NB, "na": PAST_NA}), "ee", ["root"], ["other-root", "cross", "int"], sub=OOB)
    cid = "pb-cross-cert-expired-other-anchor-ok"
    c.add(cid, sec, "The cross-certificate is expired but Other Root CA is also an anchor, and the path through it needs no cross-certificate.", "valid",
          cross(cid, {"nb": PAST_NB, "na": PAST_NA}), "ee", ["root", "other-root"], ["cross", "int"])
    cid = "pb-cross-cert-missing"
    c.add(cid, sec, "Without the cross-certificate the self-signed Other Root CA is not trusted and nothing links it to Root CA.", "invalid",
          cross(cid), "ee", ["root"], ["other-root", "int"], sub=NCF)

    # Loops.
    a, b = party("Loop CA A"), party("Loop CA B")
    cid = "pb-loop-no-anchor"
    certs = {
        "root": self_signed(root, cid + "/root"),
        "a-by-b": build(a, b, cid + "/ab", ca=True),
        "b-by-a": build(b, a, cid + "/ba", ca=True),
        "int": build(inter, a, cid + "/int", ca=True),
        "ee": build(ee, inter, cid + "/ee"),
    }
    c.add(cid, sec, "Two CAs certify each other and neither reaches the anchor: the builder must stop and report no chain.", "invalid",
          certs, "ee", ["root"], ["a-by-b", "b-by-a", "int"], sub=NCF)
    cid = "pb-loop-with-exit-ok"
    certs = {
        "root": self_signed(root, cid + "/root"),
        "a-by-b": build(a, b, cid + "/ab", ca=True),
        "b-by-a": build(b, a, cid + "/ba", ca=True),
        "b-by-root": build(b, root, cid + "/broot", ca=True),
        "int": build(inter, a, cid + "/int", ca=True),
        "ee": build(ee, inter, cid + "/ee"),
    }
    c.add(cid, sec, "The same loop, plus Root CA's certificate for Loop CA B: EE -> Intermediate -> A (by B) -> B (by Root) -> Root.", "valid",
          certs, "ee", ["root"], ["b-by-a", "a-by-b", "int", "b-by-root"])

    # Arrival-order permutations of a four-deep chain with a wrong-key decoy.
    i1, i2, i3 = party("CA One"), party("CA Two"), party("CA Three")
    for n, order in enumerate((["decoy", "i1", "i2", "i3"], ["i3", "i2", "decoy", "i1"], ["i1", "decoy", "i3", "i2"], ["i2", "i3", "i1", "decoy"])):
        cid = f"pb-permutation-{n + 1}"
        certs = {
            "root": self_signed(root, cid + "/root"),
            "i1": build(i1, root, cid + "/i1", ca=True),
            "i2": build(i2, i1, cid + "/i2", ca=True),
            "decoy": build(Party(i2.name, ec_key("Decoy key")), i1, cid + "/decoy", ca=True),
            "i3": build(i3, i2, cid + "/i3", ca=True),
            "ee": build(ee, i3, cid + "/ee"),
        }
        c.add(cid, sec, f"Root -> CA One -> CA Two -> CA Three -> EE, offered in the order {', '.join(order)}, with a wrong-key 'CA Two' among them.",
              "valid", certs, "ee", ["root"], order)
    cid = "pb-missing-intermediate"
    certs = {
        "root": self_signed(root, cid + "/root"),
        "i1": build(i1, root, cid + "/i1", ca=True),
        "i3": build(i3, i2, cid + "/i3", ca=True),
        "ee": build(ee, i3, cid + "/ee"),
    }
    c.add(cid, sec, "CA Two is never offered, so CA Three cannot be chained.", "invalid", certs, "ee", ["root"], ["i1", "i3"], sub=NCF)

    # Backtracking on a constraint failure, not only a signature failure.
    def two_paths(cid, a_kw, b_kw, ee_kw=None, extra=None):
        certs = {
            "root": self_signed(root, cid + "/root"),
            "int-a": build(inter, root, cid + "/int-a", ca=True, **a_kw),
            "int-b": build(inter, root, cid + "/int-b", ca=True, **b_kw),
            "ee": build(ee, extra or inter, cid + "/ee", **(ee_kw or {})),
        }
        return certs

    cid = "pb-backtrack-name-constraints"
    certs = two_paths(cid, {"nc": (None, dns("example.com"))}, {}, {"san": dns("www.example.com")})
    c.add(cid, sec + ", §6.1.3(c)", "Two re-issues of the intermediate (same name and key): the first excludes example.com, the second has no constraints; the path through the second is valid.",
          "valid", certs, "ee", ["root"], ["int-a", "int-b"])
    cid = "pb-backtrack-name-constraints-only-bad"
    certs = two_paths(cid, {"nc": (None, dns("example.com"))}, {}, {"san": dns("www.example.com")})
    del certs["int-b"]
    c.add(cid, "RFC 5280 §6.1.3(c)", "Only the re-issue excluding example.com is offered: www.example.com is excluded.", "invalid",
          certs, "ee", ["root"], ["int-a"], sub=CCF)
    cid = "pb-backtrack-policy"
    certs = two_paths(cid, {"policies": [P2]}, {"policies": [P1]}, {"policies": [P1]})
    c.add(cid, sec + ", §6.1.3(d)", "With initial-explicit-policy and user set {P1}, the first re-issue asserts only P2 (empty tree), the second P1: the path through the second is valid.",
          "valid", certs, "ee", ["root"], ["int-a", "int-b"],
          policy={"initial_policy_set": [P1], "initial_explicit_policy": True, "initial_policy_mapping_inhibit": False, "initial_any_policy_inhibit": False})
    sub_ca = party("Issuing CA")
    cid = "pb-backtrack-path-length"
    certs = {
        "root": self_signed(root, cid + "/root"),
        "int-a": build(inter, root, cid + "/int-a", ca=True, pathlen=0),
        "int-b": build(inter, root, cid + "/int-b", ca=True, pathlen=1),
        "sub": build(sub_ca, inter, cid + "/sub", ca=True),
        "ee": build(ee, sub_ca, cid + "/ee"),
    }
    c.add(cid, sec + ", §6.1.4(l)", "Two re-issues of the intermediate: with pathLen 0 the next CA breaks §6.1.4(l), with pathLen 1 it does not; the builder must try the second.",
          "valid", certs, "ee", ["root"], ["int-a", "int-b", "sub"])


# ---------------------------------------------------------------------------
# Bullet 4: path length


def bullet_path_length(c: Corpus):
    c.bullet = "path-length"
    sec = "RFC 5280 §4.2.1.9, §6.1.4(l)(m)"
    root, ee = party("Root CA"), party("End Entity")
    cas = [party(f"CA {n}") for n in range(1, 5)]

    def linear(cid, pathlens, names=None, self_issued_at=()):
        """Root -> CA 1 .. CA k -> EE; pathlens[i] for CA i+1; self_issued_at re-uses the previous CA's name."""
        certs = {"root": self_signed(root, cid + "/root")}
        issuer = root
        labels = []
        for i, pl in enumerate(pathlens):
            if i in self_issued_at:
                subj = Party(issuer.name, ec_key(f"{cid} rollover {i}"))
            else:
                subj = cas[i]
            label = f"ca{i + 1}"
            certs[label] = build(subj, issuer, f"{cid}/{label}", ca=True, pathlen=pl)
            labels.append(label)
            issuer = subj
        certs["ee"] = build(ee, issuer, cid + "/ee")
        return certs, labels

    def add(cid, why, expected, pathlens, self_issued_at=(), section=sec):
        certs, labels = linear(cid, pathlens, self_issued_at=self_issued_at)
        c.add(cid, section, why, expected, certs, "ee", ["root"], labels, sub=CCF if expected == "invalid" else None)

    add("pl-0-ok", "CA 1 has pathLen 0 and issues only the EE.", "valid", [0])
    add("pl-0-violated", "CA 1 has pathLen 0 yet CA 2 follows: at CA 2 max_path_length is 0 (§6.1.4(l)).", "invalid", [0, None])
    add("pl-1-ok", "CA 1 has pathLen 1 and one CA follows it.", "valid", [1, None])
    add("pl-1-violated", "CA 1 has pathLen 1 and two CAs follow it.", "invalid", [1, None, None])
    add("pl-larger-below-does-not-reset", "CA 1 pathLen 1, CA 2 pathLen 5, then CA 3: §6.1.4(m) only lowers max_path_length, so CA 3 finds it at 0.", "invalid", [1, 5, None])
    add("pl-self-issued-not-counted", "CA 1 pathLen 0, then a self-issued certificate of CA 1 (new key): §6.1.4(l) does not count self-issued certificates.", "valid", [0, None], self_issued_at=(1,))
    add("pl-two-self-issued-not-counted", "CA 1 pathLen 0 followed by two self-issued certificates under CA 1's name.", "valid", [0, None, None], self_issued_at=(1, 2))
    add("pl-non-self-issued-counted", "CA 1 pathLen 0 followed by a CA with a different name: counted, and max_path_length is already 0.", "invalid", [0, None])
    add("pl-self-issued-then-ca-violated", "CA 1 pathLen 0, a self-issued CA 1 re-key, then a different CA: the self-issued one is free, the next one is not.", "invalid", [0, None, None], self_issued_at=(1,))
    add("pl-self-issued-pathlen-applies", "A self-issued certificate's own pathLen 0 still lowers max_path_length (§6.1.4(m) has no self-issued exception): the CA after it fails.", "invalid", [None, 0, None], self_issued_at=(1,))
    cid = "pl-anchor-pathlen-applied"
    certs = {
        "root": self_signed(root, cid + "/root", pathlen=0),
        "ca1": build(cas[0], root, cid + "/ca1", ca=True),
        "ee": build(ee, cas[0], cid + "/ee"),
    }
    c.add(cid, "RFC 5280 §6.1.1(d), §6.1.2(k), §6.2", "The anchor's pathLen 0 is not path input: max_path_length starts at n (§6.1.2(k)) and only certificates 1..n-1 lower it; the anchor is name and key (§6.1.1(d)). §6.2 allows applying it as an augmentation.",
          "valid", certs, "ee", ["root"], ["ca1"], basis=ANCHOR)

    # Key rollover: old and new root keys under one name (RFC 4210 §4.4 style).
    old, new = Party(root.name, ec_key("Root CA")), Party(root.name, ec_key("Root CA new key"))
    ca1 = cas[0]

    def rollover(cid, link_kw=None):
        return {
            "root-old": self_signed(old, cid + "/old"),
            "root-new": self_signed(new, cid + "/new"),
            "old-with-new": build(new, old, cid + "/oldwithnew", ca=True, **(link_kw or {})),
            "new-with-old": build(old, new, cid + "/newwithold", ca=True),
            "ca1": build(ca1, new, cid + "/ca1", ca=True),
            "ee": build(ee, ca1, cid + "/ee"),
        }

    rsec = "RFC 5280 §6.1.4(l), RFC 4210 §4.4"
    cid = "pl-rollover-new-ca-old-anchor-ok"
    c.add(cid, rsec, "CA 1 is certified by the new root key; the anchor is the old key; the self-issued OldWithNew link certificate joins them and is not counted.",
          "valid", rollover(cid), "ee", ["root-old"], ["root-new", "old-with-new", "ca1"])
    cid = "pl-rollover-missing-link"
    c.add(cid, rsec + ", §6.1.3(a)(1)", "Without OldWithNew, the new self-signed root has the anchor's name but not its key: the anchor is name and key, so there is no path.",
          "invalid", rollover(cid), "ee", ["root-old"], ["root-new", "ca1"], sub=NCF)
    cid = "pl-rollover-new-anchor-ok"
    c.add(cid, rsec, "With the new root as anchor the path is EE -> CA 1 -> anchor directly.", "valid", rollover(cid), "ee", ["root-new"], ["new-with-old", "ca1"])
    cid = "pl-rollover-link-pathlen0-violated"
    c.add(cid, rsec, "OldWithNew carries pathLen 0: self-issued certificates are not counted, but their pathLen still lowers max_path_length (§6.1.4(m)), so CA 1 after it fails.",
          "invalid", rollover(cid, {"pathlen": 0}), "ee", ["root-old"], ["old-with-new", "ca1"], sub=CCF)
    cid = "pl-rollover-link-pathlen1-ok"
    c.add(cid, rsec, "OldWithNew carries pathLen 1: CA 1 is the one CA allowed after it.", "valid",
          rollover(cid, {"pathlen": 1}), "ee", ["root-old"], ["old-with-new", "ca1"])
    cid = "pl-rollover-link-expired"
    c.add(cid, rsec + ", §6.1.3(a)(2)", "OldWithNew has expired at the validation time.", "invalid",
          rollover(cid, {"nb": PAST_NB, "na": PAST_NA}), "ee", ["root-old"], ["root-new", "old-with-new", "ca1"], sub=OOB)


# ---------------------------------------------------------------------------
# Bullet 5: certificate policies


def pol(initial=None, explicit=False, mapping_inhibit=False, any_inhibit=False):
    p = {
        "initial_explicit_policy": explicit,
        "initial_policy_mapping_inhibit": mapping_inhibit,
        "initial_any_policy_inhibit": any_inhibit,
    }
    if initial is not None:
        p["initial_policy_set"] = initial
    return p


def bullet_policy(c: Corpus):
    c.bullet = "policy"
    root, ee = party("Root CA"), party("End Entity")
    ca1, ca2 = party("Policy CA 1"), party("Policy CA 2")

    def chain(cid, ca1_kw, ca2_kw, ee_kw, ca2_self_issued=False):
        second = Party(ca1.name, ec_key("Policy CA 1 new key")) if ca2_self_issued else ca2
        return {
            "root": self_signed(root, cid + "/root"),
            "ca1": build(ca1, root, cid + "/ca1", ca=True, **ca1_kw),
            "ca2": build(second, ca1, cid + "/ca2", ca=True, **ca2_kw),
            "ee": build(ee, second, cid + "/ee", **ee_kw),
        }

    def add(cid, section, why, expected, ca1_kw, ca2_kw, ee_kw, policy, ca2_self_issued=False):
        certs = chain(cid, ca1_kw, ca2_kw, ee_kw, ca2_self_issued)
        c.add(cid, "RFC 5280 " + section, why, expected, certs, "ee", ["root"], ["ca1", "ca2"],
              sub=CCF if expected == "invalid" else None, policy=policy)

    p1 = {"policies": [P1]}
    p2 = {"policies": [P2]}
    anyp = {"policies": [ANY_POLICY]}
    add("pol-p1-explicit-ok", "§6.1.3(d), §6.1.5(g)", "Every certificate asserts P1; explicit policy with user set {P1} leaves a P1 leaf.", "valid", p1, p1, p1, pol([P1], True))
    add("pol-p1-default-params-ok", "§6.1.3(d), §6.1.5(g)", "Every certificate asserts P1; default inputs (any-policy, nothing explicit).", "valid", p1, p1, p1, pol())
    add("pol-no-policies-not-required-ok", "§6.1.3(e), §6.1.5(g)", "No certificate has certificatePolicies: the tree becomes NULL but explicit_policy stays above 0, so §6.1.5(g) succeeds.", "valid", {}, {}, {}, pol())
    add("pol-explicit-ee-without-policies", "§6.1.3(e), §6.1.5(g)", "initial-explicit-policy is set and the EE has no certificatePolicies: §6.1.3(e) makes the tree NULL and explicit_policy is 0.", "invalid", p1, p1, {}, pol(None, True))
    add("pol-explicit-any-set-ok", "§6.1.5(g)", "initial-explicit-policy with user set any-policy: any asserted policy (P1) satisfies it.", "valid", p1, p1, p1, pol(None, True))
    add("pol-user-set-mismatch-explicit", "§6.1.5(g)(iii)", "The path carries P1 only; user set {P2} with explicit policy: the intersection leaves the tree NULL.", "invalid", p1, p1, p1, pol([P2], True))
    add("pol-user-set-mismatch-not-explicit-ok", "§6.1.5(g)", "Same path and user set {P2} without explicit policy: §6.1.5(g) succeeds because explicit_policy is still greater than 0, even with a NULL tree.", "valid", p1, p1, p1, pol([P2], False))
    add("pol-intersection-ok", "§6.1.3(d)", "CA 1 asserts P1 and P2, CA 2 and the EE P2; user set {P2}, explicit.", "valid", {"policies": [P1, P2]}, p2, p2, pol([P2], True))
    add("pol-intersection-empty-explicit", "§6.1.3(d)(f)", "CA 1 asserts only P1, CA 2 only P2: P2 has no parent, the tree becomes NULL at CA 2; explicit policy is required.", "invalid", p1, p2, p2, pol(None, True))
    add("pol-intersection-empty-not-explicit-ok", "§6.1.3(d)(f), §6.1.5(g)", "The same disjoint policies without any explicit requirement: the tree is NULL but explicit_policy stays above 0.", "valid", p1, p2, p2, pol())
    add("pol-any-policy-intermediates-ok", "§6.1.3(d)(1)(ii), (d)(2)", "Both CAs assert anyPolicy, the EE P1; user set {P1}, explicit: P1 hangs under the anyPolicy nodes.", "valid", anyp, anyp, p1, pol([P1], True))
    add("pol-any-policy-ee-ok", "§6.1.3(d)(2), §6.1.5(g)(iii)(3)", "The EE asserts anyPolicy under P1 CAs; with user set {P1} the anyPolicy leaf yields P1 (§6.1.5(g)(iii) step 3).", "valid", p1, p1, anyp, pol([P1], True))
    # inhibitAnyPolicy
    add("pol-inhibit-any-0-ee-any", "§6.1.4(j), §6.1.3(d)(2)", "CA 1 has inhibitAnyPolicy 0; the EE asserts only anyPolicy, which is then not processed: NULL tree with explicit policy.", "invalid",
        {"policies": [P1], "inhibit_any": 0}, p1, anyp, pol(None, True))
    add("pol-inhibit-any-0-explicit-policies-ok", "§6.1.4(j)", "CA 1 has inhibitAnyPolicy 0 but every certificate asserts P1 explicitly.", "valid",
        {"policies": [P1], "inhibit_any": 0}, p1, p1, pol(None, True))
    add("pol-inhibit-any-1-next-ok", "§6.1.4(h)(j), §6.1.3(d)(2)", "CA 1 has inhibitAnyPolicy 1: CA 2's anyPolicy is still processed (inhibit_anyPolicy is 1 there), and the EE asserts P1.", "valid",
        {"policies": [P1], "inhibit_any": 1}, anyp, p1, pol([P1], True))
    add("pol-inhibit-any-1-ee-any", "§6.1.4(h)(j), §6.1.3(d)(2)", "CA 1 has inhibitAnyPolicy 1: after CA 2 the counter reaches 0, so the EE's anyPolicy is ignored.", "invalid",
        {"policies": [P1], "inhibit_any": 1}, anyp, anyp, pol(None, True))
    add("pol-inhibit-any-self-issued-ok", "§6.1.3(d)(2)(b)", "CA 1 sets inhibitAnyPolicy 0, but CA 2 is self-issued and not final, and §6.1.3(d)(2)(b) processes anyPolicy in such a certificate.", "valid",
        {"policies": [P1], "inhibit_any": 0}, anyp, p1, pol([P1], True), ca2_self_issued=True)
    add("pol-inhibit-any-not-self-issued", "§6.1.3(d)(2)", "The same chain with a CA 2 that is not self-issued: its anyPolicy is ignored and the tree is NULL.", "invalid",
        {"policies": [P1], "inhibit_any": 0}, anyp, p1, pol([P1], True))
    add("pol-initial-any-inhibit", "§6.1.1 (initial-any-policy-inhibit), §6.1.3(d)(2)", "initial-any-policy-inhibit: the CAs' anyPolicy is never processed, so the tree is NULL at CA 1.", "invalid",
        anyp, anyp, p1, pol([P1], True, any_inhibit=True))
    add("pol-initial-any-inhibit-explicit-policies-ok", "§6.1.1 (initial-any-policy-inhibit)", "initial-any-policy-inhibit with every certificate asserting P1: nothing depends on anyPolicy.", "valid",
        p1, p1, p1, pol([P1], True, any_inhibit=True))
    # policyMappings
    add("pol-mapping-ok", "§6.1.4(b)(1)", "CA 1 asserts P1 and maps P1 to P2; CA 2 and the EE assert P2; user set {P1}: the P1 node expects P2.", "valid",
        {"policies": [P1], "mappings": [(P1, P2)]}, p2, p2, pol([P1], True))
    add("pol-mapping-user-set-subject-domain", "§6.1.4(b)(1), §6.1.5(g)(iii)", "The same mapped path with user set {P2}: the surviving node's valid_policy is P1 (the issuer domain), so the intersection with {P2} is empty.", "invalid",
        {"policies": [P1], "mappings": [(P1, P2)]}, p2, p2, pol([P2], True))
    add("pol-mapping-initial-inhibit", "§6.1.1 (initial-policy-mapping-inhibit), §6.1.4(b)(2)", "initial-policy-mapping-inhibit: policy_mapping is 0, so the mapped P1 node is deleted and P2 below has no parent.", "invalid",
        {"policies": [P1], "mappings": [(P1, P2)]}, p2, p2, pol([P1], True, mapping_inhibit=True))
    add("pol-mapping-initial-inhibit-unmapped-ok", "§6.1.1 (initial-policy-mapping-inhibit)", "initial-policy-mapping-inhibit on a path without mappings: no effect.", "valid",
        p1, p1, p1, pol([P1], True, mapping_inhibit=True))
    add("pol-mapping-inhibited-by-constraint-0", "§6.1.4(i)(2), §6.1.4(b)(2)", "CA 1's policyConstraints inhibitPolicyMapping 0: CA 2's mapping P1->P2 is not applied (the node is deleted).", "invalid",
        {"policies": [P1], "policy_constraints": (None, 0)}, {"policies": [P1], "mappings": [(P1, P2)]}, p2, pol([P1], True))
    add("pol-mapping-inhibit-1-allows-next", "§6.1.4(h)(i)(2)", "CA 1's inhibitPolicyMapping 1: policy_mapping is 1 at CA 2, so CA 2 may still map P1->P2.", "valid",
        {"policies": [P1], "policy_constraints": (None, 1)}, {"policies": [P1], "mappings": [(P1, P2)]}, p2, pol([P1], True))
    add("pol-mapping-to-any-policy", "§6.1.4(a)", "CA 1 maps P1 to anyPolicy: §6.1.4(a) forbids anyPolicy as subjectDomainPolicy.", "invalid",
        {"policies": [P1], "mappings": [(P1, ANY_POLICY)]}, p1, p1, pol())
    add("pol-mapping-from-any-policy", "§6.1.4(a)", "CA 1 maps anyPolicy to P2: §6.1.4(a) forbids anyPolicy as issuerDomainPolicy.", "invalid",
        {"policies": [P1], "mappings": [(ANY_POLICY, P2)]}, p2, p2, pol())
    add("pol-mapping-any-policy-issuer-maps", "§6.1.4(b)(1)", "CA 1 asserts anyPolicy and maps P1 to P2: §6.1.4(b)(1) creates a P1 node expecting P2 under anyPolicy; the EE's P2 satisfies user set {P1}.", "valid",
        {"policies": [ANY_POLICY], "mappings": [(P1, P2)]}, p2, p2, pol([P1], True))
    # policyConstraints requireExplicitPolicy
    add("pol-require-explicit-0-ee-without", "§6.1.4(i)(1), §6.1.5(g)", "CA 1 requireExplicitPolicy 0 and the EE has no certificatePolicies.", "invalid",
        {"policies": [P1], "policy_constraints": (0, None)}, p1, {}, pol())
    add("pol-require-explicit-0-ok", "§6.1.4(i)(1)", "CA 1 requireExplicitPolicy 0 and every certificate asserts P1.", "valid",
        {"policies": [P1], "policy_constraints": (0, None)}, p1, p1, pol())
    add("pol-require-explicit-2-reaches-zero", "§6.1.4(h)(i), §6.1.5(a)", "CA 1 requireExplicitPolicy 2: CA 2 and the EE each decrement it to 0, and the EE asserts nothing.", "invalid",
        {"policies": [P1], "policy_constraints": (2, None)}, p1, {}, pol())
    add("pol-require-explicit-3-not-reached-ok", "§6.1.4(h)(i), §6.1.5(a)(g)", "CA 1 requireExplicitPolicy 3: it ends at 1 after the EE, so a NULL tree is still a success.", "valid",
        {"policies": [P1], "policy_constraints": (3, None)}, p1, {}, pol())
    add("pol-require-explicit-self-issued-not-counted-ok", "§6.1.4(h)", "CA 1 requireExplicitPolicy 2, then a self-issued CA 2 (not counted by §6.1.4(h)): explicit_policy ends at 1 with a policy-less EE.", "valid",
        {"policies": [P1], "policy_constraints": (2, None)}, {}, {}, pol(), ca2_self_issued=True)
    add("pol-require-explicit-noncritical-enforced", "§4.2.1.11, §6.1.4(i)", "A non-critical policyConstraints (a CA-side error: §4.2.1.11 says MUST be critical) is still processed by §6.1.4(i).", "invalid",
        {"policies": [P1], "policy_constraints": (0, None), "pc_critical": False}, p1, {}, pol())
    add("pol-ee-require-explicit-0", "§6.1.5(b)", "The EE itself has requireExplicitPolicy 0 and no certificatePolicies: §6.1.5(b) sets explicit_policy to 0.", "invalid",
        p1, p1, {"policy_constraints": (0, None)}, pol())
    add("pol-ee-require-explicit-0-with-policy-ok", "§6.1.5(b)", "The EE has requireExplicitPolicy 0 and asserts P1.", "valid",
        p1, p1, {"policies": [P1], "policy_constraints": (0, None)}, pol())


# ---------------------------------------------------------------------------
# Bullet 6: basic checks


def bullet_basic(c: Corpus):
    c.bullet = "basic"
    sec_time = "RFC 5280 §4.1.2.5, §6.1.3(a)(2)"

    def simple(cid, section, why, expected, sub=None, at=AT, basis=None, **kw):
        certs, parties = chain3(cid, **kw)
        add3(c, cid, section, why, expected, certs, sub=sub, at=at, basis=basis)
        return certs, parties

    simple("basic-ok", "RFC 5280 §6.1", "Root -> Intermediate -> EE, all well-formed and current.", "valid")
    rsa_root = Party(dn("RSA Root CA"), rsa_key("RSA Root CA"))
    rsa_int = Party(dn("RSA Intermediate CA"), rsa_key("RSA Intermediate CA"))
    simple("basic-rsa-chain-ok", "RFC 5280 §6.1.3(a)(1)", "RSA-2048 root and intermediate (sha256WithRSAEncryption) over a P-256 EE.", "valid", root=rsa_root, inter=rsa_int)
    cid = "basic-rsa-chain-broken-signature"
    certs, (r, i, e) = chain3(cid, root=rsa_root, inter=rsa_int)
    certs["ee"] = break_signature(certs["ee"])
    add3(c, cid, "RFC 5280 §6.1.3(a)(1)", "The RSA signature on the EE is altered.", "invalid", certs, sub=CGF)
    # Validity at each level.
    simple("basic-ee-expired", sec_time, "The EE expired before the validation time.", "invalid", sub=OOB, ee_kw={"nb": PAST_NB, "na": PAST_NA})
    simple("basic-ee-not-yet-valid", sec_time, "The EE is not yet valid at the validation time.", "invalid", sub=NYV, ee_kw={"nb": FUTURE_NB, "na": FUTURE_NA})
    simple("basic-int-expired", sec_time, "The intermediate expired before the validation time.", "invalid", sub=OOB, int_kw={"nb": PAST_NB, "na": PAST_NA})
    simple("basic-int-not-yet-valid", sec_time, "The intermediate is not yet valid at the validation time.", "invalid", sub=NYV, int_kw={"nb": FUTURE_NB, "na": FUTURE_NA})
    simple("basic-anchor-expired", "RFC 5280 §6.1, §6.1.1(d), §6.1.3(a)(2), §6.2", "Only the anchor's certificate has expired: §6.1.1(d) takes the anchor's name and key, and §6.1.3(a)(2) checks certificates 1..n, so validity of the anchor certificate is not part of §6.1 (§6.2 allows checking it as an augmentation).",
           "valid", root_kw={"nb": PAST_NB, "na": PAST_NA}, basis=ANCHOR)
    simple("basic-anchor-not-yet-valid", "RFC 5280 §6.1.1(d), §6.1.3(a)(2)", "Only the anchor's certificate is not yet valid: outside §6.1 for the same reason as basic-anchor-expired.",
           "valid", root_kw={"nb": FUTURE_NB, "na": FUTURE_NA}, basis=ANCHOR)
    simple("basic-at-not-before-ok", "RFC 5280 §4.1.2.5", "The validation time equals the EE's notBefore; the validity period is inclusive.", "valid",
           at=dt.datetime(2030, 6, 1, tzinfo=UTC), ee_kw={"nb": dt.datetime(2030, 6, 1, tzinfo=UTC)})
    simple("basic-at-not-after-ok", "RFC 5280 §4.1.2.5", "The validation time equals the EE's notAfter; 'from notBefore through notAfter, inclusive'.", "valid",
           at=dt.datetime(2030, 6, 1, tzinfo=UTC), ee_kw={"na": dt.datetime(2030, 6, 1, tzinfo=UTC)})
    simple("basic-at-one-second-after", sec_time, "The validation time is one second after the EE's notAfter.", "invalid", sub=OOB,
           at=dt.datetime(2030, 6, 1, 0, 0, 1, tzinfo=UTC), ee_kw={"na": dt.datetime(2030, 6, 1, tzinfo=UTC)})
    simple("basic-at-one-second-before", sec_time, "The validation time is one second before the EE's notBefore.", "invalid", sub=NYV,
           at=dt.datetime(2030, 5, 31, 23, 59, 59, tzinfo=UTC), ee_kw={"nb": dt.datetime(2030, 6, 1, tzinfo=UTC)})
    # Signatures.
    cid = "basic-ee-signature-broken"
    certs, _ = chain3(cid)
    certs["ee"] = break_signature(certs["ee"])
    add3(c, cid, "RFC 5280 §6.1.3(a)(1)", "One bit of the EE's signature value is flipped.", "invalid", certs, sub=CGF)
    cid = "basic-int-signature-broken"
    certs, _ = chain3(cid)
    certs["int"] = break_signature(certs["int"])
    add3(c, cid, "RFC 5280 §6.1.3(a)(1)", "One bit of the intermediate's signature value is flipped.", "invalid", certs, sub=CGF)
    cid = "basic-anchor-self-signature-broken"
    certs, _ = chain3(cid)
    certs["root"] = break_signature(certs["root"])
    add3(c, cid, "RFC 5280 §6.1.1(d)", "The anchor certificate's self-signature is broken, but the anchor is its name and key (§6.1.1(d)); §6.1.3(a)(1) verifies certificates 1..n with the working key, which the anchor supplies.",
         "valid", certs, basis=ANCHOR)
    cid = "basic-ee-signed-by-other-key"
    certs, (r, i, e) = chain3(cid)
    certs["ee"] = build(e, Party(i.name, ec_key("Unrelated key")), cid + "/ee2", aki_of=i)
    add3(c, cid, "RFC 5280 §6.1.3(a)(1)", "The EE names the intermediate as issuer, and its authorityKeyIdentifier is the intermediate's, but an unrelated key signed it.", "invalid", certs, sub=CGF)
    cid = "basic-signature-algorithm-mismatch"
    certs, (r, i, e) = chain3(cid)
    tbs, _, sig = cert_parts(certs["ee"])
    # Outer signatureAlgorithm replaced by ecdsa-with-SHA384 while the TBS says SHA-256.
    certs["ee"] = seq(tbs, ECDSA_SHA384_ALGID, sig)
    add3(c, cid, "RFC 5280 §4.1.1.2, §6.1.3(a)(1)", "The outer signatureAlgorithm (ecdsa-with-SHA384) differs from the TBS signature field (ecdsa-with-SHA256); §4.1.1.2: it 'MUST contain the same algorithm identifier'. Verifying with the outer algorithm fails §6.1.3(a)(1); with the inner one it would pass, so the mismatch check itself is a profile refusal.", "invalid", certs, sub=CGF, basis=PROFILE_REFUSED)
    # Names.
    cid = "basic-issuer-name-mismatch"
    certs, (r, i, e) = chain3(cid)
    certs["ee"] = build(e, i, cid + "/ee2", issuer_name=dn("Another Intermediate CA"))
    add3(c, cid, "RFC 5280 §6.1.3(a)(4)", "The EE's issuer name is not the intermediate's subject, although the intermediate's key signed it: names must chain.", "invalid", certs, sub=NCF)
    cid = "basic-issuer-name-casefold-ok"
    certs, (r, i, e) = chain3(cid)
    certs["ee"] = build(e, i, cid + "/ee2", issuer_name=dn("INTERMEDIATE CA", o="PATHVAL CORPUS"))
    add3(c, cid, "RFC 5280 §6.1.3(a)(4), §7.1", "The EE's issuer differs from the intermediate's subject only in letter case; §7.1 matches names after RFC 4518 preparation, which case-folds.", "valid", certs)
    # CA flags and key usage.
    simple("basic-ca-without-keycertsign", "RFC 5280 §6.1.4(n)", "The intermediate has keyUsage without keyCertSign.", "invalid", sub=CCF, int_kw={"ku": KU_CA_NO_CERTSIGN})
    simple("basic-ca-keyusage-absent-ok", "RFC 5280 §6.1.4(n), §4.2.1.3", "The intermediate has no keyUsage: §6.1.4(n) checks keyCertSign only 'if a key usage extension is present' (the CA-side MUST of §4.2.1.3 is not a §6.1 step).", "valid", int_kw={"ku": None}, basis=PROFILE_TOLERATED)
    simple("basic-ee-used-as-ca", "RFC 5280 §6.1.4(k)", "The 'intermediate' has basicConstraints cA FALSE.", "invalid", sub=CCF, int_kw={"ca": False, "ku": KU_CA})
    simple("basic-ca-basic-constraints-absent", "RFC 5280 §6.1.4(k)", "The intermediate has no basicConstraints, so it cannot be a CA in a path.", "invalid", sub=CCF, int_kw={"ca": None, "ku": KU_CA})
    simple("basic-final-cert-is-ca-ok", "RFC 5280 §6.1.5", "The final certificate has cA TRUE; §6.1.5 sets no condition on the final certificate's basicConstraints.", "valid", ee_kw={"ca": True})
    cid = "basic-v1-intermediate"
    certs, (r, i, e) = chain3(cid)
    certs["int"] = to_v1(certs["int"], r.key)
    add3(c, cid, "RFC 5280 §6.1.4(k)", "A version 1 intermediate: §6.1.4(k) requires a version 3 certificate with basicConstraints cA TRUE.", "invalid", certs, sub=CCF)
    cid = "basic-v1-anchor-ok"
    certs, (r, i, e) = chain3(cid)
    certs["root"] = to_v1(certs["root"], r.key)
    add3(c, cid, "RFC 5280 §6.1.1(d)", "A version 1 self-signed anchor: only its name and key are used (§6.1.1(d)).", "valid", certs, basis=ANCHOR)
    cid = "basic-v1-ee-ok"
    certs, (r, i, e) = chain3(cid)
    certs["ee"] = to_v1(certs["ee"], i.key)
    add3(c, cid, "RFC 5280 §6.1.3, §6.1.5", "A version 1 EE: no step of §6.1.3 or §6.1.5 needs the final certificate to be v3.", "valid", certs)
    simple("basic-anchor-not-ca-refused", "RFC 5280 §6.1.1(d)", "The anchor's certificate has cA FALSE: the anchor is name and key, its extensions are not processed by §6.1.", "valid",
           root_kw={"ca": False, "ku": KU_CA}, basis=ANCHOR)
    cid = "basic-ee-self-signed-untrusted"
    ee = party("End Entity")
    certs = {"root": self_signed(party("Root CA"), cid + "/root"), "ee": build(ee, ee, cid + "/ee")}
    c.add(cid, "RFC 5280 §6.1", "A self-signed EE that is not an anchor.", "invalid", certs, "ee", ["root"], [], sub=NCF)
    cid = "basic-direct-from-anchor-ok"
    r, e = party("Root CA"), party("End Entity")
    certs = {"root": self_signed(r, cid + "/root"), "ee": build(e, r, cid + "/ee")}
    c.add(cid, "RFC 5280 §6.1", "A path of one certificate, issued by the anchor.", "valid", certs, "ee", ["root"], [])


# Where this project's validator decides otherwise than §6.1 alone, and why (README.md,
# "Decisions"): the issue asks for the criticality rules RFC 5280 states as MUSTs to be
# enforced (a §6.2 augmentation), for unknown critical extensions to be refused in root
# certificates too, and a trust anchor certificate's constraints are applied as RFC 5937
# describes. Each entry: expected verdict, sub-indication, basis, sentence added to "why".
DECISIONS = {
    "nc-noncritical-compliant-refused": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: nameConstraints MUST be critical (§4.2.1.10); a non-critical one is refused (§6.2), whatever the names."),
    "nc-noncritical-still-enforced": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: refused already for the non-critical nameConstraints (§4.2.1.10 MUST)."),
    "ext-bc-noncritical-ca-refused": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: basicConstraints MUST be critical in a CA certificate whose key verifies certificates (§4.2.1.9); refused (§6.2)."),
    "ext-aki-critical-refused": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: authorityKeyIdentifier MUST be non-critical (§4.2.1.1); refused (§6.2)."),
    "ext-ee-empty-subject-noncritical-san-refused": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: with an empty subject, subjectAltName MUST be critical (§4.2.1.6); refused (§6.2)."),
    "pol-require-explicit-noncritical-enforced": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: policyConstraints MUST be critical (§4.2.1.11); refused (§6.2)."),
    "ext-unknown-critical-anchor": ("invalid", CCF, ANCHOR,
        "Decision: the trust anchor's certificate is checked like any other for critical extensions it does not recognise (§4.2; the issue asks it of roots too)."),
    "nc-in-trust-anchor-applied": ("invalid", CCF, ANCHOR,
        "Decision: the nameConstraints of the trust anchor's certificate are applied as an RFC 5937 §3 input."),
    "pl-anchor-pathlen-applied": ("invalid", CCF, ANCHOR,
        "Decision: the pathLenConstraint of the trust anchor's certificate is applied as an RFC 5937 §3 input."),
    "basic-anchor-not-ca-refused": ("invalid", CCF, ANCHOR,
        "Decision: a version 3 trust anchor certificate that says it is not a CA (cA FALSE) is not taken as a CA's (RFC 5937 §3)."),
    "pb-aki-mismatch-refused": ("invalid", NCF, PROFILE_REFUSED,
        "Decision: an authorityKeyIdentifier that contradicts the only candidate's subjectKeyIdentifier means it is not the issuer, as OpenSSL and pyHanko also decide (§4.2.1.1; §6.2)."),
    "nc-san-not-der": ("invalid", CGF, PROFILE_REFUSED,
        "Decision: a malformed extension makes a malformed certificate (CERTIFICATE_CHAIN_GENERAL_FAILURE)."),
    "ext-unknown-critical-ee": ("invalid", CCF, None, None),
    "nc-in-ee-refused": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: a rule of RFC 5280 not met by a well-formed certificate is a constraint failure (CHAIN_CONSTRAINTS_FAILURE)."),
    "ext-ca-empty-subject": ("invalid", CCF, PROFILE_REFUSED,
        "Decision: a rule of RFC 5280 not met by a well-formed certificate is a constraint failure (CHAIN_CONSTRAINTS_FAILURE)."),
    "nc-exhaustion-large-last-name-outside": ("invalid", None, None,
        "Any refusal is right: the constraints, a work limit or a size limit (this EE is larger than the validator's default certificate size limit)."),
}


def apply_decisions(corpus: Corpus) -> None:
    seen = set()
    for case in corpus.cases:
        decision = DECISIONS.get(case["id"])
        if decision is None:
            continue
        seen.add(case["id"])
        expected, sub, basis, why = decision
        case["expected"] = expected
        if sub:
            case["expected_sub_indication"] = sub
        else:
            case.pop("expected_sub_indication", None)
        if basis:
            case["basis"] = basis
        if why:
            case["why"] = f"{case['why']} {why}"
    assert seen == set(DECISIONS), set(DECISIONS) - seen


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "corpus")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    corpus = Corpus(args.out)
    bullet_name_constraints(corpus)
    bullet_extensions(corpus)
    bullet_path_building(corpus)
    bullet_path_length(corpus)
    bullet_policy(corpus)
    bullet_basic(corpus)
    apply_decisions(corpus)
    manifest = {
        "format": "pathval-corpus/1",
        "generator": "gen_corpus.py",
        "paths_relative_to": "the folder holding this manifest",
        "cases": corpus.cases,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    counts: dict[str, dict[str, int]] = {}
    for case in corpus.cases:
        counts.setdefault(case["bullet"], {"valid": 0, "invalid": 0})[case["expected"]] += 1
    print(f"{len(corpus.cases)} cases")
    for bullet, n in counts.items():
        print(f"  {bullet}: {n['valid']} valid, {n['invalid']} invalid")
    # The issue asks for a positive and a negative case per bullet.
    lacking = [b for b, n in counts.items() if not (n["valid"] and n["invalid"])]
    if lacking:
        raise SystemExit(f"bullets without both verdicts: {lacking}")


if __name__ == "__main__":
    main()

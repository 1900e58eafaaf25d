#!/usr/bin/env python3
"""Runs every case of corpus/manifest.json through pyhanko-certvalidator as a second opinion.

Revocation checking is off, the validation time is the case's `at` (with no tolerance: the
corpus tests the exact boundaries of the validity period), and the case's policy inputs
become PKIXValidationParams. Writes pyhanko_verdicts.json beside this script:
{id: {"verdict": "valid"|"invalid", "reason": str}}, prints a summary and the cases where
pyHanko's verdict differs from `expected`.

A disagreement is data, not a failure: the exit status is 0 unless this script breaks
(missing manifest, pyHanko not installed, ...).

Usage: python pyhanko_check.py [--corpus DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from asn1crypto import pem, x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.policy_decl import NO_REVOCATION, CertRevTrustPolicy, PKIXValidationParams

ANY_POLICY = "2.5.29.32.0"


def load(folder: Path, rel: str) -> x509.Certificate:
    data = (folder / rel).read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def pkix_params(policy: dict | None) -> PKIXValidationParams:
    policy = policy or {}
    initial = policy.get("initial_policy_set")
    if initial is None:
        policy_set = frozenset(["any_policy"])
    else:
        # asn1crypto names anyPolicy 'any_policy' and leaves other OIDs dotted.
        policy_set = frozenset("any_policy" if oid == ANY_POLICY else oid for oid in initial)
    return PKIXValidationParams(
        user_initial_policy_set=policy_set,
        initial_explicit_policy=bool(policy.get("initial_explicit_policy", False)),
        initial_policy_mapping_inhibit=bool(policy.get("initial_policy_mapping_inhibit", False)),
        initial_any_policy_inhibit=bool(policy.get("initial_any_policy_inhibit", False)),
    )


async def run_case(folder: Path, case: dict) -> dict:
    try:
        ee = load(folder, case["ee"])
        anchors = [CertTrustAnchor(load(folder, a)) for a in case["anchors"]]
        untrusted = [load(folder, u) for u in case["untrusted"]]
        at = dt.datetime.fromisoformat(case["at"].replace("Z", "+00:00"))
        context = ValidationContext(
            trust_roots=anchors,
            other_certs=untrusted,
            moment=at,
            revinfo_policy=CertRevTrustPolicy(NO_REVOCATION),
            time_tolerance=dt.timedelta(0),
        )
        validator = CertificateValidator(ee, validation_context=context, pkix_params=pkix_params(case.get("policy")))
        path = await validator.async_validate_path()
        return {"verdict": "valid", "reason": f"path of {path.pkix_len} certificate(s)"}
    except Exception as error:  # every refusal, typed or not, is an 'invalid' verdict
        reason = f"{type(error).__name__}: {error}".replace("\n", " ")
        return {"verdict": "invalid", "reason": reason[:500]}


def main() -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=here / "corpus")
    parser.add_argument("--out", type=Path, default=here / "pyhanko_verdicts.json")
    args = parser.parse_args()
    # pyHanko logs each refusal; the verdict file already holds the reasons.
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    manifest = json.loads((args.corpus / "manifest.json").read_text())
    out = args.out

    verdicts: dict[str, dict] = {}
    for case in manifest["cases"]:
        verdicts[case["id"]] = asyncio.run(run_case(args.corpus, case))
    out.write_text(json.dumps(verdicts, indent=1, sort_keys=True) + "\n")

    disagreements = [c for c in manifest["cases"] if verdicts[c["id"]]["verdict"] != c["expected"]]
    per_bullet: dict[str, list[int]] = {}
    for case in manifest["cases"]:
        tally = per_bullet.setdefault(case["bullet"], [0, 0])
        tally[1] += 1
        if verdicts[case["id"]]["verdict"] == case["expected"]:
            tally[0] += 1
    total = len(manifest["cases"])
    print(f"pyHanko agrees on {total - len(disagreements)} of {total} cases")
    for bullet, (agree, n) in per_bullet.items():
        print(f"  {bullet}: {agree}/{n}")
    if disagreements:
        print("disagreements (expected -> pyHanko):")
        for case in disagreements:
            v = verdicts[case["id"]]
            print(f"  {case['id']}: {case['expected']} -> {v['verdict']} ({v['reason'][:160]})")
    print(f"verdicts written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Validate every signature and document time-stamp of a PDF with pyHanko,
with one root as the only trust anchor.

    pyhanko_validate.py PDF --root ROOT.pem [--other-certs CERTS.pem ...]
                        [--offline] [--validation-time ISO8601]
                        [--revocation require|none] [--expect-level LEVEL]
                        [--bench N]

Signatures are validated with pyHanko's AdES engine,
`pyhanko.sign.validation.ades.ades_lta_validation` (ETSI EN 319 102-1 §5.6.3,
what `pyhanko sign adesverify` runs and what replaced the removed
`validate_pdf_ltv_signature(..., RevocationInfoValidationType.PADES_LTA)`
behind the old `--ltv-profile pades-lta`). It reads the DSS and the chain of
document time-stamps itself, so the same call serves B-B to B-LTA. Each
document time-stamp is also validated on its own
(`async_validate_pdf_timestamp`) against a context preloaded from the DSS.

--offline: nothing is fetched; revocation information and certificates come
from the file only (DSS, CMS, time-stamp tokens). --revocation none skips
revocation checks (only to compare with a validator configured the same way;
pyHanko's LTA procedure cannot work without revocation data, so B-LTA fails).
--expect-level: also fail unless the PAdES level found in the file, per
signature, is exactly LEVEL (B-B, B-T, B-LT, B-LTA).

Prints one JSON object: {"pyhanko": version, "signatures": [...], "ok": bool};
exit 0 only if every signature and time-stamp passed (and matched
--expect-level), 1 otherwise, 2 on usage errors.

--bench N: after one checked validation, validate the whole file N more times
in-process (fresh reader and contexts each time, file bytes kept in memory)
and add {"bench": {"iterations", "seconds", "validations_per_second"}}.
"""

import argparse
import asyncio
import dataclasses
import importlib.metadata
import io
import json
import sys
import time
import traceback
from datetime import datetime, timezone

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Validate PDF signatures with pyHanko.")
    parser.add_argument("pdf")
    parser.add_argument("--root", required=True, help="the only trust anchor, PEM or DER")
    parser.add_argument(
        "--other-certs",
        action="append",
        default=[],
        help="untrusted certificates that may help path building",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="no fetching: revocation information from the file only",
    )
    parser.add_argument("--validation-time", help="ISO 8601 time to validate at (default: now)")
    parser.add_argument("--revocation", choices=("require", "none"), default="require")
    parser.add_argument("--expect-level", choices=LEVELS)
    parser.add_argument(
        "--profile",
        choices=("auto", "basic", "with-time", "lta"),
        default="auto",
        help="AdES procedure; auto picks it from the level found in the file",
    )
    parser.add_argument(
        "--no-diff-analysis", action="store_true", help="skip the incremental-update analysis"
    )
    parser.add_argument("--bench", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    if args.bench < 0:
        parser.error("--bench must not be negative")
    return args


class Settings:
    """Everything that does not depend on the file, built once."""

    def __init__(self, args):
        from pyhanko.keys import load_certs_from_pemder
        from pyhanko.pdf_utils.misc import isoparse
        from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
        from pyhanko_certvalidator.context import CertValidationPolicySpec
        from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
        from pyhanko_certvalidator.policy_decl import (
            NO_REVOCATION,
            REQUIRE_REVINFO,
            CertRevTrustPolicy,
            FreshnessReqType,
        )
        from pyhanko_certvalidator.registry import SimpleTrustManager

        self.roots = list(load_certs_from_pemder([args.root]))
        if not self.roots:
            raise ValueError(f"no certificate in {args.root}")
        self.other_certs = list(load_certs_from_pemder(args.other_certs))
        self.offline = args.offline
        self.revocation = args.revocation
        self.profile = args.profile
        self.diff_policy = None if args.no_diff_analysis else DEFAULT_DIFF_POLICY
        if args.validation_time:
            moment = isoparse(args.validation_time)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            self.moment = moment
        else:
            self.moment = None
        self.ValidationTimingInfo = ValidationTimingInfo
        if args.revocation == "none":
            rev_policy = CertRevTrustPolicy(NO_REVOCATION)
        else:
            # Same as `pyhanko sign adesverify`: revocation information is
            # required for every certificate below the anchor.
            rev_policy = CertRevTrustPolicy(
                REQUIRE_REVINFO,
                freshness=None,
                freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
            )
        self.cert_policy = CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=self.roots),
            revinfo_policy=rev_policy,
        )

    def timing_info(self):
        if self.moment is None:
            return self.ValidationTimingInfo.now()
        return self.ValidationTimingInfo(self.moment, self.moment, point_in_time_validation=True)

    def pdf_spec(self):
        from pyhanko.sign.validation.policy_decl import (
            CertificateFetchingRule,
            LocalKnowledge,
            PdfSignatureValidationSpec,
            RevinfoOnlineFetchingRule,
            RevocationInfoGatheringSpec,
            SignatureValidationSpec,
        )

        if self.offline:
            gathering = RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            )
        else:
            gathering = RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH
            )
        return PdfSignatureValidationSpec(
            signature_validation_spec=SignatureValidationSpec(
                cert_validation_policy=self.cert_policy,
                revinfo_gathering_policy=gathering,
                local_knowledge=LocalKnowledge(known_certs=list(self.other_certs)),
            ),
            diff_policy=self.diff_policy,
        )

    def timestamp_context(self, reader, fetcher_backend):
        """Context for a document time-stamp: our root, DSS content preloaded."""
        from pyhanko.sign.validation.dss import DocumentSecurityStore
        from pyhanko_certvalidator import ValidationContext
        from pyhanko_certvalidator.policy_decl import NO_REVOCATION, CertRevTrustPolicy

        kwargs = {
            "trust_roots": self.roots,
            "other_certs": list(self.other_certs),
            "allow_fetching": fetcher_backend is not None,
        }
        if fetcher_backend is not None:
            kwargs["fetcher_backend"] = fetcher_backend
        if self.moment is not None:
            kwargs["moment"] = self.moment
        if self.revocation == "none":
            kwargs["revinfo_policy"] = CertRevTrustPolicy(NO_REVOCATION)
        else:
            kwargs["revocation_mode"] = "require"
        dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
        if dss is None:
            return ValidationContext(**kwargs)
        return dss.as_validation_context(kwargs)


def enum_name(value):
    return None if value is None else getattr(value, "name", str(value))


def iso(value):
    return value.isoformat() if isinstance(value, datetime) else None


def has_signature_timestamp(embedded_sig) -> bool:
    from asn1crypto import cms

    unsigned = embedded_sig.signer_info["unsigned_attrs"]
    # Only the attribute types are read: .native on the whole set would
    # parse every token in depth and cost more than the validation.
    if not isinstance(unsigned, cms.CMSAttributes):
        return False
    return any(attr["type"].native == "signature_time_stamp_token" for attr in unsigned)


def detect_level(reader, embedded_sig) -> str:
    """The PAdES baseline level the file carries for this signature:
    B-T if the CMS has a signature time-stamp, B-LT if moreover a DSS with
    revocation data exists after it, B-LTA if a document time-stamp covers
    that DSS. Whether the material is complete is for validation to say."""
    if not has_signature_timestamp(embedded_sig):
        return "B-B"
    root = reader.root
    if "/DSS" not in root:
        return "B-T"
    dss = root["/DSS"]
    if "/OCSPs" not in dss and "/CRLs" not in dss:
        return "B-T"
    sig_end = embedded_sig.signed_revision
    for ts in reader.embedded_timestamp_signatures:
        # A time-stamp revision after the signature's; the DSS added in
        # between (or by the same update) is then covered.
        if ts.signed_revision > sig_end:
            return "B-LTA"
    return "B-LT"


PROFILE_FOR_LEVEL = {"B-B": "basic", "B-T": "with-time", "B-LT": "with-time", "B-LTA": "lta"}


def dss_local_knowledge(reader, settings):
    """Certificates, OCSP responses and CRLs of the DSS as pyHanko local knowledge
    (what ades_lta_validation does itself; the basic and with-time procedures
    do not read the DSS)."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.pdf_utils.decode_limits import DecodePurpose
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.policy_decl import LocalKnowledge
    from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

    certs = list(settings.other_certs)
    if "/DSS" not in reader.root:
        return LocalKnowledge(known_certs=certs)
    dss = DocumentSecurityStore.read_dss(reader)
    ocsps = [
        container
        for ref in dss.ocsps
        for container in OCSPContainer.load_multi(
            asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
        )
    ]
    crls = [
        CRLContainer(asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)))
        for ref in dss.crls
    ]
    return LocalKnowledge(
        known_ocsps=ocsps, known_crls=crls, known_certs=certs + list(dss.load_certs())
    )


def run_profile(profile, reader, embedded_sig, settings):
    from pyhanko.sign.validation.ades import (
        ades_basic_validation,
        ades_lta_validation,
        ades_with_time_validation,
    )
    from pyhanko.sign.validation.status import PdfSignatureStatus

    pdf_spec = settings.pdf_spec()
    timing_info = settings.timing_info()
    if profile == "lta":
        return asyncio.run(ades_lta_validation(embedded_sig, pdf_spec, timing_info=timing_info))
    spec = dataclasses.replace(
        pdf_spec.signature_validation_spec,
        local_knowledge=dss_local_knowledge(reader, settings),
    )
    common = {
        "timing_info": timing_info,
        "raw_digest": embedded_sig.compute_digest(),
    }
    if profile == "basic":
        # pyHanko 0.38 quirk: ades_basic_validation ignores status_cls (it
        # always builds a StandardCMSSignatureStatus), so the PDF integrity
        # fields cannot go in; signature_report adds them from the signature.
        return asyncio.run(ades_basic_validation(embedded_sig.signed_data, spec, **common))
    return asyncio.run(
        ades_with_time_validation(
            embedded_sig.signed_data,
            spec,
            extra_status_kwargs=embedded_sig.summarise_integrity_info(),
            status_cls=PdfSignatureStatus,
            **common,
        )
    )


def modification_level(integrity):
    """None when the diff analysis was skipped; OTHER for a suspicious change."""
    from pyhanko.sign.diff_analysis import ModificationLevel

    diff_result = integrity.get("diff_result")
    if diff_result is None:
        return None
    return getattr(diff_result, "modification_level", ModificationLevel.OTHER)


def acceptable_coverage(integrity, diff_skipped: bool) -> bool:
    """The whole file, or the revision it signed plus changes the diff policy
    classed as harmless for a PAdES signature (DSS and time-stamps, form fill)."""
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    coverage = integrity.get("coverage")
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return True
    if coverage != SignatureCoverageLevel.ENTIRE_REVISION:
        return False
    level = modification_level(integrity)
    if diff_skipped:
        return True
    return level is not None and level <= ModificationLevel.FORM_FILLING


def signature_report(reader, embedded_sig, settings):
    level = detect_level(reader, embedded_sig)
    profile = PROFILE_FOR_LEVEL[level] if settings.profile == "auto" else settings.profile
    entry = {
        "field": embedded_sig.field_name,
        "kind": "signature",
        "pades_level_found": level,
        "profile": profile,
    }
    embedded_sig.compute_integrity_info(
        diff_policy=settings.diff_policy, skip_diff=settings.diff_policy is None
    )
    integrity = embedded_sig.summarise_integrity_info()
    result = run_profile(profile, reader, embedded_sig, settings)
    status = result.api_status
    indication = type(result.ades_subindic).__name__  # AdESPassed / AdESIndeterminate / AdESFailure
    entry.update(
        {
            "ades_indication": {
                "AdESPassed": "TOTAL-PASSED",
                "AdESIndeterminate": "INDETERMINATE",
                "AdESFailure": "TOTAL-FAILED",
            }.get(indication, indication),
            "ades_subindication": enum_name(result.ades_subindic),
            "failure": result.failure_msg,
            "best_signature_time": iso(getattr(result, "best_signature_time", None)),
            "oldest_evidence_record_timestamp": iso(
                getattr(result, "oldest_evidence_record_timestamp", None)
            ),
        }
    )
    ts_trusted = None
    if status is not None:
        timestamp_validity = getattr(status, "timestamp_validity", None)
        ts_trusted = timestamp_validity.trusted if timestamp_validity is not None else None
        entry.update(
            {
                "signer": status.signing_cert.subject.human_friendly,
                "intact": status.intact,
                "valid": status.valid,
                "trusted": status.trusted,
                "revoked": status.revoked,
                "coverage": enum_name(integrity.get("coverage")),
                "modification_level": enum_name(modification_level(integrity)),
                "docmdp_ok": integrity.get("docmdp_ok"),
                "signature_timestamp_trusted": ts_trusted,
                "bottom_line": status.bottom_line,
            }
        )
    passed = (
        indication == "AdESPassed"
        and status is not None
        and status.bottom_line
        and integrity.get("docmdp_ok") is not False
        and acceptable_coverage(integrity, settings.diff_policy is None)
    )
    if profile != "basic" and level != "B-B":
        # At B-T and above the signature time-stamp must itself be trusted.
        passed = passed and ts_trusted is True
    entry["pass"] = bool(passed)
    return entry


def timestamp_report(reader, embedded_ts, settings):
    from pyhanko.sign.validation import async_validate_pdf_timestamp
    from pyhanko.sign.validation.status import ModificationLevel
    from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

    async def run():
        backend = None if settings.offline else AIOHttpFetcherBackend()
        try:
            return await async_validate_pdf_timestamp(
                embedded_ts,
                validation_context=settings.timestamp_context(reader, backend),
                diff_policy=settings.diff_policy,
                skip_diff=settings.diff_policy is None,
            )
        finally:
            if backend is not None:
                await backend.close()

    status = asyncio.run(run())
    # Later signatures (form filling) and DSS/time-stamp updates may follow a
    # document time-stamp; anything beyond that may not.
    acceptable_changes = (
        ModificationLevel.NONE,
        ModificationLevel.LTA_UPDATES,
        ModificationLevel.FORM_FILLING,
    )
    if settings.diff_policy is None:
        acceptable_changes += (None,)
    return {
        "field": embedded_ts.field_name,
        "kind": "document-timestamp",
        "timestamp": iso(status.timestamp),
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "revoked": status.revoked,
        "coverage": enum_name(status.coverage),
        "modification_level": enum_name(status.modification_level),
        "pass": bool(
            status.intact
            and status.valid
            and status.trusted
            and status.modification_level in acceptable_changes
        ),
    }


def validate_file(data: bytes, settings, expect_level=None):
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(data))
    reports = []
    for embedded_sig in reader.embedded_signatures:
        try:
            if embedded_sig.sig_object_type == "/DocTimeStamp":
                report = timestamp_report(reader, embedded_sig, settings)
            else:
                report = signature_report(reader, embedded_sig, settings)
                if expect_level is not None and report["pades_level_found"] != expect_level:
                    report["pass"] = False
                    report["failure"] = (
                        f"expected {expect_level}, file carries {report['pades_level_found']}"
                    )
        except Exception as error:  # noqa: BLE001 - one broken signature must not hide the others
            report = {
                "field": embedded_sig.field_name,
                "pass": False,
                "error": f"{type(error).__name__}: {error}",
            }
        reports.append(report)
    return reports


def main(argv=None) -> int:
    args = parse_args(argv)
    output = {"pyhanko": importlib.metadata.version("pyhanko"), "file": args.pdf}
    try:
        settings = Settings(args)
        with open(args.pdf, "rb") as f:
            data = f.read()
        reports = validate_file(data, settings, args.expect_level)
    except Exception as error:  # noqa: BLE001 - unreadable file or settings
        output.update({"ok": False, "error": f"{type(error).__name__}: {error}"})
        print(json.dumps(output, ensure_ascii=False))
        traceback.print_exc(file=sys.stderr)
        return 1
    output["signatures"] = reports
    ok = bool(reports) and all(r["pass"] for r in reports)
    if not reports:
        output["error"] = "no signature in the file"
    output["ok"] = ok
    if ok and args.bench:
        start = time.perf_counter()
        for _ in range(args.bench):
            again = validate_file(data, settings, args.expect_level)
            if not all(r["pass"] for r in again):
                output["ok"] = ok = False
                output["error"] = "a benchmark iteration did not pass"
                break
        seconds = time.perf_counter() - start
        output["bench"] = {
            "iterations": args.bench,
            "seconds": round(seconds, 4),
            "validations_per_second": round(args.bench / seconds, 2),
            "offline": args.offline,
        }
    print(json.dumps(output, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

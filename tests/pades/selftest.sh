#!/usr/bin/env bash
# End-to-end check of the pyHanko scripts without the Rust signer: a throwaway
# hierarchy, TSA (openssl ts -reply) and OCSP responder on 127.0.0.1, then
# sign/validate at every level, the negative cases, and the benchmark figures.
#
#   tests/pades/selftest.sh            (BENCH_N=20 validations per benchmark)
#   BENCH_N=100 SELFTEST_LARGE=1 tests/pades/selftest.sh
#
# SELFTEST_LARGE=1 also writes and checks the 50 MiB and 200 MiB inputs.
# Uses $PYTHON, else the repository's .venv/bin/python (scripts/install-deps.sh test).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
bench_n=${BENCH_N:-20}
if ! "$py" -c "import pyhanko.sign" 2>/dev/null; then
  echo "pyHanko is not importable by $py (run scripts/install-deps.sh test)" >&2
  exit 1
fi
export PYTHONWARNINGS=ignore

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
# expect RC NAME CMD...: run CMD, its output in $work/log/NAME, count a pass
# when it exits with RC (0, or 1 for the cases that must be refused).
mkdir -p "$work/log"
expect() {
  local want=$1 name=$2
  shift 2
  "$@" >"$work/log/$name.out" 2>"$work/log/$name.err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name (exit $rc, wanted $want)"
    tail -n 5 "$work/log/$name.out" "$work/log/$name.err" | sed 's/^/      /'
  fi
}

# refuse NAME PATTERN CMD...: CMD must exit 1 and its JSON must show PATTERN
# (the reason), so a crash cannot pass for a refusal.
refuse() {
  local name=$1 pattern=$2
  shift 2
  "$@" >"$work/log/$name.out" 2>"$work/log/$name.err"
  local rc=$?
  if [ "$rc" -eq 1 ] && grep -Eq "$pattern" "$work/log/$name.out"; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name (exit $rc, wanted 1 with /$pattern/)"
    tail -n 5 "$work/log/$name.out" "$work/log/$name.err" | sed 's/^/      /'
  fi
}

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
pki="$work/pki"
"$py" "$here/selftest_pki.py" "$pki" "$base" >/dev/null || exit 1
"$py" "$here/selftest_server.py" "$pki" "$port" --max-requests 5000 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  "$py" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null && break
  sleep 0.1
done

# --- test PDFs: each must open in pyHanko and pass qpdf --check
pdf="$work/pdf"
mkdir -p "$pdf"
opens() {
  "$py" -c "
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
with open(sys.argv[1], 'rb') as f:
    r = PdfFileReader(f)
    assert int(r.root['/Pages']['/Count']) == int(sys.argv[2]), 'page count'
" "$1" "$2" || return 1
  if command -v qpdf >/dev/null; then qpdf --check "$1" >/dev/null || return 1; fi
}
make_and_check() {
  local name=$1 pages=$2
  shift 2
  expect 0 "make-$name" python3 "$here/make_pdf.py" "$pdf/$name.pdf" --pages "$pages" "$@"
  expect 0 "opens-$name" opens "$pdf/$name.pdf" "$pages"
}
make_and_check p1 1
make_and_check p100 100
make_and_check xref 3 --xref-stream
make_and_check pad2 2 --size-mb 2
expect 0 "make-deterministic" bash -c "python3 '$here/make_pdf.py' '$work/again.pdf' --pages 1 2>/dev/null && cmp '$work/again.pdf' '$pdf/p1.pdf'"
if [ "${SELFTEST_LARGE:-0}" = 1 ]; then
  make_and_check pad50 1 --size-mb 50
  make_and_check pad200 1 --size-mb 200 --xref-stream
fi
command -v qpdf >/dev/null || echo "note: qpdf not installed, PDFs checked with pyHanko only"

# --- signing at each level, then validation with our root only
signed="$work/signed"
mkdir -p "$signed"
sign() {  # sign IN OUT LEVEL [extra...]
  local in=$1 out=$2 level=$3
  shift 3
  "$py" "$here/pyhanko_sign.py" "$in" "$out" --key "$pki/signer.key" --cert "$pki/signer.pem" \
    --chain "$pki/chain.pem" --level "$level" --tsa "$base/tsa" --root "$pki/root.pem" \
    --reason "Ordonnance" "$@"
}
validate() {  # validate FILE [extra...]
  local file=$1
  shift
  "$py" "$here/pyhanko_validate.py" "$file" --root "$pki/root.pem" "$@"
}
for doc in p1 p100 xref; do
  for level in B-B B-T B-LT B-LTA; do
    expect 0 "sign-$doc-$level" sign "$pdf/$doc.pdf" "$signed/$doc-$level.pdf" "$level"
    expect 0 "validate-$doc-$level" validate "$signed/$doc-$level.pdf" --expect-level "$level"
  done
  # Long-term levels validate from what they embed; B-B and B-T cannot.
  expect 0 "offline-$doc-B-LT" validate "$signed/$doc-B-LT.pdf" --offline --expect-level B-LT
  expect 0 "offline-$doc-B-LTA" validate "$signed/$doc-B-LTA.pdf" --offline --expect-level B-LTA
  refuse "offline-refused-$doc-B-B" '"trusted": false' validate "$signed/$doc-B-B.pdf" --offline
  refuse "offline-refused-$doc-B-T" '"trusted": false' validate "$signed/$doc-B-T.pdf" --offline
done
expect 0 "sign-field-name" sign "$pdf/p1.pdf" "$signed/named.pdf" B-T --field Prescription --location Besancon
expect 0 "validate-field-name" bash -c "'$py' '$here/pyhanko_validate.py' '$signed/named.pdf' --root '$pki/root.pem' | grep -q '\"field\": \"Prescription\"'"
# A second signature on top of a B-LTA file: both must still validate.
expect 0 "sign-second" sign "$signed/p1-B-LTA.pdf" "$signed/two.pdf" B-LT --field Signature2
expect 0 "validate-second" validate "$signed/two.pdf"
# Revocation information given instead of fetched.
fetch_ocsp() {  # fetch_ocsp CERT_NAME OUT: ask the responder named in the certificate's AIA
  "$py" - "$pki" "$1" "$2" <<'EOF'
import sys, urllib.request
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
pki, name, out = sys.argv[1:4]
load = lambda n: x509.load_pem_x509_certificate(open(f"{pki}/{n}.pem", "rb").read())
cert = load(name)
req = ocsp.OCSPRequestBuilder().add_certificate(cert, load("sub"), hashes.SHA256()).build()
aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
url = next(d.access_location.value for d in aia if d.access_method == x509.AuthorityInformationAccessOID.OCSP)
request = urllib.request.Request(url, req.public_bytes(serialization.Encoding.DER),
                                 {"Content-Type": "application/ocsp-request"})
open(out, "wb").write(urllib.request.urlopen(request, timeout=10).read())
EOF
}
expect 0 "fetch-ocsp-signer" fetch_ocsp signer "$work/signer-ocsp.der"
expect 0 "fetch-ocsp-tsa" fetch_ocsp tsa "$work/tsa-ocsp.der"
# Every piece given (OCSP for signer and TSA, the root's CRL for the issuing CA), nothing fetched.
expect 0 "sign-B-LT-given-revinfo" sign "$pdf/p1.pdf" "$signed/given.pdf" B-LT --no-fetch \
  --ocsp "$work/signer-ocsp.der" --ocsp "$work/tsa-ocsp.der" --crl "$pki/root.crl"
expect 0 "offline-B-LT-given-revinfo" validate "$signed/given.pdf" --offline --expect-level B-LT

# --- cases that must be refused
refuse "refuse-other-root" NO_CERTIFICATE_CHAIN_FOUND "$py" "$here/pyhanko_validate.py" "$signed/p1-B-LTA.pdf" --root "$pki/other_root.pem"
refuse "refuse-level-mismatch" "expected B-LTA, file carries B-LT" validate "$signed/p1-B-LT.pdf" --expect-level B-LTA
expect 0 "tamper-flip" "$py" "$here/selftest_tamper.py" "$signed/p1-B-T.pdf" "$work/flipped.pdf" --flip
refuse "refuse-flipped" '"intact": false' validate "$work/flipped.pdf"
expect 0 "tamper-update" "$py" "$here/selftest_tamper.py" "$signed/p1-B-LTA.pdf" "$work/updated.pdf" --update-content
refuse "refuse-content-update" '"modification_level": "OTHER"' validate "$work/updated.pdf"
refuse "refuse-sign-revoked-B-LT" RevokedError "$py" "$here/pyhanko_sign.py" "$pdf/p1.pdf" "$work/revoked-lt.pdf" \
  --key "$pki/revoked.key" --cert "$pki/revoked.pem" --chain "$pki/chain.pem" --level B-LT \
  --tsa "$base/tsa" --root "$pki/root.pem"
expect 0 "sign-revoked-B-B" "$py" "$here/pyhanko_sign.py" "$pdf/p1.pdf" "$work/revoked-bb.pdf" \
  --key "$pki/revoked.key" --cert "$pki/revoked.pem" --chain "$pki/chain.pem" --level B-B
refuse "refuse-revoked-B-B" '"revoked": true' validate "$work/revoked-bb.pdf"
refuse "refuse-unsigned" "no signature in the file" validate "$pdf/p1.pdf"
refuse "refuse-B-LT-without-revinfo" InsufficientRevinfoError sign "$pdf/p1.pdf" "$work/nofetch.pdf" B-LT --no-fetch
# The TSA's OCSP response left out: pyHanko must refuse to call that B-LT.
refuse "refuse-B-LT-partial-revinfo" InsufficientRevinfoError sign "$pdf/p1.pdf" "$work/partial.pdf" B-LT --no-fetch \
  --ocsp "$work/signer-ocsp.der" --crl "$pki/root.crl"

# --- benchmark: pyHanko's validation rate on this machine
echo "benchmark (pyHanko $("$py" -c 'import importlib.metadata as m; print(m.version("pyhanko"))'), $bench_n validations each):"
for doc in p1 p100; do
  for level in B-T B-LTA; do
    mode=--offline
    [ "$level" = B-T ] && mode=  # a B-T file carries no revocation data: fetched each time
    name="bench-$doc-$level"
    expect 0 "$name" validate "$signed/$doc-$level.pdf" --expect-level "$level" $mode --bench "$bench_n"
    "$py" -c "
import json, sys
b = json.load(open(sys.argv[1]))['bench']
print(f\"      {sys.argv[2]:6} {sys.argv[3]:6} {'offline' if b['offline'] else 'online ':8}{b['validations_per_second']:8.2f} validations/s\")
" "$work/log/$name.out" "$doc" "$level" 2>/dev/null
  done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

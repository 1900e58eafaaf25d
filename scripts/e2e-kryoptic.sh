#!/usr/bin/env bash
# The development PKI on kryoptic instead of SoftHSM (issue 26), checked by OpenSSL:
# every dev ceremony (two tokens, root, sub-CAs, OCSP and TSA keys and certificates, root ARL,
# AES sealing key) runs on kryoptic; `igc serve` then signs CRLs, OCSP responses and a
# time-stamp token with its keys, each verified by OpenSSL. Two local SNTP responders stand in
# for the NTP servers. Bounded: about ten seconds once built.
# Usage: scripts/e2e-kryoptic.sh [path/to/igc]   (default: target/debug/igc, built if missing)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
igc=$(realpath -m "${1:-$root/target/debug/igc}")
[ -x "$igc" ] || cargo build --locked --manifest-path "$root/Cargo.toml" --bin igc
"$root/scripts/tokens.sh" install >/dev/null
module=$root/target/tokens/kryoptic/libkryoptic_pkcs11.so

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# A free TCP or UDP port on 127.0.0.1, from the kernel.
free_port() {
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}

mkdir kryoptic
for slot in 1 2 3; do
  printf '[[slots]]\nslot = %d\ndbtype = "sqlite"\ndbargs = "%s/kryoptic/slot%d.sql"\n\n' "$slot" "$work" "$slot"
done >kryoptic.toml
export KRYOPTIC_CONF=$work/kryoptic.toml

cp -r "$root/hsm-config/ceremonies/dev" ceremonies
"$igc" dev-setup --ceremonies ceremonies --module "$module" >setup.log 2>&1 \
  || { cat setup.log; exit 1; }
grep -q "ceremonies run, 0 reused" setup.log
if [ -n "$(ls var/hsm/tokens)" ]; then echo "SoftHSM was used" >&2; exit 1; fi

cat var/pki/root.pem var/pki/personnes.pem >personnes-chain.pem
cat var/pki/root.pem var/pki/organisations.pem >organisations-chain.pem
openssl verify -CAfile var/pki/root.pem var/pki/personnes.pem var/pki/organisations.pem
openssl verify -CAfile organisations-chain.pem var/pki/tsa-unit-1.pem

http=$(free_port tcp) portal=$(free_port tcp) tsa=$(free_port tcp)
ntp1=$(free_port udp) ntp2=$(free_port udp)
cat >sntp.py <<'EOF'
# Minimal SNTP responders on 127.0.0.1 answering with this machine's clock; stop by themselves.
import select, socket, struct, sys, time
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    socks.append(s)
def ntp(t):
    t += 2208988800
    return struct.pack("!II", int(t), int((t % 1) * 2**32))
end = time.time() + 60
while time.time() < end:
    ready, _, _ = select.select(socks, [], [], 1)
    for s in ready:
        data, addr = s.recvfrom(1024)
        if len(data) < 48:
            continue
        received = time.time()
        header = struct.pack("!BBbb", (4 << 3) | 4, 1, 4, -20) + struct.pack("!II", 0, 0) + b"GPS\0"
        s.sendto(header + ntp(received) + data[40:48] + ntp(received) + ntp(time.time()), addr)
EOF
python3 sntp.py "$ntp1" "$ntp2" &
pids+=($!)

python3 - "$module" "$http" "$portal" "$tsa" "$ntp1" "$ntp2" <<'EOF'
import re, sys
module, http, portal, tsa, ntp1, ntp2 = sys.argv[1:]
p = "var/igc.toml"
s = open(p).read()
s = re.sub(r'(?m)^module = .*$', f'module = "{module}"', s, count=1)
s = re.sub(r'(?m)^softhsm2_conf = .*\n', '', s)
s = s.replace("127.0.0.1:8080", f"127.0.0.1:{http}").replace("127.0.0.1:8443", f"127.0.0.1:{portal}")
s = s.replace("127.0.0.1:8081", f"127.0.0.1:{tsa}")
s = re.sub(r'(?m)^servers = .*$', f'servers = ["127.0.0.1:{ntp1}", "127.0.0.1:{ntp2}"]', s)
open(p, "w").write(s)
EOF

"$igc" serve --config var/igc.toml >serve.log 2>&1 &
pids+=($!)
base=http://127.0.0.1:$http
for _ in $(seq 1 60); do
  curl -sf -m 2 "$base/readyz" >/dev/null && break
  sleep 0.5
done
curl -sf -m 5 "$base/readyz" >/dev/null || { tail -20 serve.log; exit 1; }
echo "signing mechanisms chosen (per signer):"
sed 's/\x1b\[[0-9;]*m//g' serve.log | grep -o 'pkcs11_mechanism=[A-Z0-9_]*' | sort | uniq -c

curl -sf -m 5 "$base/crl/personnes.crl" -o personnes.crl
openssl crl -inform DER -in personnes.crl -CAfile personnes-chain.pem -noout
openssl ocsp -issuer var/pki/personnes.pem -cert var/pki/ocsp-personnes.pem \
  -url "$base/ocsp" -CAfile personnes-chain.pem | grep -q ': good'
echo "OCSP: ocsp-personnes good, response verified"

echo "ordonnance de test" >doc.txt
openssl ts -query -data doc.txt -sha256 -cert -out req.tsq
curl -sf -m 10 -H 'Content-Type: application/timestamp-query' --data-binary @req.tsq \
  "$base/tsa" -o resp.tsr
openssl ts -verify -data doc.txt -in resp.tsr -CAfile organisations-chain.pem \
  -untrusted var/pki/tsa-unit-1.pem
echo "e2e on kryoptic: ceremonies, CRL, OCSP and TSA verified by OpenSSL"

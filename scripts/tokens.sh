#!/usr/bin/env bash
# The PKCS#11 tokens other than SoftHSM that the HSM suite runs on (issue 26):
# - kryoptic (crates.io), built as a shared library under target/tokens/kryoptic/;
# - NSS softoken, Debian's libsoftokn3.so, with certutil to make its databases.
# Idempotent and quick once done; prints the module paths at the end.
# Usage: scripts/tokens.sh [install|paths]
set -euo pipefail

cd "$(dirname "$0")/.."
KRYOPTIC_VERSION=1.5.4
# OpenSSL 3.0 (Debian 12) lacks what kryoptic's default features want; "minimal" is
# AES, ECDSA/ECDH, SHA-2/HMAC, RSA and the SQLite store, linked against the system OpenSSL.
KRYOPTIC_FEATURES=minimal,kryoptic-lib/dynamic
out=target/tokens
kryoptic_so=$out/kryoptic/libkryoptic_pkcs11.so
kryoptic_stamp=$out/kryoptic/.built-$KRYOPTIC_VERSION-${KRYOPTIC_FEATURES//[,\/]/_}
nss_so=/usr/lib/x86_64-linux-gnu/libsoftokn3.so

case "${1:-install}" in
  paths)
    echo "kryoptic $PWD/$kryoptic_so"
    echo "nss $nss_so"
    exit 0
    ;;
  install) ;;
  *) echo "usage: $0 [install|paths]" >&2; exit 2 ;;
esac

apt_pkgs=(libclang-dev libssl-dev libsqlite3-dev pkg-config libnss3 libnss3-tools)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$kryoptic_stamp" ] || [ ! -f "$kryoptic_so" ]; then
  echo "building kryoptic $KRYOPTIC_VERSION ($KRYOPTIC_FEATURES) into $out/kryoptic"
  # cargo fetches the published crate (with its own Cargo.lock) through a throw-away
  # manifest; the build then uses the crate's lock file as published.
  fetch=$out/kryoptic-fetch
  mkdir -p "$fetch/src"
  cat >"$fetch/Cargo.toml" <<EOF
[package]
name = "kryoptic-fetch"
version = "0.0.0"
edition = "2021"
publish = false
[workspace]
[dependencies]
kryoptic = { version = "=$KRYOPTIC_VERSION", default-features = false }
EOF
  : >"$fetch/src/lib.rs"
  cargo fetch --quiet --manifest-path "$fetch/Cargo.toml"
  src=$(cargo metadata --format-version 1 --manifest-path "$fetch/Cargo.toml" \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="kryoptic"))')
  build=$out/kryoptic-src
  rm -rf "$build"
  cp -r "$(dirname "$src")" "$build"
  # Its own workspace: target/ lies inside this project's.
  printf '\n[workspace]\n' >>"$build/Cargo.toml"
  cargo build --release --locked --quiet \
    --manifest-path "$build/Cargo.toml" \
    --target-dir "$out/kryoptic-target" \
    --no-default-features --features "$KRYOPTIC_FEATURES"
  mkdir -p "$out/kryoptic"
  cp "$out/kryoptic-target/release/libkryoptic_pkcs11.so" "$kryoptic_so"
  rm -f "$out"/kryoptic/.built-*
  touch "$kryoptic_stamp"
fi

if [ ! -f "$nss_so" ]; then
  echo "NSS softoken not found at $nss_so" >&2
  exit 1
fi

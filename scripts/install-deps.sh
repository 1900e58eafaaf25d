#!/usr/bin/env bash
# Installs what `make run` or `make test` needs and is missing, on Debian.
# Usage: scripts/install-deps.sh run|test|bench
# Idempotent: installs nothing when everything is present.
set -euo pipefail

want=${1:-run}
apt_pkgs=(softhsm2 openssl)
case "$want" in
  run) ;;
  test)
    apt_pkgs+=(postgresql sqlite3 python3-venv chromium chromium-driver curl qpdf)
    # A PKCS#11 module without EC or AES-GCM, which `igc hsm check` must refuse.
    apt_pkgs+=(opencryptoki)
    # npm fetches the accessibility auditor (below); a Node.js that bundles npm will do.
    command -v npm >/dev/null || apt_pkgs+=(nodejs npm)
    ;;
  bench) apt_pkgs+=(wrk python3-venv) ;;
  *) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

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

# pkilint (PyPI) in a project virtualenv, for the independent lint checks,
# pyhanko-certvalidator, the second opinion on the path-validation corpus
# (tsa/validation/tests/pathval), and pyHanko, the independent PAdES signer and
# validator (tests/pades). pyHanko is held to 0.38.x: tests/pades uses its AdES
# API, which changes between minor versions; it needs no extras (aiohttp, used
# for time-stamps and revocation fetching, is a core dependency).
if [ "$want" != run ]; then
  venv=.venv
  if [ ! -x "$venv/bin/lint_pkix_cert" ] || ! "$venv/bin/python" -c "import pyhanko_certvalidator, pyhanko.sign" 2>/dev/null; then
    echo "installing pkilint, pyhanko-certvalidator and pyhanko into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pkilint pyhanko-certvalidator 'pyhanko>=0.38,<0.39'
  fi
fi

# axe-core (npm), the accessibility auditor that tests/ra_portal_a11y.rs injects into
# headless Chromium, at the version pinned by tests/a11y/package-lock.json (npm ci checks
# the tarball's sha512 from the lockfile).
if [ "$want" = test ]; then
  a11y=tests/a11y
  pinned=$(sed -n 's/.*"axe-core": "\([^"]*\)".*/\1/p' "$a11y/package.json")
  installed=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$a11y/node_modules/axe-core/package.json" 2>/dev/null || true)
  if [ "$installed" != "$pinned" ] || [ ! -f "$a11y/node_modules/axe-core/axe.min.js" ]; then
    echo "installing axe-core $pinned into $a11y/node_modules"
    npm ci --prefix "$a11y" --no-audit --no-fund --loglevel=error
  fi
fi

# The PKCS#11 tokens besides SoftHSM (issue 26): kryoptic built from crates.io under
# target/tokens (once), NSS softoken and certutil from Debian.
if [ "$want" != run ]; then
  scripts/tokens.sh install
fi

#!/usr/bin/env bash
# Runs every cargo-fuzz target of the workspace for a while (`make fuzz`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 30, or $FUZZ_SECONDS)
#
# Installs cargo-fuzz when it is missing. cargo-fuzz builds with the
# sanitizer flags of a nightly compiler; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain of this project accept them. Crashes are kept by libFuzzer under
# <crate>/fuzz/artifacts/<target>/ (fuzz/artifacts/config/ for igc.toml);
# the script exits 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-30}}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]  (a positive whole number)" >&2
    exit 2
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
failed=()
summary=()
# Seed: the configuration `igc dev-setup` writes, so that the fuzzer starts
# from a whole igc.toml instead of discovering TOML from nothing.
mkdir -p fuzz/corpus/config
cp src/dev-igc.toml fuzz/corpus/config/dev-igc.toml
for dir in fuzz */fuzz */*/fuzz; do
    # Only cargo-fuzz crates (not, e.g., target/fuzz).
    [ -f "$dir/Cargo.toml" ] || continue
    crate="${dir%/fuzz}"
    [ "$dir" = fuzz ] && crate=igc
    mapfile -t targets < <(cd "$dir" && cargo fuzz list)
    for target in "${targets[@]}"; do
        echo "== $crate/$target: $seconds s"
        log="$(mktemp)"
        # -O: optimised build (the default debug build is several times
        # slower per run); one job, the machine has two cores.
        # Committed seeds (seeds/<target>, e.g. a real LTA signature) start the corpus.
        corpora=()
        if [ -d "$dir/seeds/$target" ]; then
            mkdir -p "$dir/corpus/$target"
            corpora=("corpus/$target" "seeds/$target")
        fi
        if (cd "$dir" && cargo fuzz run -O "$target" "${corpora[@]}" -- -max_total_time="$seconds") >"$log" 2>&1; then
            runs="$(grep -oE 'Done [0-9]+ runs' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')"
            summary+=("$crate/$target: $runs runs, no crash")
        else
            tail -40 "$log"
            summary+=("$crate/$target: FAILED (see $dir/artifacts/$target/)")
            failed+=("$crate/$target")
        fi
        rm -f "$log"
    done
done

echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    exit 1
fi

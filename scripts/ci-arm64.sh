#!/usr/bin/env bash
# The arm64 checks of CI (.ci/run), on an amd64 host under Debian's
# qemu-user-static (user-mode emulation: no VM, no binfmt registration needed,
# the emulator is named explicitly). Clinics run dayi on small arm64 boxes,
# where the NEON q4_0/q8_0/K-quant dots (CPUs with the dot-product extension) and
# otherwise the pure-Go kernels run; this checks that path on every change:
#
#   1. `GOARCH=arm64 go vet ./...`: nothing amd64-only breaks the arm64 build;
#   2. scripts/release.sh builds the static linux/arm64 binary, its SHA256SUMS
#      verify, and `dayi version --json` under qemu says arm64, NEON dotprod
#      (qemu's default CPU, "max", has FEAT_DotProd) and the stamped version;
#   3. `dayi run` of the embedded model under qemu prints llama.cpp's greedy
#      text for "Once upon a time" (server/testdata/llamacpp-stories260K.json,
#      captured from llama.cpp v0.5.0);
#   4. the tokenizer, weights and kernels tests pass under emulation
#      (`GOARCH=arm64 go test -short -exec qemu-aarch64-static`; kernels: the
#      NEON dots and attention kernels bit for bit their Go twins); the
#      kernels tests again on a CPU without dotprod (`-cpu cortex-a72`: the
#      dots' pure-Go twins, NEON attention; `dayi version` says NEON); and the
#      engine's parity tests against llama.cpp's logits: the q4_0/q8_0/q4_K_M
#      stories260K files (32-value blocks) and a synthetic Q4_K_M llama whose
#      q4_K/q6_K rows and 64-wide heads take the NEON K dots and attention.
#
# Installs qemu-user-static with apt when the emulator is missing (needs root).
# Prints how long each step took. On the 2-core dev VM, from an empty build
# cache, while other jobs kept it busy (load average ~14), it took 376 s
# (vet 261 s, which compiles every arm64 package once; release build 39 s;
# qemu run 2 s; tests under qemu 73 s): well inside CI's 90 minutes. With the
# NEON kernels' tests and the engine parity step, 65 s from a warm build cache
# on the quiet VM (2026-12-07).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "ci-arm64: $*" >&2; }
t0=$SECONDS
step() {
	log "$1 ($((SECONDS - t0)) s so far)"
}

qemu="$(command -v qemu-aarch64-static || true)"
if [[ -z "$qemu" ]]; then
	log "installing qemu-user-static (Debian package)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends qemu-user-static >&2
	qemu="$(command -v qemu-aarch64-static)"
fi

# One set of build flags for vet, the release build and the tests, so the
# arm64 packages compile once (release.sh builds with -trimpath).
export GOFLAGS="${GOFLAGS:-} -trimpath"

work="$(mktemp -d "${TMPDIR:-/tmp}/dayi-arm64.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step "GOARCH=arm64 go vet ./..."
GOARCH=arm64 go vet ./...

step "release build for linux/arm64"
DAYI_TARGETS=linux/arm64 DAYI_DIST="$work/dist" scripts/release.sh 0.0.0-ci-arm64 2>"$work/release.log" ||
	{ cat "$work/release.log" >&2; exit 1; }
bin="$work/dist/dayi-0.0.0-ci-arm64-linux-arm64"
(cd "$work/dist" && sha256sum -c --quiet SHA256SUMS)
if [[ "$(head -c 4 "$bin" | od -An -tx1 | tr -d ' \n')" != 7f454c46 ]]; then
	log "$bin is not an ELF binary"
	exit 1
fi

step "dayi version under qemu"
ver="$("$qemu" "$bin" version --json)"
for want in '"arch": "arm64"' '"simd": "NEON dotprod"' '"version": "0.0.0-ci-arm64"' '"os": "linux"'; do
	if [[ "$ver" != *"$want"* ]]; then
		log "dayi version --json under qemu lacks $want:"
		echo "$ver" >&2
		exit 1
	fi
done

step "dayi run under qemu against llama.cpp's greedy text"
# The first case of the reference file is "Once upon a time", 64 tokens,
# greedy; its generated_text is one JSON string whose only escape is \n.
ref=server/testdata/llamacpp-stories260K.json
prompt="$(grep -m1 '"prompt":' "$ref" | sed -E 's/^ *"prompt": "(.*)",?$/\1/')"
want="$(grep -m1 '"generated_text":' "$ref" | sed -E 's/^ *"generated_text": "(.*)",?$/\1/')"
if [[ "$prompt" != "Once upon a time" || -z "$want" || "$want" == *'\"'* || "$want" == *'\u'* ]]; then
	log "unexpected reference in $ref (prompt '$prompt'); update this script's extraction"
	exit 1
fi
printf '%b\n' "$want" >"$work/want.txt"
"$qemu" "$bin" run -n 64 --temperature 0 "$prompt" >"$work/got.txt"
if ! cmp -s "$work/want.txt" "$work/got.txt"; then
	log "dayi run under qemu differs from llama.cpp's greedy text:"
	diff "$work/want.txt" "$work/got.txt" >&2 || true
	exit 1
fi

step "tokenizer, weights and kernels tests under qemu"
GOARCH=arm64 go test -short -exec "$qemu" ./tokenizer/ ./weights/ ./kernels/

step "kernels tests and dayi version on an arm64 CPU without dotprod (qemu -cpu cortex-a72)"
GOARCH=arm64 go test -short -exec "$qemu -cpu cortex-a72" ./kernels/
ver="$("$qemu" -cpu cortex-a72 "$bin" version --json)"
if [[ "$ver" != *'"simd": "NEON"'* ]]; then
	log "dayi version --json on a Cortex-A72 lacks \"simd\": \"NEON\":"
	echo "$ver" >&2
	exit 1
fi

step "engine parity with llama.cpp (quantized stories260K, synthetic Q4_K_M) under qemu"
GOARCH=arm64 go test -short -exec "$qemu" ./engine/ -run 'TestQuantizedStoriesMatchLlamaCpp|TestDecodeBatchMatchesLlamaCpp|TestSynthKQuantTop10'

step "done"

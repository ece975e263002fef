#!/usr/bin/env bash
# Builds dayi's release binaries: static (CGO_ENABLED=0, no libc), one per
# platform, with the version and commit stamped into `dayi version`, plus
# SHA256SUMS and a CycloneDX SBOM (scripts/sbom, from `go version -m`).
# Needs only the Go toolchain and the module cache: no network.
#
#   scripts/release.sh [VERSION]        # VERSION default: git describe, else 0.0.0-dev
#
# Environment:
#   DAYI_DIST     output folder (default dist/); its dayi-* files and SHA256SUMS are replaced
#   DAYI_TARGETS  platforms, GOOS/GOARCH separated by spaces
#                 (default "linux/amd64 linux/arm64 darwin/arm64 windows/amd64")
#
# Output, in DAYI_DIST:
#   dayi-VERSION-GOOS-GOARCH[.exe]   the binaries
#   SHA256SUMS                       `sha256sum -c SHA256SUMS` checks them
#   dayi-VERSION.cdx.json            the SBOM (CycloneDX 1.5 JSON) of all of them
#
# The builds are reproducible: -trimpath, no VCS stamp beyond the commit given
# here, and the SBOM's time is the commit's time. The amd64 binaries carry the
# AVX2/AVX-512 kernels and pick them at start-up; every other architecture runs
# the pure-Go kernels (`dayi version` says which).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "release: $*" >&2; }

version="${1:-$(git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)}"
version="${version#v}"
# The version becomes part of file names and of -ldflags: keep it to a tag's characters.
if [[ ! "$version" =~ ^[0-9A-Za-z][0-9A-Za-z.+_-]*$ ]]; then
	log "version '$version' must be letters, digits and . + _ - only"
	exit 2
fi
commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ "$commit" != unknown ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
	commit="$commit+dirty"
fi
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
dist="${DAYI_DIST:-dist}"
targets="${DAYI_TARGETS:-linux/amd64 linux/arm64 darwin/arm64 windows/amd64}"

mkdir -p "$dist"
rm -f "$dist"/dayi-* "$dist/SHA256SUMS"

bins=()
for target in $targets; do
	goos="${target%%/*}"
	goarch="${target#*/}"
	if [[ -z "$goos" || -z "$goarch" || "$goarch" == "$target" ]]; then
		log "target '$target' is not GOOS/GOARCH"
		exit 2
	fi
	ext=""
	[[ "$goos" == windows ]] && ext=".exe"
	name="dayi-$version-$goos-$goarch$ext"
	log "building $name"
	# -buildvcs=false: the commit comes from -X (a checkout without .git, or
	# CI's GOFLAGS, must not change the binary); -s -w drop the symbol and
	# DWARF tables (panics still name functions: the pclntab stays).
	CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" go build -trimpath -buildvcs=false \
		-ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
		-o "$dist/$name" ./cmd/dayi
	bins+=("$name")
done

(
	cd "$dist"
	if command -v sha256sum >/dev/null; then
		sha256sum "${bins[@]}" >SHA256SUMS
	else
		shasum -a 256 "${bins[@]}" >SHA256SUMS # macOS
	fi
)
log "SBOM"
sbom="$dist/dayi-$version.cdx.json"
paths=()
for b in "${bins[@]}"; do paths+=("$dist/$b"); done
go run ./scripts/sbom -version "$version" -epoch "$epoch" -o "$sbom" "${paths[@]}"
(cd "$dist" && if command -v sha256sum >/dev/null; then sha256sum "$(basename "$sbom")"; else shasum -a 256 "$(basename "$sbom")"; fi) >>"$dist/SHA256SUMS"
log "done: $dist ($version, commit $commit)"
ls -l "$dist" >&2

#!/bin/bash
# Regenerates imageio's dcmtk cross-check fixtures: synthetic DICOM files
# (gen.go, dayi's own writer) rendered to 8-bit PGM/PPM by dcmtk's dcm2pnm
# (Debian bookworm package dcmtk 3.6.7: apt-get install dcmtk), the
# independent implementation TestDICOMMatchesDCMTK compares with.
# Run from the repository root: bash imageio/testdata/dcmtk/gen.sh
set -euo pipefail
dir=imageio/testdata/dcmtk
go run $dir/gen.go $dir
while IFS=$'\t' read -r name opts; do
	# shellcheck disable=SC2086
	dcm2pnm --write-raw-pnm $opts "$dir/$name.dcm" "$dir/$name.pnm"
done < "$dir/cases.txt"
dcm2pnm --version | head -1 > "$dir/dcmtk-version.txt"

#!/usr/bin/env bash
# Speculative decoding measurements (docs/speculative.md): alternates plain
# and speculative runs of the same greedy generation, so that a loaded
# machine slows both alike, and prints eval rate and draft acceptance.
#   scripts/spec_bench.sh DAYI TARGET.gguf "SPEC FLAGS" PROMPT_FILE N REPS [run flags...]
# e.g. scripts/spec_bench.sh /tmp/dayi testdata/models/stories260K-q8_0.gguf "--draft dayi-tiny" scripts/spec_transcript.txt 200 5
set -euo pipefail
dayi=$1 model=$2 spec=$3 promptf=$4 n=$5 reps=$6
shift 6
for rep in $(seq "$reps"); do
  for mode in plain spec; do
    flags=()
    [ "$mode" = spec ] && read -r -a flags <<<"$spec"
    out=$("$dayi" run -m "$model" -n "$n" --temperature 0 --verbose "${flags[@]}" "$@" <"$promptf" 2>&1 >/dev/null)
    ev=$(echo "$out" | grep -E "^eval rate" | awk '{print $(NF-1)}')
    cnt=$(echo "$out" | grep -E "^eval count" | awk '{print $(NF-1)}')
    dr=$(echo "$out" | { grep -E "^draft tokens" || true; } | sed 's/draft tokens: *//')
    echo "rep=$rep $mode tokens=$cnt eval_rate=$ev ${dr}"
  done
done

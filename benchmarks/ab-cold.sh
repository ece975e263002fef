#!/usr/bin/env bash
# Alternates two dayi binaries on the same GGUF files, as a user meets them:
# a fresh process, one 155-token prompt (the first after loading), then 64
# greedy tokens; prints the prefill and decode rates of `dayi run --verbose`.
#
#   benchmarks/ab-cold.sh ./dayi-old ./dayi-new DIR [FILE.gguf…]
#
# DIR holds the files (default: llama-1b-q4_0.gguf llama-1b-q4_k_m.gguf, made
# with `dayi bench synth --preset llama-1b --type f16 --seed 1` and `dayi
# quantize`). Run it with nothing else on the machine; take medians.
set -euo pipefail
old=$1 new=$2 dir=$3
shift 3
files=("$@")
[[ ${#files[@]} -gt 0 ]] || files=(llama-1b-q4_0.gguf llama-1b-q4_k_m.gguf)
prompt=$(printf 'The patient reports chest pain and shortness of breath since yesterday. %.0s' {1..11})
for f in "${files[@]}"; do
	for t in 1 2; do
		for rep in 1 2 3; do
			for b in old new; do
				bin=$old
				[[ $b == new ]] && bin=$new
				out=$("$bin" run --model "$dir/$f" -n 64 --temperature 0 --seed 1 -c 512 -t "$t" --verbose "$prompt" 2>&1 >/dev/null)
				pe=$(echo "$out" | awk '/prompt eval rate/ {print $(NF-1)}')
				ev=$(echo "$out" | awk '/^eval rate/ {print $(NF-1)}')
				pc=$(echo "$out" | awk '/prompt eval count/ {print $(NF-1)}')
				echo "$f t=$t rep=$rep $b prompt_tokens=$pc prefill=$pe decode=$ev"
			done
		done
	done
done

#!/usr/bin/env bash
# The one script a GPU session runs for issue 23 (dayi's CUDA device).
#
# The device machine has the NVIDIA driver but no Go toolchain, so the test
# binary is built here and carried there:
#
#   scripts/gpu-check.sh build        # here (x86-64): .gpu/cuda.test, -tags cuda, static Go + purego
#   # then, with the device tool, in the repo root, carry [".gpu"], timeout_s 540:
#   scripts/gpu-check.sh run          # there: tests on the GPU, then decode speed; compact summary
#
# run does, within about 8 minutes:
#   1. nvidia-smi's GPU and driver; ptxas on kernels.ptx where the toolkit is installed;
#   2. every kernel on the GPU against its CPU reference (the same tests the
#      emulator passes here: TestQuantizeQ8_1, TestGemvTypes, TestRMSNorm,
#      TestRope, TestElementwise, TestSoftmax, TestAttention), Device's errors
#      and argument marshalling, and the llama decode driver against
#      llama.cpp's logits (TestLlamaDecodeMatchesLlamaCpp: stories260K f32,
#      q8_0, q4_0, q4_k_m, llama-2-tiny-random; tiny-llama-k q4_k_m for q4_K/q6_K;
#      tiny-llama, tiny-qwen2, tiny-qwen3, tiny-gemma3 with an f32 cache; every
#      prompt on the GPU), and batched prompt steps bit for bit one-token ones
#      (TestGemvBatch, TestPrefillMatchesSteps);
#   3. prompt and decode tok/s on the llama-1b preset in q4_0 and q8_0 and gemma3-1b in
#      q4_0 (TestGPUDecodeSpeed; DAYI_GPU_BENCH_8B=1 adds Llama-3-8B's shape
#      in q4_0 and MedGemma-4B's (gemma3-4b) in q4_K, whose synthesis takes
#      minutes).
# Full logs: /tmp/gpu-tests.log and /tmp/gpu-bench.log there (and $OUT when set).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
build)
	mkdir -p .gpu
	exclude="$(git rev-parse --git-path info/exclude)"
	grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go test -c -tags cuda -trimpath -ldflags='-s -w' \
		-o .gpu/cuda.test ./engine/backend/cuda
	ls -l .gpu
	;;
run)
	[ -x .gpu/cuda.test ] || { echo "gpu-check: .gpu/cuda.test missing: run '$0 build' here and carry .gpu" >&2; exit 2; }
	start=$(date +%s)
	echo "== GPU"
	nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || echo "nvidia-smi failed"
	if command -v ptxas >/dev/null; then
		echo "== ptxas (the CUDA toolkit's assembler) on the embedded PTX"
		for arch in sm_61 sm_90; do
			if ptxas -arch=$arch engine/backend/cuda/kernels.ptx -o /tmp/kernels.$arch.cubin 2>&1 | head -20; then
				echo "ptxas $arch: ok"
			fi
		done
	fi
	logdir="${OUT:-/tmp}"
	bin="$PWD/.gpu/cuda.test"
	cd engine/backend/cuda # a test binary runs in its package's directory
	echo "== tests (kernels on the GPU vs CPU references, decode vs llama.cpp)"
	set +e
	timeout 240 "$bin" -test.v -test.short -test.run \
		'TestOpen|TestQuantizeQ8_1|TestGemvTypes|TestGemvBatch|TestPrefillMatchesSteps|TestRMSNorm|TestRope|TestElementwise|TestSoftmax|TestAttention|TestLlamaDecodeMatchesLlamaCpp|TestLlamaDecodeKQuants|TestSynthDecodeF32Cache|TestLlamaRejects|TestDeviceLaunch|TestOutOfMemory' \
		>"$logdir/gpu-tests.log" 2>&1
	rc=$?
	set -e
	grep -E '^(--- (PASS|FAIL|SKIP)|FAIL|PASS$|ok )|gpu[" ]|kernels run in the emulator|a GPU is present|panic' "$logdir/gpu-tests.log" | sed 's/^ *//' | head -80
	echo "tests rc=$rc ($(($(date +%s) - start)) s)"
	echo "== decode speed"
	set +e
	DAYI_GPU_BENCH=1 timeout $((480 - ($(date +%s) - start))) "$bin" -test.v -test.run TestGPUDecodeSpeed \
		>"$logdir/gpu-bench.log" 2>&1
	brc=$?
	set -e
	grep -E 'GPU decode|--- |FAIL|panic' "$logdir/gpu-bench.log" | sed 's/^ *//'
	echo "bench rc=$brc; total $(($(date +%s) - start)) s"
	[ $rc -eq 0 ] && [ $brc -eq 0 ]
	;;
*)
	sed -n '2,26p' "$0" >&2
	exit 2
	;;
esac

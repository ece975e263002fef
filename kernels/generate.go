package kernels

// The unrolled q4_K/q6_K assembly (rows16k_amd64.s, gemmk16_amd64.s), the
// attention tiles (attntile_amd64.s) and the q4_1/q5_1 multi-row kernels
// (qx1_amd64.s) and the AMX prefill (gemm16amx_amd64.s, gemmk16amx_amd64.s) are written by the Go program in
// internal/gen; its TestGenerated checks that the committed files are
// exactly its output.
//go:generate go run ./internal/gen

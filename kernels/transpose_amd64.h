// TRANSPOSE4X4 (shared by gemm16_amd64.s and repack_amd64.s) is the classic
// transpose of 4×4 32-bit words in each 128-bit lane of A..D: A..D hold words
// 0..3 of four rows, O0..O3 receive word j of the four rows (A's first).
// T0..T3 are scratch; O0..O3 may be A..D, which are read before them.
#define TRANSPOSE4X4(A, B, C, D, T0, T1, T2, T3, O0, O1, O2, O3) \
	VPUNPCKLDQ  B, A, T0; \
	VPUNPCKHDQ  B, A, T1; \
	VPUNPCKLDQ  D, C, T2; \
	VPUNPCKHDQ  D, C, T3; \
	VPUNPCKLQDQ T2, T0, O0; \
	VPUNPCKHQDQ T2, T0, O1; \
	VPUNPCKLQDQ T3, T1, O2; \
	VPUNPCKHQDQ T3, T1, O3

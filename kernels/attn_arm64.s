#include "textflag.h"

// NEON attention kernels over the F16 KV cache for arm64 (any ARMv8 CPU:
// they need only Advanced SIMD, which every arm64 CPU has), bit for bit
// their Go twins in attention.go. Products of an f16 K or V value with an
// f16-rounded query or probability are exact in float32, so FMLA's fusion
// changes nothing and each accumulation rounds once, as in the twins.
// Go's assembler lacks the half-precision conversions and some vector
// float ops, hence WORD encodings (Arm ARM, A64).

// FCVTL Vd.4S, Vn.4H / FCVTL2 Vd.4S, Vn.8H (half to single, exact)
#define FCVTL(d, n) WORD $(0x0E217800 | (n<<5) | d)
#define FCVTL2(d, n) WORD $(0x4E217800 | (n<<5) | d)
// FCVTN Vd.4H, Vn.4S (single to half, round to nearest even per FPCR)
#define FCVTN(d, n) WORD $(0x0E216800 | (n<<5) | d)
// FADD / FMUL Vd.4S, Vn.4S, Vm.4S
#define FADD4S(d, n, m) WORD $(0x4E20D400 | (m<<16) | (n<<5) | d)
#define FMUL4S(d, n, m) WORD $(0x6E20DC00 | (m<<16) | (n<<5) | d)
// FADDP Sd, Vn.2S
#define FADDP2S(d, n) WORD $(0x7E30D800 | (n<<5) | d)

// REDUCE16SCALE: reduce16 of the 16 lanes in V0..V3 (h_i = a_i + a_{i+8}:
// V0+V2, V1+V3; t_i = h_i + h_{i+4}; (t0+t2) + (t1+t3)), times the scale
// (F31), stored at R0 and R0 advanced.
#define REDUCE16SCALE \
	FADD4S(0, 0, 2) \
	FADD4S(1, 1, 3) \
	FADD4S(0, 0, 1) \
	VEXT $8, V0.B16, V0.B16, V1.B16 \
	FADD4S(0, 0, 1) \
	FADDP2S(0, 0) \
	FMULS F31, F0, F0 \
	FMOVS.P F0, 4(R0)

// SCORES16(a0..a3): 16 halves of k (R6) against 16 query floats (R7),
// into the four 4-lane accumulators a0..a3 (sum[a] lanes 0..15).
#define SCORES16(a0, a1, a2, a3) \
	VLD1.P 32(R6), [V16.H8, V17.H8] \
	VLD1.P 64(R7), [V24.S4, V25.S4, V26.S4, V27.S4] \
	FCVTL(20, 16) \
	FCVTL2(21, 16) \
	FCVTL(22, 17) \
	FCVTL2(23, 17) \
	VFMLA V24.S4, V20.S4, a0 \
	VFMLA V25.S4, V21.S4, a1 \
	VFMLA V26.S4, V22.S4, a2 \
	VFMLA V27.S4, V23.S4, a3

// func scoresH16VNEON(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)
// scoresH16VGo for d a multiple of 64: per row, each 64-element step into
// sum[a][l] (a = 0..3: V0..V3, V4..V7, V8..V11, V12..V15, 4 lanes each),
// reduce4x16, times scale.
TEXT ·scoresH16VNEON(SB), NOSPLIT, $0-52
	MOVD sc+0(FP), R0
	MOVD k+8(FP), R1
	MOVD stride+16(FP), R2
	MOVD n+24(FP), R3
	MOVD q+32(FP), R4
	MOVD d+40(FP), R5
	FMOVS scale+48(FP), F31
	LSL $1, R2, R2            // stride in bytes
	CBZ R3, sdone

srow:
	MOVD R1, R6
	MOVD R4, R7
	LSR $6, R5, R8            // 64-element steps
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16

sstep:
	SCORES16(V0.S4, V1.S4, V2.S4, V3.S4)
	SCORES16(V4.S4, V5.S4, V6.S4, V7.S4)
	SCORES16(V8.S4, V9.S4, V10.S4, V11.S4)
	SCORES16(V12.S4, V13.S4, V14.S4, V15.S4)
	SUBS $1, R8
	BNE sstep

	// reduce4x16: sum0 += sum2, sum1 += sum3, sum0 += sum1, then reduce16
	FADD4S(0, 0, 8)
	FADD4S(1, 1, 9)
	FADD4S(2, 2, 10)
	FADD4S(3, 3, 11)
	FADD4S(4, 4, 12)
	FADD4S(5, 5, 13)
	FADD4S(6, 6, 14)
	FADD4S(7, 7, 15)
	FADD4S(0, 0, 4)
	FADD4S(1, 1, 5)
	FADD4S(2, 2, 6)
	FADD4S(3, 3, 7)
	REDUCE16SCALE
	ADD R2, R1
	SUBS $1, R3
	BNE srow

sdone:
	RET

// func pvH16NEON(o *float32, v *uint16, stride, n int, p *float32, d int)
// pvH16Go for d a multiple of 16 and n >= 1: o = Σ_j p[j]·v_j in order j,
// 16 columns at a time (four accumulators), every v_j read once per
// column block.
TEXT ·pvH16NEON(SB), NOSPLIT, $0-48
	MOVD o+0(FP), R0
	MOVD v+8(FP), R1
	MOVD stride+16(FP), R2
	MOVD n+24(FP), R3
	MOVD p+32(FP), R4
	MOVD d+40(FP), R5
	LSL $1, R2, R2
	LSR $4, R5, R5            // column blocks

pvblock:
	MOVD R1, R6
	MOVD R4, R7
	MOVD R3, R8
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16

pvrow:
	VLD1R.P 4(R7), [V8.S4]
	VLD1 (R6), [V16.H8, V17.H8]
	FCVTL(20, 16)
	FCVTL2(21, 16)
	FCVTL(22, 17)
	FCVTL2(23, 17)
	VFMLA V8.S4, V20.S4, V0.S4
	VFMLA V8.S4, V21.S4, V1.S4
	VFMLA V8.S4, V22.S4, V2.S4
	VFMLA V8.S4, V23.S4, V3.S4
	ADD R2, R6
	SUBS $1, R8
	BNE pvrow

	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	ADD $32, R1
	SUBS $1, R5
	BNE pvblock
	RET

// func probsH16NEON(p *float32, n int, inv float32)
// probsH16Go for n a multiple of 4: p[j] = f16(p[j]·inv) as float32.
TEXT ·probsH16NEON(SB), NOSPLIT, $0-20
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	FMOVS inv+16(FP), F1
	VDUP V1.S[0], V1.S4
	LSR $2, R1, R1
	CBZ R1, prdone

prloop:
	VLD1 (R0), [V0.S4]
	FMUL4S(0, 0, 1)
	FCVTN(0, 0)
	FCVTL(0, 0)
	VST1.P [V0.S4], 16(R0)
	SUBS $1, R1
	BNE prloop

prdone:
	RET

// func scoresH16NEON(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)
// scoresH16Go for d a multiple of 16: element e of q·k_j into lane e&15
// (V0..V3, 4 lanes each), then reduce16 and the scale.
TEXT ·scoresH16NEON(SB), NOSPLIT, $0-52
	MOVD sc+0(FP), R0
	MOVD k+8(FP), R1
	MOVD stride+16(FP), R2
	MOVD n+24(FP), R3
	MOVD q+32(FP), R4
	MOVD d+40(FP), R5
	FMOVS scale+48(FP), F31
	LSL $1, R2, R2
	CBZ R3, s16done

s16row:
	MOVD R1, R6
	MOVD R4, R7
	LSR $4, R5, R8
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16

s16step:
	SCORES16(V0.S4, V1.S4, V2.S4, V3.S4)
	SUBS $1, R8
	BNE s16step

	REDUCE16SCALE
	ADD R2, R1
	SUBS $1, R3
	BNE s16row

s16done:
	RET

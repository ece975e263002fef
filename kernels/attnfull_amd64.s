#include "textflag.h"

// AVX-512 scores for the blocked full attention (attn_full.go): 128 keys
// packed transposed (kt[d][128]: element i of key j at kt[i*128+j]), so a
// vector holds one element of 16 keys and no horizontal sum per key is
// needed. Each 16-key group keeps 16 lane accumulators (Z0..Z15) and adds
// product i into accumulator i%16, product rounded before the add, then
// folds them as reduce16 does: bit for bit dotF32s(q, k_j)*scale, the
// order of kScoresF32 (and of ggml's f32 dot, which the vision references
// hold to f16-rounding exactness).

// func scoresT128(s, kt *float32, d int, q *float32, scale float32)
// s[j] = dotF32s(q, column j of kt)*scale for j < 128; d a positive
// multiple of 8.
TEXT ·scoresT128(SB), NOSPLIT, $0-36
	MOVQ         s+0(FP), DI
	MOVQ         kt+8(FP), SI
	MOVQ         d+16(FP), R9
	VBROADCASTSS scale+32(FP), Z31
	MOVQ         $8, R11 // 16-key groups left

st_group:
	VXORPS       Z0, Z0, Z0
	VXORPS       Z1, Z1, Z1
	VXORPS       Z2, Z2, Z2
	VXORPS       Z3, Z3, Z3
	VXORPS       Z4, Z4, Z4
	VXORPS       Z5, Z5, Z5
	VXORPS       Z6, Z6, Z6
	VXORPS       Z7, Z7, Z7
	VXORPS       Z8, Z8, Z8
	VXORPS       Z9, Z9, Z9
	VXORPS       Z10, Z10, Z10
	VXORPS       Z11, Z11, Z11
	VXORPS       Z12, Z12, Z12
	VXORPS       Z13, Z13, Z13
	VXORPS       Z14, Z14, Z14
	VXORPS       Z15, Z15, Z15
	MOVQ         SI, AX
	MOVQ         q+24(FP), DX
	MOVQ         R9, CX
	SHRQ         $4, CX // whole 16-element steps
	JZ           st_tail

st_step:
	VBROADCASTSS 0(DX), Z16
	VMULPS       0(AX), Z16, Z17
	VADDPS       Z17, Z0, Z0
	VBROADCASTSS 4(DX), Z16
	VMULPS       512(AX), Z16, Z17
	VADDPS       Z17, Z1, Z1
	VBROADCASTSS 8(DX), Z16
	VMULPS       1024(AX), Z16, Z17
	VADDPS       Z17, Z2, Z2
	VBROADCASTSS 12(DX), Z16
	VMULPS       1536(AX), Z16, Z17
	VADDPS       Z17, Z3, Z3
	VBROADCASTSS 16(DX), Z16
	VMULPS       2048(AX), Z16, Z17
	VADDPS       Z17, Z4, Z4
	VBROADCASTSS 20(DX), Z16
	VMULPS       2560(AX), Z16, Z17
	VADDPS       Z17, Z5, Z5
	VBROADCASTSS 24(DX), Z16
	VMULPS       3072(AX), Z16, Z17
	VADDPS       Z17, Z6, Z6
	VBROADCASTSS 28(DX), Z16
	VMULPS       3584(AX), Z16, Z17
	VADDPS       Z17, Z7, Z7
	VBROADCASTSS 32(DX), Z16
	VMULPS       4096(AX), Z16, Z17
	VADDPS       Z17, Z8, Z8
	VBROADCASTSS 36(DX), Z16
	VMULPS       4608(AX), Z16, Z17
	VADDPS       Z17, Z9, Z9
	VBROADCASTSS 40(DX), Z16
	VMULPS       5120(AX), Z16, Z17
	VADDPS       Z17, Z10, Z10
	VBROADCASTSS 44(DX), Z16
	VMULPS       5632(AX), Z16, Z17
	VADDPS       Z17, Z11, Z11
	VBROADCASTSS 48(DX), Z16
	VMULPS       6144(AX), Z16, Z17
	VADDPS       Z17, Z12, Z12
	VBROADCASTSS 52(DX), Z16
	VMULPS       6656(AX), Z16, Z17
	VADDPS       Z17, Z13, Z13
	VBROADCASTSS 56(DX), Z16
	VMULPS       7168(AX), Z16, Z17
	VADDPS       Z17, Z14, Z14
	VBROADCASTSS 60(DX), Z16
	VMULPS       7680(AX), Z16, Z17
	VADDPS       Z17, Z15, Z15
	ADDQ         $64, DX
	ADDQ         $8192, AX
	DECQ         CX
	JNZ          st_step

st_tail:
	TESTQ        $8, R9
	JZ           st_reduce
	VBROADCASTSS 0(DX), Z16
	VMULPS       0(AX), Z16, Z17
	VADDPS       Z17, Z0, Z0
	VBROADCASTSS 4(DX), Z16
	VMULPS       512(AX), Z16, Z17
	VADDPS       Z17, Z1, Z1
	VBROADCASTSS 8(DX), Z16
	VMULPS       1024(AX), Z16, Z17
	VADDPS       Z17, Z2, Z2
	VBROADCASTSS 12(DX), Z16
	VMULPS       1536(AX), Z16, Z17
	VADDPS       Z17, Z3, Z3
	VBROADCASTSS 16(DX), Z16
	VMULPS       2048(AX), Z16, Z17
	VADDPS       Z17, Z4, Z4
	VBROADCASTSS 20(DX), Z16
	VMULPS       2560(AX), Z16, Z17
	VADDPS       Z17, Z5, Z5
	VBROADCASTSS 24(DX), Z16
	VMULPS       3072(AX), Z16, Z17
	VADDPS       Z17, Z6, Z6
	VBROADCASTSS 28(DX), Z16
	VMULPS       3584(AX), Z16, Z17
	VADDPS       Z17, Z7, Z7

st_reduce:
	VADDPS       Z8, Z0, Z0
	VADDPS       Z9, Z1, Z1
	VADDPS       Z10, Z2, Z2
	VADDPS       Z11, Z3, Z3
	VADDPS       Z12, Z4, Z4
	VADDPS       Z13, Z5, Z5
	VADDPS       Z14, Z6, Z6
	VADDPS       Z15, Z7, Z7
	VADDPS       Z4, Z0, Z0 // t0
	VADDPS       Z5, Z1, Z1 // t1
	VADDPS       Z6, Z2, Z2 // t2
	VADDPS       Z7, Z3, Z3 // t3
	VADDPS       Z2, Z0, Z0 // t0+t2
	VADDPS       Z3, Z1, Z1 // t1+t3
	VADDPS       Z1, Z0, Z0
	VMULPS       Z31, Z0, Z0
	VMOVUPS      Z0, (DI)
	ADDQ         $64, DI
	ADDQ         $64, SI
	DECQ         R11
	JNZ          st_group
	VZEROUPPER
	RET

// func pvAccZ(o, v *float32, n int, p *float32, d int)
// o[i] += p[j]*v[j*d+i] for j < n in order (product rounded before the
// add), i < d: pvF32's additions continued from o, so calls over
// consecutive key blocks give pvF32's bits over all of them. d a positive
// multiple of 8, v rows contiguous.
TEXT ·pvAccZ(SB), NOSPLIT, $0-40
	MOVQ o+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ n+16(FP), R10
	MOVQ p+24(FP), DX
	MOVQ d+32(FP), R9
	MOVQ R9, R8
	SHLQ $2, R8 // row bytes
	TESTQ R10, R10
	JZ   pa_done

pa64_pass:
	CMPQ    R9, $72
	JEQ     pa72_pass
	CMPQ    R9, $64
	JLT     pa16_pass
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	MOVQ    SI, AX
	MOVQ    DX, BX
	MOVQ    R10, CX

pa64_row:
	VBROADCASTSS (BX), Z4
	VMULPS       0(AX), Z4, Z5
	VMULPS       64(AX), Z4, Z6
	VMULPS       128(AX), Z4, Z7
	VMULPS       192(AX), Z4, Z8
	VADDPS       Z5, Z0, Z0
	VADDPS       Z6, Z1, Z1
	VADDPS       Z7, Z2, Z2
	VADDPS       Z8, Z3, Z3
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         CX
	JNZ          pa64_row
	VMOVUPS      Z0, 0(DI)
	VMOVUPS      Z1, 64(DI)
	VMOVUPS      Z2, 128(DI)
	VMOVUPS      Z3, 192(DI)
	ADDQ         $256, DI
	ADDQ         $256, SI
	SUBQ         $64, R9
	JMP          pa64_pass

	// 72 left (SigLIP's head size): 64 + 8 in one pass over p, five
	// independent add chains instead of a second pass for the last 8.
pa72_pass:
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 256(DI), Y9
	MOVQ    SI, AX
	MOVQ    DX, BX
	MOVQ    R10, CX

pa72_row:
	VBROADCASTSS (BX), Z4
	VMULPS       0(AX), Z4, Z5
	VMULPS       64(AX), Z4, Z6
	VMULPS       128(AX), Z4, Z7
	VMULPS       192(AX), Z4, Z8
	VMULPS       256(AX), Y4, Y10
	VADDPS       Z5, Z0, Z0
	VADDPS       Z6, Z1, Z1
	VADDPS       Z7, Z2, Z2
	VADDPS       Z8, Z3, Z3
	VADDPS       Y10, Y9, Y9
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         CX
	JNZ          pa72_row
	VMOVUPS      Z0, 0(DI)
	VMOVUPS      Z1, 64(DI)
	VMOVUPS      Z2, 128(DI)
	VMOVUPS      Z3, 192(DI)
	VMOVUPS      Y9, 256(DI)
	JMP          pa_done

pa16_pass:
	CMPQ    R9, $16
	JLT     pa8_pass
	VMOVUPS (DI), Z0
	MOVQ    SI, AX
	MOVQ    DX, BX
	MOVQ    R10, CX

pa16_row:
	VBROADCASTSS (BX), Z4
	VMULPS       (AX), Z4, Z5
	VADDPS       Z5, Z0, Z0
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         CX
	JNZ          pa16_row
	VMOVUPS      Z0, (DI)
	ADDQ         $64, DI
	ADDQ         $64, SI
	SUBQ         $16, R9
	JMP          pa16_pass

pa8_pass:
	CMPQ    R9, $8
	JLT     pa_done
	VMOVUPS (DI), Y0
	MOVQ    SI, AX
	MOVQ    DX, BX
	MOVQ    R10, CX

pa8_row:
	VBROADCASTSS (BX), Y4
	VMULPS       (AX), Y4, Y5
	VADDPS       Y5, Y0, Y0
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         CX
	JNZ          pa8_row
	VMOVUPS      Y0, (DI)
	ADDQ         $32, DI
	ADDQ         $32, SI
	SUBQ         $8, R9
	JMP          pa8_pass

pa_done:
	VZEROUPPER
	RET

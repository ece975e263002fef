#include "textflag.h"

// AVX2/F16C/FMA attention kernels (see attention.go for the pure-Go twins and the
// accumulation orders they reproduce bit for bit). Head dimension d is a
// multiple of 8. In the f16 kernels every product is of two values exactly
// representable in f16, so it is exact in float32 and the fused multiply-add
// rounds like the twins' separate multiply and add; the f32 kernels multiply
// and add unfused.

// REDUCE folds Y0 (lanes 0..7) and Y1 (lanes 8..15) like reduce16 into X0.
#define REDUCE \
	VADDPS       Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1; \
	VADDSS       X1, X0, X0

// func scoresH16(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)
TEXT ·scoresH16(SB), NOSPLIT, $0-52
	MOVQ  sc+0(FP), DI
	MOVQ  k+8(FP), SI
	MOVQ  stride+16(FP), R8
	SHLQ  $1, R8
	MOVQ  n+24(FP), CX
	MOVQ  q+32(FP), DX
	MOVQ  d+40(FP), R9
	MOVSS scale+48(FP), X15
	TESTQ CX, CX
	JLE   sh_done

sh_row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DX, BX
	MOVQ   R9, R10

sh_d16:
	CMPQ        R10, $16
	JLT         sh_d8
	VCVTPH2PS   0(AX), Y2
	VCVTPH2PS   16(AX), Y3
	VFMADD231PS 0(BX), Y2, Y0
	VFMADD231PS 32(BX), Y3, Y1
	ADDQ        $32, AX
	ADDQ        $64, BX
	SUBQ        $16, R10
	JMP         sh_d16

sh_d8:
	TESTQ       R10, R10
	JZ          sh_red
	VCVTPH2PS   0(AX), Y2
	VFMADD231PS 0(BX), Y2, Y0

sh_red:
	REDUCE
	VMULSS X15, X0, X0
	MOVSS  X0, 0(DI)
	ADDQ   $4, DI
	ADDQ   R8, SI
	DECQ   CX
	JNZ    sh_row

sh_done:
	VZEROUPPER
	RET

// func scoresF32(sc, k *float32, stride, n int, q *float32, d int, scale float32)
TEXT ·scoresF32(SB), NOSPLIT, $0-52
	MOVQ  sc+0(FP), DI
	MOVQ  k+8(FP), SI
	MOVQ  stride+16(FP), R8
	SHLQ  $2, R8
	MOVQ  n+24(FP), CX
	MOVQ  q+32(FP), DX
	MOVQ  d+40(FP), R9
	MOVSS scale+48(FP), X15
	TESTQ CX, CX
	JLE   sf_done

sf_row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DX, BX
	MOVQ   R9, R10

sf_d16:
	CMPQ    R10, $16
	JLT     sf_d8
	VMOVUPS 0(AX), Y2
	VMOVUPS 32(AX), Y3
	VMULPS  0(BX), Y2, Y2
	VMULPS  32(BX), Y3, Y3
	VADDPS  Y2, Y0, Y0
	VADDPS  Y3, Y1, Y1
	ADDQ    $64, AX
	ADDQ    $64, BX
	SUBQ    $16, R10
	JMP     sf_d16

sf_d8:
	TESTQ   R10, R10
	JZ      sf_red
	VMOVUPS 0(AX), Y2
	VMULPS  0(BX), Y2, Y2
	VADDPS  Y2, Y0, Y0

sf_red:
	REDUCE
	VMULSS X15, X0, X0
	MOVSS  X0, 0(DI)
	ADDQ   $4, DI
	ADDQ   R8, SI
	DECQ   CX
	JNZ    sf_row

sf_done:
	VZEROUPPER
	RET

// func probsH16(p *float32, n int, inv float32)
// p[j] = f16(p[j]*inv) as float32 (VCVTPS2PH with imm 0: round to nearest even).
TEXT ·probsH16(SB), NOSPLIT, $0-20
	MOVQ         p+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS inv+16(FP), Y15

ph_8:
	CMPQ      CX, $8
	JLT       ph_1
	VMULPS    0(DI), Y15, Y0
	VCVTPS2PH $0, Y0, X0
	VCVTPH2PS X0, Y0
	VMOVUPS   Y0, 0(DI)
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       ph_8

ph_1:
	TESTQ     CX, CX
	JZ        ph_done
	VMOVSS    0(DI), X0
	VMULSS    X15, X0, X0
	VCVTPS2PH $0, X0, X0
	VCVTPH2PS X0, X0
	VMOVSS    X0, 0(DI)
	ADDQ      $4, DI
	DECQ      CX
	JMP       ph_1

ph_done:
	VZEROUPPER
	RET

// PV_PASS32 / PV_PASS8 accumulate sum_j p[j]*row_j[0:32] (or [0:8]) in
// sequence j = 0..n-1, starting from zero. LOADn converts 8 values at an
// offset of row AX into Yn; MADD combines Yn with the broadcast p in Y4.

// func pvH16(o *float32, v *uint16, stride, n int, p *float32, d int)
TEXT ·pvH16(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ stride+16(FP), R8
	SHLQ $1, R8
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), DX
	MOVQ d+40(FP), R9

ph32_pass:
	CMPQ   R9, $32
	JLT    ph8_pass
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, AX
	MOVQ   DX, BX
	MOVQ   CX, R10
	TESTQ  R10, R10
	JZ     ph32_store

ph32_row:
	VBROADCASTSS 0(BX), Y4
	VCVTPH2PS    0(AX), Y5
	VCVTPH2PS    16(AX), Y6
	VCVTPH2PS    32(AX), Y7
	VCVTPH2PS    48(AX), Y8
	VFMADD231PS  Y5, Y4, Y0
	VFMADD231PS  Y6, Y4, Y1
	VFMADD231PS  Y7, Y4, Y2
	VFMADD231PS  Y8, Y4, Y3
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         R10
	JNZ          ph32_row

ph32_store:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $64, SI
	SUBQ    $32, R9
	JMP     ph32_pass

ph8_pass:
	CMPQ   R9, $8
	JLT    pvh_done
	VXORPS Y0, Y0, Y0
	MOVQ   SI, AX
	MOVQ   DX, BX
	MOVQ   CX, R10
	TESTQ  R10, R10
	JZ     ph8_store

ph8_row:
	VBROADCASTSS 0(BX), Y4
	VCVTPH2PS    0(AX), Y5
	VFMADD231PS  Y5, Y4, Y0
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         R10
	JNZ          ph8_row

ph8_store:
	VMOVUPS Y0, 0(DI)
	ADDQ    $32, DI
	ADDQ    $16, SI
	SUBQ    $8, R9
	JMP     ph8_pass

pvh_done:
	VZEROUPPER
	RET

// func pvF32(o, v *float32, stride, n int, p *float32, d int)
TEXT ·pvF32(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ stride+16(FP), R8
	SHLQ $2, R8
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), DX
	MOVQ d+40(FP), R9

pf32_pass:
	CMPQ   R9, $32
	JLT    pf8_pass
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, AX
	MOVQ   DX, BX
	MOVQ   CX, R10
	TESTQ  R10, R10
	JZ     pf32_store

pf32_row:
	VBROADCASTSS 0(BX), Y4
	VMULPS       0(AX), Y4, Y5
	VMULPS       32(AX), Y4, Y6
	VMULPS       64(AX), Y4, Y7
	VMULPS       96(AX), Y4, Y8
	VADDPS       Y5, Y0, Y0
	VADDPS       Y6, Y1, Y1
	VADDPS       Y7, Y2, Y2
	VADDPS       Y8, Y3, Y3
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         R10
	JNZ          pf32_row

pf32_store:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, R9
	JMP     pf32_pass

pf8_pass:
	CMPQ   R9, $8
	JLT    pvf_done
	VXORPS Y0, Y0, Y0
	MOVQ   SI, AX
	MOVQ   DX, BX
	MOVQ   CX, R10
	TESTQ  R10, R10
	JZ     pf8_store

pf8_row:
	VBROADCASTSS 0(BX), Y4
	VMULPS       0(AX), Y4, Y5
	VADDPS       Y5, Y0, Y0
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         R10
	JNZ          pf8_row

pf8_store:
	VMOVUPS Y0, 0(DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, R9
	JMP     pf8_pass

pvf_done:
	VZEROUPPER
	RET

// func maxF32(s *float32, n int) float32
// Largest of s[0:n] (n >= 1) by VMAXPS; for NaN-free input it equals Go's
// max up to the sign of zero, which does not change exp(s - max).
TEXT ·maxF32(SB), NOSPLIT, $0-20
	MOVQ         s+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS 0(SI), Y0

mx_8:
	CMPQ   CX, $8
	JLT    mx_1
	VMAXPS 0(SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    mx_8

mx_1:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VMAXSS       X1, X0, X0

mx_t:
	TESTQ  CX, CX
	JZ     mx_done
	VMAXSS 0(SI), X0, X0
	ADDQ   $4, SI
	DECQ   CX
	JMP    mx_t

mx_done:
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// Constants of expPoly (attention.go): clamps, log2(e), ln2 split in two, the
// 2^k bias and Taylor coefficients 1/i! for i = 12..2.
DATA expc<>+0(SB)/8, $-120.0
DATA expc<>+8(SB)/8, $100.0
DATA expc<>+16(SB)/8, $1.4426950408889634
DATA expc<>+24(SB)/8, $0.6931471803691238
DATA expc<>+32(SB)/8, $1.9082149292705877e-10
DATA expc<>+40(SB)/8, $4503599627371519.0
DATA expc<>+48(SB)/8, $2.08767569878681e-09
DATA expc<>+56(SB)/8, $2.505210838544172e-08
DATA expc<>+64(SB)/8, $2.755731922398589e-07
DATA expc<>+72(SB)/8, $2.7557319223985893e-06
DATA expc<>+80(SB)/8, $2.48015873015873e-05
DATA expc<>+88(SB)/8, $0.0001984126984126984
DATA expc<>+96(SB)/8, $0.001388888888888889
DATA expc<>+104(SB)/8, $0.008333333333333333
DATA expc<>+112(SB)/8, $0.041666666666666664
DATA expc<>+120(SB)/8, $0.16666666666666666
DATA expc<>+128(SB)/8, $0.5
DATA expc<>+136(SB)/8, $1.0
GLOBL expc<>(SB), RODATA|NOPTR, $144

#define HORNER(off) \
	VBROADCASTSD expc<>+off(SB), Y9; \
	VFMADD213PD  Y9, Y3, Y4

// HORNER2 is HORNER for the two chains of expSum4's 8-wide loop (p in Y4
// and Y8, r in Y3 and Y7), one broadcast for both.
#define HORNER2(off) \
	VBROADCASTSD expc<>+off(SB), Y9; \
	VFMADD213PD  Y9, Y3, Y4; \
	VFMADD213PD  Y9, Y7, Y8

// func expSum4(s *float32, n4 int, mx float32, acc *[4]float64)
// For j < n4 (a multiple of 4): s[j] = expPoly(s[j]-mx), acc[j&3] += s[j].
// Eight values per iteration as two chains of 4 sharing each coefficient's
// broadcast (AVX2 hosts run every exponential here), then 4; the sums are
// added in order j. 4096 values, alternating: 9.4-9.9 -> 9.1-9.3 µs.
TEXT ·expSum4(SB), NOSPLIT, $0-32
	MOVQ         s+0(FP), SI
	MOVQ         n4+8(FP), CX
	VBROADCASTSS mx+16(FP), X15
	MOVQ         acc+24(FP), DI
	VMOVUPD      0(DI), Y0
	VBROADCASTSD expc<>+0(SB), Y10
	VBROADCASTSD expc<>+8(SB), Y11
	VBROADCASTSD expc<>+16(SB), Y12
	VBROADCASTSD expc<>+24(SB), Y13
	VBROADCASTSD expc<>+32(SB), Y14

ex_8:
	CMPQ         CX, $8
	JLT          ex_4
	VMOVUPS      0(SI), X1
	VMOVUPS      16(SI), X5
	VSUBPS       X15, X1, X1
	VSUBPS       X15, X5, X5
	VCVTPS2PD    X1, Y1
	VCVTPS2PD    X5, Y5
	VMAXPD       Y1, Y10, Y1 // NaN in Y1 propagates
	VMAXPD       Y5, Y10, Y5
	VMINPD       Y1, Y11, Y1
	VMINPD       Y5, Y11, Y5
	VMULPD       Y12, Y1, Y2
	VMULPD       Y12, Y5, Y6
	VROUNDPD     $0, Y2, Y2 // k
	VROUNDPD     $0, Y6, Y6
	VMOVAPD      Y1, Y3
	VMOVAPD      Y5, Y7
	VFNMADD231PD Y13, Y2, Y3 // r = x - k*ln2hi
	VFNMADD231PD Y13, Y6, Y7
	VFNMADD231PD Y14, Y2, Y3 // r -= k*ln2lo
	VFNMADD231PD Y14, Y6, Y7
	VBROADCASTSD expc<>+48(SB), Y4
	VMOVAPD      Y4, Y8
	HORNER2(56)
	HORNER2(64)
	HORNER2(72)
	HORNER2(80)
	HORNER2(88)
	HORNER2(96)
	HORNER2(104)
	HORNER2(112)
	HORNER2(120)
	HORNER2(128)
	HORNER2(136)
	HORNER2(136)
	VBROADCASTSD expc<>+40(SB), Y9
	VADDPD       Y9, Y2, Y2
	VADDPD       Y9, Y6, Y6
	VPSLLQ       $52, Y2, Y2 // 2^k
	VPSLLQ       $52, Y6, Y6
	VMULPD       Y2, Y4, Y4
	VMULPD       Y6, Y8, Y8
	VCVTPD2PSY   Y4, X4
	VCVTPD2PSY   Y8, X8
	VMOVUPS      X4, 0(SI)
	VMOVUPS      X8, 16(SI)
	VCVTPS2PD    X4, Y4
	VCVTPS2PD    X8, Y8
	VADDPD       Y4, Y0, Y0
	VADDPD       Y8, Y0, Y0
	ADDQ         $32, SI
	SUBQ         $8, CX
	JMP          ex_8

ex_4:
	CMPQ        CX, $4
	JLT         ex_done
	VMOVUPS     0(SI), X1
	VSUBPS      X15, X1, X1
	VCVTPS2PD   X1, Y1
	VMAXPD      Y1, Y10, Y1 // NaN in Y1 propagates
	VMINPD      Y1, Y11, Y1
	VMULPD      Y12, Y1, Y2
	VROUNDPD    $0, Y2, Y2 // k
	VMOVAPD     Y1, Y3
	VFNMADD231PD Y13, Y2, Y3 // r = x - k*ln2hi
	VFNMADD231PD Y14, Y2, Y3 // r -= k*ln2lo
	VBROADCASTSD expc<>+48(SB), Y4
	HORNER(56)
	HORNER(64)
	HORNER(72)
	HORNER(80)
	HORNER(88)
	HORNER(96)
	HORNER(104)
	HORNER(112)
	HORNER(120)
	HORNER(128)
	HORNER(136)
	HORNER(136)
	VBROADCASTSD expc<>+40(SB), Y9
	VADDPD       Y9, Y2, Y2
	VPSLLQ       $52, Y2, Y2 // 2^k
	VMULPD       Y2, Y4, Y4
	VCVTPD2PSY   Y4, X4
	VMOVUPS      X4, 0(SI)
	VCVTPS2PD    X4, Y4
	VADDPD       Y4, Y0, Y0
	ADDQ         $16, SI
	SUBQ         $4, CX
	JMP          ex_4

ex_done:
	VMOVUPD Y0, 0(DI)
	VZEROUPPER
	RET

// at a time, its constants held in registers instead of broadcast per use.

// func expSum8(s *float32, n8 int, mx float32, acc *[4]float64)
// For j < n8 (a positive multiple of 8): s[j] = expPoly(s[j]-mx) and
// acc[j&3] += s[j], added in order j (lanes j..j+3, then j+4..j+7), as
// expSum4 does.
TEXT ·expSum8(SB), NOSPLIT, $0-32
	MOVQ         s+0(FP), SI
	MOVQ         n8+8(FP), CX
	VBROADCASTSS mx+16(FP), Y15
	MOVQ         acc+24(FP), DI
	VMOVUPD      0(DI), Y0
	VBROADCASTSD expc<>+0(SB), Z10
	VBROADCASTSD expc<>+8(SB), Z11
	VBROADCASTSD expc<>+16(SB), Z12
	VBROADCASTSD expc<>+24(SB), Z13
	VBROADCASTSD expc<>+32(SB), Z14
	VBROADCASTSD expc<>+40(SB), Z9
	VBROADCASTSD expc<>+48(SB), Z16
	VBROADCASTSD expc<>+56(SB), Z17
	VBROADCASTSD expc<>+64(SB), Z18
	VBROADCASTSD expc<>+72(SB), Z19
	VBROADCASTSD expc<>+80(SB), Z20
	VBROADCASTSD expc<>+88(SB), Z21
	VBROADCASTSD expc<>+96(SB), Z22
	VBROADCASTSD expc<>+104(SB), Z23
	VBROADCASTSD expc<>+112(SB), Z24
	VBROADCASTSD expc<>+120(SB), Z25
	VBROADCASTSD expc<>+128(SB), Z26
	VBROADCASTSD expc<>+136(SB), Z27

ex8:
	VMOVUPS      0(SI), Y1
	VSUBPS       Y15, Y1, Y1
	VCVTPS2PD    Y1, Z1
	VMAXPD       Z1, Z10, Z1 // NaN in Z1 propagates
	VMINPD       Z1, Z11, Z1
	VMULPD       Z12, Z1, Z2
	VRNDSCALEPD  $0, Z2, Z2 // k, rounded to nearest even
	VMOVAPD      Z1, Z3
	VFNMADD231PD Z13, Z2, Z3 // r = x - k*ln2hi
	VFNMADD231PD Z14, Z2, Z3 // r -= k*ln2lo
	VMOVAPD      Z16, Z4
	VFMADD213PD  Z17, Z3, Z4
	VFMADD213PD  Z18, Z3, Z4
	VFMADD213PD  Z19, Z3, Z4
	VFMADD213PD  Z20, Z3, Z4
	VFMADD213PD  Z21, Z3, Z4
	VFMADD213PD  Z22, Z3, Z4
	VFMADD213PD  Z23, Z3, Z4
	VFMADD213PD  Z24, Z3, Z4
	VFMADD213PD  Z25, Z3, Z4
	VFMADD213PD  Z26, Z3, Z4
	VFMADD213PD  Z27, Z3, Z4
	VFMADD213PD  Z27, Z3, Z4
	VADDPD       Z9, Z2, Z2
	VPSLLQ       $52, Z2, Z2 // 2^k
	VMULPD       Z2, Z4, Z4
	VCVTPD2PS    Z4, Y4
	VMOVUPS      Y4, 0(SI)
	VCVTPS2PD    Y4, Z4
	VADDPD       Y4, Y0, Y0
	VEXTRACTF64X4 $1, Z4, Y5
	VADDPD       Y5, Y0, Y0
	ADDQ         $32, SI
	SUBQ         $8, CX
	JG           ex8
	VMOVUPD      Y0, 0(DI)
	VZEROUPPER
	RET

// SV_ACC converts 16 f16 keys at byte offset koff of AX and adds their
// products with the 16 queries at offset qoff of BX to accumulator lanes
// 0..7 (YL) and 8..15 (YH).
#define SV_ACC(koff, qoff, YL, YH) \
	VCVTPH2PS   koff(AX), Y8; \
	VCVTPH2PS   koff+16(AX), Y9; \
	VFMADD231PS qoff(BX), Y8, YL; \
	VFMADD231PS qoff+32(BX), Y9, YH

// func scoresH16V(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)
// scoresH16VGo for d a multiple of 64: ggml_vec_dot_f16's 4 accumulators
// of 16 lanes (accumulator a in Y(2a), Y(2a+1)), GGML_F32x16_REDUCE's folds,
// then REDUCE (reduce16), times scale.
TEXT ·scoresH16V(SB), NOSPLIT, $0-52
	MOVQ  sc+0(FP), DI
	MOVQ  k+8(FP), SI
	MOVQ  stride+16(FP), R8
	SHLQ  $1, R8
	MOVQ  n+24(FP), CX
	MOVQ  q+32(FP), DX
	MOVQ  d+40(FP), R9
	SHRQ  $6, R9
	MOVSS scale+48(FP), X15
	TESTQ CX, CX
	JLE   sv_done

sv_row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, AX
	MOVQ   DX, BX
	MOVQ   R9, R10

sv_step:
	SV_ACC(0, 0, Y0, Y1)
	SV_ACC(32, 64, Y2, Y3)
	SV_ACC(64, 128, Y4, Y5)
	SV_ACC(96, 192, Y6, Y7)
	ADDQ $128, AX
	ADDQ $256, BX
	DECQ R10
	JNZ  sv_step

	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	REDUCE
	VMULSS X15, X0, X0
	MOVSS  X0, 0(DI)
	ADDQ   $4, DI
	ADDQ   R8, SI
	DECQ   CX
	JNZ    sv_row

sv_done:
	VZEROUPPER
	RET

// func pvTailH16(o *float32, v *uint16, stride, n int, p *float32, d int)
// pvTailGo for d a multiple of 8: o[d] widened to float64, each exact
// float32 product p[j]*v_j[d] widened and added in order j, rounded once.
TEXT ·pvTailH16(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ stride+16(FP), R8
	SHLQ $1, R8
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), DX
	MOVQ d+40(FP), R9

pt_pass:
	CMPQ      R9, $8
	JLT       pt_done
	VCVTPS2PD 0(DI), Y0
	VCVTPS2PD 16(DI), Y1
	MOVQ      SI, AX
	MOVQ      DX, BX
	MOVQ      CX, R10
	TESTQ     R10, R10
	JZ        pt_store

pt_row:
	VBROADCASTSS 0(BX), X4
	VCVTPH2PS    0(AX), X5
	VCVTPH2PS    8(AX), X6
	VMULPS       X4, X5, X5
	VMULPS       X4, X6, X6
	VCVTPS2PD    X5, Y5
	VCVTPS2PD    X6, Y6
	VADDPD       Y5, Y0, Y0
	VADDPD       Y6, Y1, Y1
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         R10
	JNZ          pt_row

pt_store:
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VMOVUPS    X0, 0(DI)
	VMOVUPS    X1, 16(DI)
	ADDQ       $32, DI
	ADDQ       $16, SI
	SUBQ       $8, R9
	JMP        pt_pass

pt_done:
	VZEROUPPER
	RET

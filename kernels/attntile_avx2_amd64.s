#include "textflag.h"

// AVX2 forms of the prefill attention tiles (attn_tile.go has the layouts
// and the twins scoresTile4Go and pvTile4Go, which these equal bit for
// bit): for CPUs with AVX2 but no AVX-512, where the tiles otherwise fall
// back to the row path and re-read K and V per query.

// func scoresTile4A2(s *float32, sstride int, k *uint16, kstride, n int, q *float32, d int, scale float32)
// Each key row is widened once for 4 queries (q interleaved by 16 as
// tile4 packs it): per query the 16 lanes of scoresTile4Go live in two YMM
// (lanes 0..7, 8..15). Then the 4 scores of the key are folded as reduce16
// folds one (lanes l + l+8, then the 128-bit halves, then (t0+t2)+(t1+t3))
// with the 4 queries transposed into the lanes of one XMM, scaled, and
// stored to the 4 score rows.
TEXT ·scoresTile4A2(SB), NOSPLIT, $0-60
	MOVQ         s+0(FP), DI
	MOVQ         sstride+8(FP), R8
	SHLQ         $2, R8
	MOVQ         k+16(FP), SI
	MOVQ         kstride+24(FP), R9
	SHLQ         $1, R9
	MOVQ         n+32(FP), CX
	MOVQ         q+40(FP), DX
	MOVQ         d+48(FP), R10
	SHRQ         $4, R10
	VBROADCASTSS scale+56(FP), X15
	LEAQ         (DI)(R8*1), R11
	LEAQ         (R11)(R8*1), R12
	LEAQ         (R12)(R8*1), R13
	TESTQ        CX, CX
	JLE          st_done
	TESTQ        R10, R10
	JLE          st_done

st_key:
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
	MOVQ   R10, R14

st_chunk:
	VCVTPH2PS   0(AX), Y8
	VCVTPH2PS   16(AX), Y9
	VFMADD231PS 0(BX), Y8, Y0
	VFMADD231PS 32(BX), Y9, Y1
	VFMADD231PS 64(BX), Y8, Y2
	VFMADD231PS 96(BX), Y9, Y3
	VFMADD231PS 128(BX), Y8, Y4
	VFMADD231PS 160(BX), Y9, Y5
	VFMADD231PS 192(BX), Y8, Y6
	VFMADD231PS 224(BX), Y9, Y7
	ADDQ        $32, AX
	ADDQ        $256, BX
	DECQ        R14
	JNZ         st_chunk

	VADDPS       Y1, Y0, Y0 // h = lanes l + l+8, query 0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y5, Y4, Y4
	VADDPS       Y7, Y6, Y6
	VEXTRACTF128 $1, Y0, X9
	VADDPS       X9, X0, X0 // t0..t3 = h[i] + h[i+4]
	VEXTRACTF128 $1, Y2, X9
	VADDPS       X9, X2, X2
	VEXTRACTF128 $1, Y4, X9
	VADDPS       X9, X4, X4
	VEXTRACTF128 $1, Y6, X9
	VADDPS       X9, X6, X6
	VUNPCKLPS    X2, X0, X8 // q0 t0, q1 t0, q0 t1, q1 t1
	VUNPCKHPS    X2, X0, X9 // q0 t2, q1 t2, q0 t3, q1 t3
	VADDPS       X9, X8, X8 // t0+t2, t1+t3 of queries 0, 1
	VUNPCKLPS    X6, X4, X9
	VUNPCKHPS    X6, X4, X10
	VADDPS       X10, X9, X9 // the same for queries 2, 3
	VMOVLHPS     X9, X8, X10 // t0+t2 of queries 0..3
	VMOVHLPS     X8, X9, X11 // t1+t3 of queries 0..3
	VADDPS       X11, X10, X10
	VMULPS       X15, X10, X10
	VMOVSS       X10, 0(DI)
	VEXTRACTPS   $1, X10, 0(R11)
	VEXTRACTPS   $2, X10, 0(R12)
	VEXTRACTPS   $3, X10, 0(R13)
	ADDQ         $4, DI
	ADDQ         $4, R11
	ADDQ         $4, R12
	ADDQ         $4, R13
	ADDQ         R9, SI
	DECQ         CX
	JNZ          st_key

st_done:
	VZEROUPPER
	RET

// func pvTile2A2(acc *float32, d int, v *uint16, vstride int, p *float32, pstride, n, lane0, lanes int)
// pvTile4Go for two queries (p rows p, p+pstride; their lane rows lanes·d
// floats apart from acc, which the caller has cleared): position i adds
// p·v_i into lane row (lane0+i) % lanes of each query, 32 values at a
// time, each V row widened once for both.
TEXT ·pvTile2A2(SB), NOSPLIT, $0-72
	MOVQ  acc+0(FP), DI
	MOVQ  d+8(FP), R13
	SHLQ  $1, R13 // V row bytes
	MOVQ  v+16(FP), SI
	MOVQ  vstride+24(FP), R9
	SHLQ  $1, R9
	MOVQ  p+32(FP), DX
	MOVQ  pstride+40(FP), R10
	SHLQ  $2, R10
	MOVQ  n+48(FP), CX
	MOVQ  lane0+56(FP), R11
	MOVQ  lanes+64(FP), R12
	MOVQ  R12, AX
	IMULQ R13, AX
	SHLQ  $1, AX // query stride in acc: lanes·d floats
	DECQ  R12    // lane mask
	TESTQ CX, CX
	JLE   pv_done
	TESTQ R13, R13
	JLE   pv_done

pv_key:
	MOVQ         R11, BX
	ANDQ         R12, BX
	IMULQ        R13, BX
	SHLQ         $1, BX
	ADDQ         DI, BX // lane row of query 0
	VBROADCASTSS 0(DX), Y12
	VBROADCASTSS 0(DX)(R10*1), Y13
	MOVQ         SI, R8
	LEAQ         (SI)(R13*1), R14

pv_chunk:
	VCVTPH2PS   0(R8), Y0
	VCVTPH2PS   16(R8), Y1
	VCVTPH2PS   32(R8), Y2
	VCVTPH2PS   48(R8), Y3
	VMOVUPS     0(BX), Y4
	VMOVUPS     32(BX), Y5
	VMOVUPS     64(BX), Y6
	VMOVUPS     96(BX), Y7
	VFMADD231PS Y12, Y0, Y4
	VFMADD231PS Y12, Y1, Y5
	VFMADD231PS Y12, Y2, Y6
	VFMADD231PS Y12, Y3, Y7
	VMOVUPS     Y4, 0(BX)
	VMOVUPS     Y5, 32(BX)
	VMOVUPS     Y6, 64(BX)
	VMOVUPS     Y7, 96(BX)
	VMOVUPS     0(BX)(AX*1), Y4
	VMOVUPS     32(BX)(AX*1), Y5
	VMOVUPS     64(BX)(AX*1), Y6
	VMOVUPS     96(BX)(AX*1), Y7
	VFMADD231PS Y13, Y0, Y4
	VFMADD231PS Y13, Y1, Y5
	VFMADD231PS Y13, Y2, Y6
	VFMADD231PS Y13, Y3, Y7
	VMOVUPS     Y4, 0(BX)(AX*1)
	VMOVUPS     Y5, 32(BX)(AX*1)
	VMOVUPS     Y6, 64(BX)(AX*1)
	VMOVUPS     Y7, 96(BX)(AX*1)
	ADDQ        $64, R8
	ADDQ        $128, BX
	CMPQ        R8, R14
	JLT         pv_chunk

	ADDQ R9, SI
	ADDQ $4, DX
	INCQ R11
	DECQ CX
	JNZ  pv_key

pv_done:
	VZEROUPPER
	RET

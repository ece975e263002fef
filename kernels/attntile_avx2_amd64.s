#include "textflag.h"

// The AVX2 form of the prefill score tile (attn_tile.go has the layout and
// the twin scoresTile4Go, which it equals bit for bit): for CPUs with AVX2
// but no AVX-512, where the tiles otherwise fall back to the row path and
// re-read K per query. The p·V tile's AVX2 form, pvTile4A2, is generated
// with the AVX-512 one (attntile_amd64.s).

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

#include "textflag.h"
#include "transpose_amd64.h"

// TRANSPOSE4 turns X0..X3 (words w..w+3 of four rows) into X4..X7 (word
// w, w+1, w+2, w+3 of the four rows).
#define TRANSPOSE4 TRANSPOSE4X4(X0, X1, X2, X3, X8, X9, X10, X11, X4, X5, X6, X7)

// QUAD transposes words w..w+3 of rows AX, AX+DX, AX+2DX, AX+3DX and
// stores them at OFF(BX) + cs·j for word w+j (R12 = cs, R13 = 3·cs).
#define QUAD(OFF) \
	VMOVDQU (AX), X0; \
	VMOVDQU (AX)(DX*1), X1; \
	VMOVDQU (AX)(DX*2), X2; \
	VMOVDQU (AX)(R8*1), X3; \
	TRANSPOSE4; \
	VMOVDQU X4, OFF(BX); \
	VMOVDQU X5, OFF(BX)(R12*1); \
	VMOVDQU X6, OFF(BX)(R12*2); \
	VMOVDQU X7, OFF(BX)(R13*1)

// func transposeWordsAVX(dst, src *byte, rb, cs, quads int)
//
// For w in [0, 4·quads) and r in [0, 16): the 4 bytes at dst+cs·w+4r are
// the 4 bytes at src+r·rb+4w (transposeWordsGo). Four rows and four words
// per 4×4 transpose: 4 loads, 8 shuffles and 4 stores for 64 bytes, where
// the Go loop moves 4 bytes per bounds-checked copy.
TEXT ·transposeWordsAVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rb+16(FP), DX
	MOVQ cs+24(FP), R12
	MOVQ quads+32(FP), CX
	LEAQ (R12)(R12*2), R13
	MOVQ R12, R14
	SHLQ $2, R14
	LEAQ (DX)(DX*2), R8
	LEAQ (SI)(DX*4), R9
	LEAQ (R9)(DX*4), R10
	LEAQ (R10)(DX*4), R11
	TESTQ CX, CX
	JLE   done

loop:
	MOVQ DI, BX
	MOVQ SI, AX
	QUAD(0)
	MOVQ R9, AX
	QUAD(16)
	MOVQ R10, AX
	QUAD(32)
	MOVQ R11, AX
	QUAD(48)
	ADDQ $16, SI
	ADDQ $16, R9
	ADDQ $16, R10
	ADDQ $16, R11
	ADDQ R14, DI
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET

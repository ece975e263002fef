#include "textflag.h"

// func prefetchL2(p *byte, n int)
// PREFETCHT1 of every 64-byte line of [p, p+n), four lines per iteration.
TEXT ·prefetchL2(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	ADDQ SI, CX
	SUBQ $192, CX

four:
	CMPQ       SI, CX
	JAE        tail
	PREFETCHT1 0(SI)
	PREFETCHT1 64(SI)
	PREFETCHT1 128(SI)
	PREFETCHT1 192(SI)
	ADDQ       $256, SI
	JMP        four

tail:
	ADDQ $192, CX

one:
	CMPQ       SI, CX
	JAE        done
	PREFETCHT1 0(SI)
	ADDQ       $64, SI
	JMP        one

done:
	RET

// func prefetchRowsL2(p *byte, rowBytes, stride, rows int)
// prefetchL2 of rows runs of rowBytes bytes, stride bytes apart.
TEXT ·prefetchRowsL2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ rowBytes+8(FP), DX
	MOVQ stride+16(FP), R8
	MOVQ rows+24(FP), R9

row:
	TESTQ R9, R9
	JE    end
	MOVQ  SI, DI
	LEAQ  (SI)(DX*1), CX

line:
	CMPQ       DI, CX
	JAE        next
	PREFETCHT1 0(DI)
	ADDQ       $64, DI
	JMP        line

next:
	ADDQ R8, SI
	DECQ R9
	JMP  row

end:
	RET

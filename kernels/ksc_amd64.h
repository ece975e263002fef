// KSC (shared by gemvk_amd64.s and gemmk16_amd64.s) unpacks the 6-bit scales and mins of the super-block at R (ggml's
// utmp/kmask order, as q4_KDotAVX2): scales 0..7 bytes in AX, mins in R13.
#define KSC(R) \
	MOVL 4(R), AX; \
	MOVL 8(R), BX; \
	MOVL 12(R), DX; \
	MOVL DX, R11; \
	SHRL $4, R11; \
	ANDL $0x0f0f0f0f, R11; \
	MOVL BX, R13; \
	SHRL $6, R13; \
	ANDL $0x03030303, R13; \
	SHLL $4, R13; \
	ORL  R13, R11; \
	MOVL BX, R13; \
	ANDL $0x3f3f3f3f, R13; \
	SHLQ $32, R11; \
	ORQ  R11, R13; \
	ANDL $0x0f0f0f0f, DX; \
	MOVL AX, R12; \
	SHRL $6, R12; \
	ANDL $0x03030303, R12; \
	SHLL $4, R12; \
	ORL  R12, DX; \
	ANDL $0x3f3f3f3f, AX; \
	SHLQ $32, DX; \
	ORQ  DX, AX


#include "textflag.h"

// func lanes8x(h, x *float32, n int, lanes *[8]float32)
// V0 holds lanes 0–3, V1 lanes 4–7; n is a multiple of 8.
TEXT ·lanes8x(SB), NOSPLIT, $0-32
	MOVD h+0(FP), R0
	MOVD x+8(FP), R1
	MOVD n+16(FP), R2
	MOVD lanes+24(FP), R3
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
loop:
	CMP $8, R2
	BLT done
	VLD1.P 32(R0), [V2.S4, V3.S4]
	VLD1.P 32(R1), [V4.S4, V5.S4]
	VFMLA V2.S4, V4.S4, V0.S4
	VFMLA V3.S4, V5.S4, V1.S4
	SUB $8, R2
	B loop
done:
	VST1 [V0.S4, V1.S4], (R3)
	RET

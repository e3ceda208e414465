#include "textflag.h"

// func lanes8(h, x *float32, n int) (even, odd float32)
// Two accumulators of eight lanes, so that one FMA need not wait for the
// one before; n is a multiple of 8. The lanes are then added pairwise
// down to lane 0 (the even products) and lane 1 (the odd ones).
TEXT ·lanes8(SB), NOSPLIT, $0-32
	MOVQ h+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
loop16:
	CMPQ CX, $16
	JLT tail8
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VFMADD231PS (DI), Y2, Y0
	VFMADD231PS 32(DI), Y3, Y1
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP loop16
tail8:
	CMPQ CX, $8
	JLT reduce
	VMOVUPS (SI), Y2
	VFMADD231PS (DI), Y2, Y0
reduce:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	MOVSS X0, even+24(FP)
	VMOVSHDUP X0, X1
	MOVSS X1, odd+28(FP)
	VZEROUPPER
	RET

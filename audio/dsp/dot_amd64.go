package dsp

import "golang.org/x/sys/cpu"

// haveLanes8 is set where lanes8's instructions run: AVX2 and FMA, on
// every x86 CPU since 2013.
var haveLanes8 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// lanes8 is dotLanes for n (a multiple of 8) products, eight at a time.
//
//go:noescape
func lanes8(h, x *float32, n int) (even, odd float32)

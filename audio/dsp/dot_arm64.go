package dsp

// haveLanes8: every arm64 CPU has Advanced SIMD (NEON).
const haveLanes8 = true

// lanes8 is dotLanes for n (a multiple of 8) products, eight at a time.
func lanes8(h, x *float32, n int) (even, odd float32) {
	var l [8]float32
	lanes8x(h, x, n, &l)
	return (l[0] + l[2]) + (l[4] + l[6]), (l[1] + l[3]) + (l[5] + l[7])
}

// lanes8x adds h[i]·x[i] for i < n into eight sums: sum j takes the i
// with i mod 8 = j.
//
//go:noescape
func lanes8x(h, x *float32, n int, lanes *[8]float32)

package dsp

// dotLanes returns the sums of h[i]·x[i] over the even and over the odd
// i (len(x) ≥ len(h)). The resampler's filters are stored with each
// coefficient twice for stereo, so that for interleaved stereo x the two
// sums are the left and the right output sample; for mono their sum is
// the output. This is where the resampler spends its time: lanes8 does
// the bulk of it with the machine's vector unit where there is one
// (dot_amd64.s, dot_arm64.s), eight products per instruction.
func dotLanes(h, x []float32) (even, odd float32) {
	x = x[:len(h)]
	if n := len(h) &^ 7; n > 0 && haveLanes8 {
		even, odd = lanes8(&h[0], &x[0], n)
		if n == len(h) {
			return even, odd
		}
		h, x = h[n:], x[n:]
	}
	e, o := dotLanesGo(h, x)
	return even + e, odd + o
}

// dotLanesGo is dotLanes in Go, for machines without lanes8 and for the
// tail of fewer than eight products.
func dotLanesGo(h, x []float32) (even, odd float32) {
	x = x[:len(h)]
	var e0, o0, e1, o1, e2, o2, e3, o3 float32
	// Re-slicing instead of indexing with i+1…i+7 lets the compiler drop
	// the bounds checks; eight sums keep the adder busy.
	for len(h) >= 8 && len(x) >= 8 {
		e0 += h[0] * x[0]
		o0 += h[1] * x[1]
		e1 += h[2] * x[2]
		o1 += h[3] * x[3]
		e2 += h[4] * x[4]
		o2 += h[5] * x[5]
		e3 += h[6] * x[6]
		o3 += h[7] * x[7]
		h, x = h[8:], x[8:]
	}
	for len(h) >= 2 && len(x) >= 2 {
		e0 += h[0] * x[0]
		o0 += h[1] * x[1]
		h, x = h[2:], x[2:]
	}
	if len(h) == 1 && len(x) == 1 {
		e0 += h[0] * x[0]
	}
	return (e0 + e1) + (e2 + e3), (o0 + o1) + (o2 + o3)
}

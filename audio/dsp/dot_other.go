//go:build !amd64 && !arm64

package dsp

const haveLanes8 = false

func lanes8(h, x *float32, n int) (even, odd float32) { panic("dsp: lanes8 without a vector unit") }

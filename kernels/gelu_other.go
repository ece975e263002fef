//go:build !amd64

package kernels

const hasGeluAsm = false

func geluF16Row16(v *float32, n int, t *float32) { panic("kernels: geluF16Row16 without assembly") }

func geluF16Row8(v *float32, n int, t *float32) { panic("kernels: geluF16Row8 without assembly") }

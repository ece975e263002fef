//go:build !amd64

package kernels

const hasR16Q5 = false

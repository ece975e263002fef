//go:build !amd64

package kernels

import "dayi/weights"

// Off amd64 the q4_1/q5_1 matmuls take the dots (no plan path of qx1.go).
func qx1KernelsFor(weights.Type) (qx1Kernels, bool) { return qx1Kernels{}, false }

// hasAVX2 is false off amd64 (the plan tests ask it of every CPU).
const hasAVX2 = false

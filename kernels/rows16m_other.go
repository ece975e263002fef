//go:build !amd64

package kernels

import "dayi/weights"

// r16MultiKernels: no multi-row Rows16 kernels off amd64.
func r16MultiKernels(t weights.Type) (k4, k2 gemvmFunc, ok bool) { return nil, nil, false }

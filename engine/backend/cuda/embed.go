package cuda

import _ "embed"

//go:generate go run ./internal/gen -o kernels.ptx

// kernelsPTX is the module every device loads (cuModuleLoadData JIT-compiles
// it for the GPU at hand), generated from package kern.
//
//go:embed kernels.ptx
var kernelsPTX string

// PTX returns the embedded kernel module's text.
func PTX() string { return kernelsPTX }

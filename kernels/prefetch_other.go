//go:build !amd64

package kernels

// prefetchL2 is a no-op where no prefetch instruction is wired up.
func prefetchL2(p *byte, n int) {}

// prefetchRowsL2 is a no-op where no prefetch instruction is wired up.
func prefetchRowsL2(p *byte, rowBytes, stride, rows int) {}

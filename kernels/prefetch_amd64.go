package kernels

// prefetchL2 asks for the cache lines of [p, p+n) to be brought into L2
// (PREFETCHT1): a hint, it reads nothing and faults on nothing.
//
//go:noescape
func prefetchL2(p *byte, n int)

// prefetchRowsL2 is prefetchL2 of rows runs of rowBytes bytes, the first at
// p, each stride bytes after the previous one.
//
//go:noescape
func prefetchRowsL2(p *byte, rowBytes, stride, rows int)

package kernels

// vecVVAVX2 runs VecBinary's op (VecOp) over n (a multiple of 8) floats.
//
//go:noescape
func vecVVAVX2(op int, o, a, b *float32, n int)

// vecVSAVX2 runs VecBinaryScalar's op over n (a multiple of 8) floats,
// y first when yFirst is 1.
//
//go:noescape
func vecVSAVX2(op int, o, a *float32, y float32, n, yFirst int)

//go:build !amd64

package kernels

func vecVVAVX2(op int, o, a, b *float32, n int) { panic("kernels: vecVVAVX2 without assembly") }

func vecVSAVX2(op int, o, a *float32, y float32, n, yFirst int) {
	panic("kernels: vecVSAVX2 without assembly")
}

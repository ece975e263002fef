package kernels

import (
	"encoding/binary"
	"math"
	"unsafe"

	"dayi/weights"
)

// Pure-Go twins, with the assembly's signatures, of the amd64 kernels that
// plan.go's paths call through pointers. Off amd64 the kernels' names are
// bound to these (gemm_other.go), so a path reached there computes what
// the assembly would, bit for bit; on amd64 twins_amd64_test.go holds each
// twin against its kernel. Each states the bytes it reads, as the kernels
// assume them; the callers guarantee them.

// gemmKx1Go is gemmKx1: one row of nb decoded super-blocks (gemmk.go's
// kdecSize layout) times one q8_K activation row, in dotK's float order.
func gemmKx1Go(w, x *byte, nb int) float32 {
	ws, xs := unsafe.Slice(w, nb*kdecSize), unsafe.Slice(x, nb*q8_KSize)
	le := binary.LittleEndian
	var acc float32
	for b := 0; b < nb; b++ {
		wb, xb := ws[b*kdecSize:(b+1)*kdecSize], xs[b*q8_KSize:(b+1)*q8_KSize]
		var isum, imin int32
		for e := 0; e < 256; e++ {
			// The pair scale of element e: chunk e/64, word (e%64)/2.
			sc := int32(int16(le.Uint16(wb[256+e&^1:])))
			isum += sc * int32(wb[e]) * int32(int8(xb[4+e]))
		}
		for g := 0; g < 16; g++ {
			bs := int32(int16(le.Uint16(xb[260+2*g:])))
			isum += int32(int16(le.Uint16(wb[512+2*g:]))) * bs
			imin += int32(int16(le.Uint16(wb[544+2*g:]))) * bs
		}
		dx := math.Float32frombits(le.Uint32(xb))
		d := math.Float32frombits(le.Uint32(wb[576:]))
		dm := math.Float32frombits(le.Uint32(wb[580:]))
		acc += float32(float32(isum) * float32(d*dx))
		acc -= float32(float32(imin) * float32(dm*dx))
	}
	return acc
}

// gemmKx4Go is gemmKx4: the decoded row w times 4 activation rows
// xstride bytes apart.
func gemmKx4Go(w, x *byte, xstride, nb int, res *[4]float32) {
	for i := range res {
		res[i] = gemmKx1Go(w, (*byte)(unsafe.Add(unsafe.Pointer(x), i*xstride)), nb)
	}
}

// f16DotZGo is f16DotZ: dotF16Tiny's 16 lanes over n f16 weights and
// float32 activations holding f16 values.
func f16DotZGo(w *byte, x *float32, n int) float32 {
	ws, xs := unsafe.Slice(w, 2*n), unsafe.Slice(x, n)
	var acc [16]float32
	i := 0
	for ; i+16 <= n; i += 16 {
		for l := 0; l < 16; l++ {
			acc[l] += weights.FP16ToFP32(binary.LittleEndian.Uint16(ws[2*(i+l):])) * xs[i+l]
		}
	}
	for l := 0; i < n; i, l = i+1, l+1 {
		acc[l] += weights.FP16ToFP32(binary.LittleEndian.Uint16(ws[2*i:])) * xs[i]
	}
	return reduce16(&acc)
}

// f16Gemm2x4Go is f16Gemm2x4: weight rows w, w+wstride bytes times
// activation rows x, x+xstride bytes, ... over 16·n16 elements; res[4r+i].
func f16Gemm2x4Go(w *byte, wstride int, x *float32, xstride, n16 int, res *[8]float32) {
	for r := 0; r < 2; r++ {
		for i := 0; i < 4; i++ {
			res[4*r+i] = f16DotZGo((*byte)(unsafe.Add(unsafe.Pointer(w), r*wstride)),
				(*float32)(unsafe.Add(unsafe.Pointer(x), i*xstride)), 16*n16)
		}
	}
}

// f16DotVGo is f16DotV: dotF16's 64-element steps over 64·n64 elements,
// reduced (the float64 tail is the caller's).
func f16DotVGo(w *byte, x *float32, n64 int) float32 {
	ws, xs := unsafe.Slice(w, 128*n64), unsafe.Slice(x, 64*n64)
	var sum [4][16]float32
	for i := 0; i < 64*n64; i += 64 {
		for j := range sum {
			for l := range sum[j] {
				e := i + 16*j + l
				sum[j][l] += weights.FP16ToFP32(binary.LittleEndian.Uint16(ws[2*e:])) * xs[e]
			}
		}
	}
	return reduce4x16(&sum)
}

// f16Gemv4VGo is f16Gemv4V: f16DotVGo for 4 weight rows wstride bytes
// apart.
func f16Gemv4VGo(w *byte, wstride int, x *float32, n64 int, res *[4]float32) {
	for r := range res {
		res[r] = f16DotVGo((*byte)(unsafe.Add(unsafe.Pointer(w), r*wstride)), x, n64)
	}
}

// kGemv4Go returns the twin of q4_KGemv4 (t = q4_K) or q6_KGemv4 (q6_K):
// dotK of each of 4 rows wstride bytes apart.
func kGemv4Go(t weights.Type) func(w *byte, wstride int, x *byte, nb int, res *[4]float32) {
	return func(w *byte, wstride int, x *byte, nb int, res *[4]float32) {
		ts := t.TypeSize()
		ws, xs := unsafe.Slice(w, 3*wstride+nb*ts), unsafe.Slice(x, nb*q8_KSize)
		var kb kblock
		for r := range res {
			res[r] = dotK(t, ws[r*wstride:], xs, nb, &kb)
		}
	}
}

// dec16Go returns the twin of dec16Q4_0/dec16Q5_0/dec16Q8_0 for t:
// decode16 of the 16 rows w + r*wstride.
func dec16Go(t weights.Type) func(w *byte, wstride, nb int, dst *byte) {
	return func(w *byte, wstride, nb int, dst *byte) {
		ts := t.TypeSize()
		decode16(unsafe.Slice(dst, nb*w16BlockSize), unsafe.Slice(w, 15*wstride+nb*ts), wstride, nb, ts)
	}
}

// decK16Go returns the twin of decK16Q4_K/decK16Q6_K for t: decodeK16 of
// the 16 rows w + r*wstride.
func decK16Go(t weights.Type) func(w *byte, wstride, nb int, dst *byte) {
	return func(w *byte, wstride, nb int, dst *byte) {
		decodeK16(t, unsafe.Slice(dst, nb*k16BlockSize), unsafe.Slice(w, 15*wstride+nb*t.TypeSize()), wstride, nb)
	}
}

// gemm16GoKernel returns the twin of gemm16x<ncols>: a decoded group times
// ncols packed activation rows xstride bytes apart, outputs ostride floats
// apart.
func gemm16GoKernel(ncols int) gemm16Func {
	return func(w, x *byte, xstride, nb int, out *float32, ostride int) {
		gemm16Go(unsafe.Slice(w, nb*w16BlockSize), unsafe.Slice(x, (ncols-1)*xstride+nb*x40BlockSize), xstride, nb, ncols,
			unsafe.Slice(out, (ncols-1)*ostride+w16Rows), ostride)
	}
}

// siluV16Go is siluV16: ggml_v_silu on 16·n16 values in place.
func siluV16Go(v *float32, n16 int) {
	vs := unsafe.Slice(v, 16*n16)
	for i := range vs {
		vs[i] = vSiLU(vs[i])
	}
}

// q5_0Gemv4Go is q5_0Gemv4: 4 q5_0 rows wstride bytes apart times the
// activation pairs packQ5 made (npairs pairs of blocks), dotQ5_0's lane
// sums per row into acc[16r:16r+16] (from zero). Each packed block is
// turned back into its q8_0 block (the packed d is an f16 value as
// float32, so the conversion back is exact) for q5_0Lanes.
func q5_0Gemv4Go(w *byte, wstride int, x *byte, npairs int, acc *[64]float32) {
	ws := unsafe.Slice(w, 3*wstride+2*npairs*q5_0Size)
	var xs []byte
	if npairs > 0 {
		xs = unsafe.Slice(x, npairs*xpBlockSize)
	}
	*acc = [64]float32{}
	var xb [q8_0Size]byte
	for p := 0; p < npairs; p++ {
		for h := 0; h < 2; h++ {
			d := xs[p*xpBlockSize:]
			binary.LittleEndian.PutUint16(xb[:], weights.FP32ToFP16(math.Float32frombits(binary.LittleEndian.Uint32(d[128+32*h:]))))
			copy(xb[2:], d[32*h:32*h+32])
			b := 2*p + h
			for r := 0; r < 4; r++ {
				a := (*[16]float32)(acc[16*r : 16*r+16])
				q5_0Lanes(a, h*8, ws[r*wstride+b*q5_0Size:r*wstride+(b+1)*q5_0Size], xb[:])
			}
		}
	}
}

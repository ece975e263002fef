package kernels

import (
	"fmt"
	"math"
	"unsafe"

	"dayi/weights"
)

// KVQuant is a block-quantized KV cache element type in GGUF's block layout
// (32 values per block, an f16 scale first).
type KVQuant int

const (
	// KVQ8_0: 34-byte blocks of an f16 scale d and 32 int8 q; x = d*q.
	KVQ8_0 KVQuant = iota + 1
	// KVQ4_0: 18-byte blocks of an f16 scale d and 16 bytes of nibbles
	// (value j in the low nibble of byte j, value j+16 in the high one);
	// x = d*(q-8).
	KVQ4_0
)

// QK is the number of values in one KV quantization block.
const QK = 32

// BlockBytes is the size of one 32-value block.
func (t KVQuant) BlockBytes() int {
	switch t {
	case KVQ8_0:
		return 34
	case KVQ4_0:
		return 18
	}
	return 0
}

// RowBytes is the size of a row of n values (n a multiple of QK).
func (t KVQuant) RowBytes(n int) int { return n / QK * t.BlockBytes() }

func (t KVQuant) String() string {
	switch t {
	case KVQ8_0:
		return "q8_0"
	case KVQ4_0:
		return "q4_0"
	}
	return fmt.Sprintf("KVQuant(%d)", int(t))
}

// KVQuantFromRow tells the type of a row of rowBytes bytes holding d values
// (0 when it is neither): the two block sizes differ, so the shape says it.
func KVQuantFromRow(rowBytes, d int) KVQuant {
	if d <= 0 || d%QK != 0 {
		return 0
	}
	for _, t := range []KVQuant{KVQ8_0, KVQ4_0} {
		if t.RowBytes(d) == rowBytes {
			return t
		}
	}
	return 0
}

// QuantizeRow writes x (len a multiple of QK) as blocks of type t to dst, as
// llama.cpp writes its KV cache rows (ggml-cpu from_float of the type):
//   - q8_0: ggml-cpu's x86 quantize_row_q8_0: amax = max|x|, d = amax/127
//     stored as f16, q = round-half-even(x * (127/amax)) (the SIMD path's
//     _mm256_round_ps(_MM_ROUND_NEAREST) with id = 127/amax, not 1/f16(d));
//   - q4_0: quantize_row_q4_0_ref: m = the first value of largest |x|,
//     d = m/-8, q = min(15, trunc(x/d + 8.5)).
//
// The graph builds the same values with graph ops (engine/arch kvquant.go);
// this is their reference for tests.
func QuantizeRow(t KVQuant, dst []byte, x []float32) {
	bs := t.BlockBytes()
	for b := 0; b < len(x)/QK; b++ {
		xb, blk := x[b*QK:(b+1)*QK], dst[b*bs:(b+1)*bs]
		switch t {
		case KVQ8_0:
			var amax float32
			for _, v := range xb {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			var id float32
			if amax != 0 {
				id = 127 / amax
			}
			putF16(blk, d)
			for j, v := range xb {
				blk[2+j] = byte(int8(math.RoundToEven(float64(v * id))))
			}
		case KVQ4_0:
			var amax, m float32
			for _, v := range xb {
				if a := float32(math.Abs(float64(v))); a > amax {
					amax, m = a, v
				}
			}
			d := m / -8
			var id float32
			if d != 0 {
				id = 1 / d
			}
			putF16(blk, d)
			for j := 0; j < QK/2; j++ {
				lo := min(15, int8(xb[j]*id+8.5))
				hi := min(15, int8(xb[j+QK/2]*id+8.5))
				blk[2+j] = byte(lo) | byte(hi)<<4
			}
		}
	}
}

func putF16(b []byte, v float32) {
	h := weights.FP32ToFP16(v)
	b[0], b[1] = byte(h), byte(h>>8)
}

func getF16(b []byte) float32 { return weights.FP16ToFP32(uint16(b[0]) | uint16(b[1])<<8) }

// DequantizeRow expands a row of blocks of type t into dst (dequantize_row_q8_0
// and dequantize_row_q4_0: d*q, d*(q-8)).
func DequantizeRow(t KVQuant, dst []float32, row []byte) {
	bs := t.BlockBytes()
	for b := 0; b < len(dst)/QK; b++ {
		blk, y := row[b*bs:(b+1)*bs], dst[b*QK:(b+1)*QK]
		d := getF16(blk)
		switch t {
		case KVQ8_0:
			for j := range y {
				y[j] = float32(int8(blk[2+j])) * d
			}
		case KVQ4_0:
			for j := 0; j < QK/2; j++ {
				y[j] = float32(int(blk[2+j]&15)-8) * d
				y[j+QK/2] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	}
}

// kVecDotQ8 is vecDotQ8Go or its assembly twin (attnq_amd64.go).
var kVecDotQ8 = vecDotQ8Go

// vecDotQ8Go is the dot product of a row of type t with a q8_0 row y, in
// ggml-cpu's x86 order for ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0
// (AVX2): per block, 8 lanes each summing the exact integer products of 4
// consecutive values, acc[l] = fma(d_x*d_y, lane_l, acc[l]); then
// hsum_float_8: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
func vecDotQ8Go(t KVQuant, x, y []byte, nb int) float32 {
	var acc [8]float32
	bs := t.BlockBytes()
	x, y = x[:nb*bs], y[:nb*34]
	for b := 0; b < nb; b++ {
		xb, yb := x[b*bs:(b+1)*bs], y[b*34:(b+1)*34]
		d := float64(getF16(xb) * getF16(yb))
		yq := yb[2:34]
		if t == KVQ8_0 {
			xq := xb[2:34]
			for l := 0; l < 8; l++ {
				xl, yl := xq[4*l:4*l+4], yq[4*l:4*l+4]
				lane := int32(int8(xl[0]))*int32(int8(yl[0])) + int32(int8(xl[1]))*int32(int8(yl[1])) +
					int32(int8(xl[2]))*int32(int8(yl[2])) + int32(int8(xl[3]))*int32(int8(yl[3]))
				acc[l] = float32(math.FMA(d, float64(lane), float64(acc[l])))
			}
			continue
		}
		xq := xb[2:18] // q4_0: values l*4.. of lanes 0-3 in the low nibbles, lanes 4-7 in the high ones
		for l := 0; l < 4; l++ {
			xl, ylo, yhi := xq[4*l:4*l+4], yq[4*l:4*l+4], yq[16+4*l:16+4*l+4]
			lo := (int32(xl[0]&15)-8)*int32(int8(ylo[0])) + (int32(xl[1]&15)-8)*int32(int8(ylo[1])) +
				(int32(xl[2]&15)-8)*int32(int8(ylo[2])) + (int32(xl[3]&15)-8)*int32(int8(ylo[3]))
			hi := (int32(xl[0]>>4)-8)*int32(int8(yhi[0])) + (int32(xl[1]>>4)-8)*int32(int8(yhi[1])) +
				(int32(xl[2]>>4)-8)*int32(int8(yhi[2])) + (int32(xl[3]>>4)-8)*int32(int8(yhi[3]))
			acc[l] = float32(math.FMA(d, float64(lo), float64(acc[l])))
			acc[l+4] = float32(math.FMA(d, float64(hi), float64(acc[l+4])))
		}
	}
	return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

// attnQTask holds one AttentionQuant call's operands.
type attnQTask struct {
	q                        []float32
	T, H, D                  int
	k, v                     []byte
	kt, vt                   KVQuant
	S, Hkv, kvLen, pos0, win int
	scale                    float32
	out                      []float32
	p                        *Pool
}

// AttentionQuant is Attention over a KV cache of quantized rows: k and v
// hold S*Hkv rows of D values, each row kt.RowBytes(D) (vt.RowBytes(D))
// bytes, [S, Hkv] row-major. D must be a multiple of QK.
//
// Numerics follow llama.cpp's CPU flash attention for quantized caches
// (ggml-cpu ops.cpp ggml_compute_forward_flash_attn_ext_f16, one query row
// at a time; llama.cpp needs this path for a quantized V): the query row is
// quantized to q8_0 (the K type's vec_dot_type), s = vec_dot(k_j, q)*scale,
// an online softmax over keys in order with M the running max, ms =
// exp(M_old-M) rescaling the f32 accumulator and vs = exp(s-M), each V row
// dequantized to f32 and added as acc = fma(v, vs, acc) (ggml_vec_mad_f32),
// S = S*ms + vs, and out = acc * (1/S). exp is expPoly (correctly rounded;
// ggml calls libm expf). Where RotK/RotV are set, the cache holds rotated
// rows (the graph rotates k and v before quantizing them); the query is
// rotated here before its q8_0 conversion and the output rotated back.
func (p *Pool) AttentionQuant(q []float32, T, H, D int, k, v []byte, kt, vt KVQuant, S, Hkv, kvLen, pos0, window int, scale float32, out []float32) error {
	if T < 0 || H <= 0 || D <= 0 || D%QK != 0 || S < 0 || Hkv <= 0 || H%Hkv != 0 || kvLen < 0 || kvLen > S || pos0 < 0 {
		return fmt.Errorf("kernels: quantized attention: bad shape T=%d H=%d D=%d S=%d Hkv=%d kvLen=%d pos0=%d", T, H, D, S, Hkv, kvLen, pos0)
	}
	if kt.BlockBytes() == 0 || vt.BlockBytes() == 0 {
		return fmt.Errorf("kernels: quantized attention: unknown K/V types %d/%d", kt, vt)
	}
	if len(k) < S*Hkv*kt.RowBytes(D) || len(v) < S*Hkv*vt.RowBytes(D) {
		return fmt.Errorf("kernels: quantized attention: K (%d bytes) or V (%d bytes) shorter than S*Hkv rows", len(k), len(v))
	}
	if len(q) < T*H*D || len(out) < T*H*D {
		return fmt.Errorf("kernels: quantized attention: q (%d) or out (%d) shorter than T*H*D = %d", len(q), len(out), T*H*D)
	}
	if T == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	at := &attnQTask{q: q, T: T, H: H, D: D, k: k, v: v, kt: kt, vt: vt,
		S: S, Hkv: Hkv, kvLen: kvLen, pos0: pos0, win: window, scale: scale, out: out, p: p}
	if T*H*kvLen*D < parallelMinMACs/2 {
		at.run(0, T*Hkv, 0)
	} else {
		p.run(at, T*Hkv, 1)
	}
	return nil
}

func (at *attnQTask) run(lo, hi, worker int) {
	D := at.D
	nb := D / QK
	group := at.H / at.Hkv
	kRow, vRow := at.kt.RowBytes(D), at.vt.RowBytes(D)
	// Scratch: the dequantized V row, per group head its running max, sum
	// and weight, and the group's q8_0 queries (viewed as bytes).
	sc := at.p.floatScratch(worker, 2*D+3*group+(group*34*nb+3)/4)
	v32, rot := sc[:D], sc[D:2*D]
	mx, sum, vs := sc[2*D:2*D+group], sc[2*D+group:2*D+2*group], sc[2*D+2*group:2*D+3*group]
	qq := f32Bytes(sc[2*D+3*group:])[:group*34*nb]
	rk, rv := RotK(D), RotV(D)
	// Items are (query row, KV head): the heads of a group read the same K/V
	// rows, so each V row is dequantized once for all of them. Every head
	// keeps its own running max and sum, in key order, as ggml does per head.
	for item := lo; item < hi; item++ {
		i, kvh := item/at.Hkv, item%at.Hkv
		pos := at.pos0 + i
		jhi := min(at.kvLen, pos+1)
		jlo := 0
		if at.win > 0 {
			jlo = max(0, pos+1-at.win)
		}
		h0 := kvh * group
		outs := at.out[(i*at.H+h0)*D : (i*at.H+h0+group)*D]
		clear(outs)
		if jhi <= jlo {
			continue
		}
		for g := 0; g < group; g++ {
			qrow := at.q[(i*at.H+h0+g)*D : (i*at.H+h0+g+1)*D]
			if rk != 0 {
				copy(rot, qrow)
				FWHT(rot, rk)
				qrow = rot
			}
			QuantizeRow(KVQ8_0, qq[g*34*nb:(g+1)*34*nb], qrow)
			mx[g], sum[g] = float32(math.Inf(-1)), 0
		}
		for j := jlo; j < jhi; j++ {
			r := j*at.Hkv + kvh
			krow := at.k[r*kRow : (r+1)*kRow]
			for g := 0; g < group; g++ {
				s := kVecDotQ8(at.kt, krow, qq[g*34*nb:(g+1)*34*nb], nb) * at.scale
				ms, w := float32(1), float32(1)
				if s > mx[g] {
					old := mx[g]
					mx[g] = s
					ms = expPoly(old - s)
					o := outs[g*D : (g+1)*D]
					for d := range o {
						o[d] *= ms
					}
				} else {
					w = expPoly(s - mx[g])
				}
				vs[g] = w
				sum[g] = float32(sum[g]*ms) + w
			}
			DequantizeRow(at.vt, v32, at.v[r*vRow:(r+1)*vRow])
			for g := 0; g < group; g++ {
				kFMARow(outs[g*D:(g+1)*D], v32, vs[g])
			}
		}
		for g := 0; g < group; g++ {
			o := outs[g*D : (g+1)*D]
			var inv float32
			if sum[g] != 0 {
				inv = 1 / sum[g]
			}
			for d := range o {
				o[d] *= inv
			}
			if rv != 0 {
				FWHT(o, rv) // rotate back: the Hadamard matrix is its own inverse
			}
		}
	}
}

// kFMARow is fmaRowGo or its assembly twin (attnq_amd64.go).
var kFMARow = fmaRowGo

// fmaRowGo sets o[d] = fma(v[d], w, o[d]) (ggml_vec_mad_f32's fused
// multiply-add, computed in float64 and rounded once more to float32).
func fmaRowGo(o, v []float32, w float32) {
	v = v[:len(o)]
	wf := float64(w)
	for d := range o {
		o[d] = float32(math.FMA(float64(v[d]), wf, float64(o[d])))
	}
}

// f32Bytes views float scratch as bytes.
func f32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// RotK and RotV are the sizes of the Walsh-Hadamard rotations llama.cpp
// applies to a quantized cache of head size d (0: none): since its
// attention-rotation change (llama.cpp PR 21038, llama_kv_cache attn_rot_k /
// attn_rot_v) q and k are rotated by an orthonormal Hadamard matrix of the
// largest power-of-two size n >= 64 dividing d, and v (and the attention
// output, back) by one of size 64, each applied to consecutive n-value
// chunks, when the head size is a multiple of 64. q·k and the output are
// unchanged in exact arithmetic; the quantization error is spread evenly.
func RotK(d int) int {
	if d <= 0 || d%64 != 0 {
		return 0
	}
	n := 64
	for d%(2*n) == 0 {
		n *= 2
	}
	return n
}

// RotV: see RotK.
func RotV(d int) int {
	if d <= 0 || d%64 != 0 {
		return 0
	}
	return 64
}

// FWHT applies the orthonormal Walsh-Hadamard transform of size n (a power
// of two) to each consecutive n-value chunk of x, in ggml-cpu's order
// (ops.cpp ggml_compute_forward_fwht: scale by float32(1/sqrtf(n)) first,
// then butterflies u+v, u-v with the half-length doubling from 1).
func FWHT(x []float32, n int) {
	scale := FWHTScale(n)
	for c := 0; c+n <= len(x); c += n {
		y := x[c : c+n]
		for i := range y {
			y[i] *= scale
		}
		for l := 1; l < n; l <<= 1 {
			for i := 0; i < n; i += 2 * l {
				for j := i; j < i+l; j++ {
					u, v := y[j], y[j+l]
					y[j], y[j+l] = u+v, u-v
				}
			}
		}
	}
}

// FWHTScale is ggml's 1.0f/sqrtf((float)n).
func FWHTScale(n int) float32 { return 1 / float32(math.Sqrt(float64(n))) }

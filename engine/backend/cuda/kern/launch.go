package kern

import (
	"fmt"

	"dayi/engine/backend/cuda/ptx"
	"dayi/weights"
)

// Launcher runs one kernel of Module by name: grid blocks of block threads,
// args in the kernel's parameter order (pointers and u32 values as uint64,
// f32 values as their bits). Both the CUDA device and Emu implement it.
type Launcher interface {
	Launch(name string, grid, block uint32, args ...uint64) error
}

// Geometry is a launch's grid and block size (1-D; no kernel uses shared
// memory, so there is no shared-memory size to compute).
type Geometry struct{ Grid, Block uint32 }

func ceilDiv(a, b int) uint32 { return uint32((a + b - 1) / b) }

// RowGeometry: one warp per row, RowWarps warps a block.
func RowGeometry(rows int) Geometry {
	return Geometry{Grid: ceilDiv(rows, RowWarps), Block: 32 * RowWarps}
}

// ElemGeometry: one thread per element.
func ElemGeometry(n int) Geometry { return Geometry{Grid: ceilDiv(n, ElemBlock), Block: ElemBlock} }

// QuantGeometry: one warp per q8_1 block of 32 values.
func QuantGeometry(n int) Geometry {
	return Geometry{Grid: ceilDiv(n/32, QuantWarps), Block: 32 * QuantWarps}
}

// RopeGeometry: one thread per rotated pair.
func RopeGeometry(heads, nrot int) Geometry { return ElemGeometry(heads * (nrot / 2)) }

// limit32 rejects sizes a kernel's 32-bit index arithmetic cannot hold.
func limit32(what string, n int) error {
	if n < 0 || n > 1<<31-1 {
		return fmt.Errorf("cuda: %s %d does not fit the kernels' 32-bit indices", what, n)
	}
	return nil
}

// Act is the form a GEMV kernel reads its activations in.
type Act int

const (
	ActF32  Act = iota // f32 values
	ActQ8_1            // q8_1 blocks of 32 (quantize_q8_1): q4_0, q5_0, q8_0
	ActQ8_K            // q8_K blocks of 256 (quantize_q8_k): q4_K, q5_K, q6_K
)

// ActBytes is the size of n activations in form a.
func ActBytes(a Act, n int) int {
	switch a {
	case ActQ8_1:
		return n / 32 * Q81Bytes
	case ActQ8_K:
		return n / 256 * Q8KBytes
	}
	return 4 * n
}

// GemvKernel names the kernel for weight type t and the activation form it
// reads: the one ggml-cpu's vec_dot_type gives t (q8_0 for the legacy
// quants, here q8_1 whose quants and scale are the same; q8_K for k-quants).
func GemvKernel(t weights.Type) (name string, act Act, err error) {
	switch t {
	case weights.TypeQ4_0:
		return "gemv_q4_0", ActQ8_1, nil
	case weights.TypeQ5_0:
		return "gemv_q5_0", ActQ8_1, nil
	case weights.TypeQ8_0:
		return "gemv_q8_0", ActQ8_1, nil
	case weights.TypeQ4_K:
		return "gemv_q4_k", ActQ8_K, nil
	case weights.TypeQ5_K:
		return "gemv_q5_k", ActQ8_K, nil
	case weights.TypeQ6_K:
		return "gemv_q6_k", ActQ8_K, nil
	case weights.TypeF32:
		return "gemv_f32", ActF32, nil
	case weights.TypeF16:
		return "gemv_f16", ActF32, nil
	}
	return "", ActF32, fmt.Errorf("cuda: no GEMV kernel for %s weights (have q4_0, q5_0, q8_0, q4_K, q5_K, q6_K, f16, f32)", t)
}

// Quantize quantizes n f32 values at x into form a at y.
func Quantize(l Launcher, a Act, x, y uint64, n int) error {
	switch a {
	case ActQ8_1:
		return QuantizeQ8_1(l, x, y, n)
	case ActQ8_K:
		if n%256 != 0 || n <= 0 {
			return fmt.Errorf("cuda: quantize_q8_k: %d values is not a positive multiple of 256", n)
		}
		g := Geometry{Grid: ceilDiv(n/256, QuantWarps), Block: 32 * QuantWarps}
		return l.Launch("quantize_q8_k", g.Grid, g.Block, x, y, uint64(n/256))
	}
	return fmt.Errorf("cuda: no quantization to activation form %d", a)
}

// QuantizeQ8_1 quantizes n f32 values at x (n a multiple of 32) into n/32
// q8_1 blocks at y.
func QuantizeQ8_1(l Launcher, x, y uint64, n int) error {
	if n%32 != 0 || n <= 0 {
		return fmt.Errorf("cuda: quantize_q8_1: %d values is not a positive multiple of 32", n)
	}
	g := QuantGeometry(n)
	return l.Launch("quantize_q8_1", g.Grid, g.Block, x, y, uint64(n/32))
}

// Gemv computes y = W·x for rows×k weights of type t at w; x is in the
// activation form GemvKernel names (q8_1, q8_K or f32).
func Gemv(l Launcher, t weights.Type, w, x, y uint64, rows, k int) error {
	return GemvBatch(l, t, w, x, y, rows, k, 1)
}

// GemvBatch is Gemv for ntok activation rows at once (a prompt's tokens):
// x holds them one after another (ActBytes(act, k) bytes each), y gets
// ntok rows of rows values. Each (row, token) is computed exactly as Gemv
// computes it; the weights are read once for the ntok tokens instead of
// once per token.
func GemvBatch(l Launcher, t weights.Type, w, x, y uint64, rows, k, ntok int) error {
	name, act, err := GemvKernel(t)
	if err != nil {
		return err
	}
	if ntok < 1 {
		return fmt.Errorf("cuda: %s: %d tokens", name, ntok)
	}
	if err := limit32("rows", rows*ntok); err != nil {
		return err
	}
	rb, err := t.RowSize(int64(k))
	if err != nil {
		return fmt.Errorf("cuda: %s: %w", name, err)
	}
	if err := limit32("row bytes", int(rb)*rows); err != nil {
		return err
	}
	xs := ActBytes(act, k)
	if err := limit32("activation bytes", xs*ntok); err != nil {
		return err
	}
	g := RowGeometry(rows * ntok)
	if act != ActF32 {
		if bs := t.BlockSize(); k%bs != 0 {
			return fmt.Errorf("cuda: %s: row of %d values is not a multiple of %d", name, k, bs)
		}
		return l.Launch(name, g.Grid, g.Block, w, x, y, uint64(rows), uint64(k/32), uint64(rb), uint64(ntok), uint64(xs))
	}
	return l.Launch(name, g.Grid, g.Block, w, x, y, uint64(rows), uint64(k), uint64(ntok), uint64(xs))
}

// RMSNorm normalises rows×n values of x into y, times w (n values).
func RMSNorm(l Launcher, x, w, y uint64, rows, n int, eps float32) error {
	g := RowGeometry(rows)
	return l.Launch("rms_norm", g.Grid, g.Block, x, w, y, uint64(rows), uint64(n), f32bits(eps))
}

// Rope rotates heads×hd values of x in place by the nrot/2 (cos, sin)
// pairs at cs.
func Rope(l Launcher, x, cs uint64, heads, hd, nrot int, neox bool) error {
	return RopeRows(l, x, cs, heads, hd, nrot, neox, 1)
}

// RopeRows is Rope for ntok rows of heads×hd values at once, row t rotated
// by the t-th table of nrot/2 pairs at cs (a prompt's positions).
func RopeRows(l Launcher, x, cs uint64, heads, hd, nrot int, neox bool, ntok int) error {
	if nrot%2 != 0 || nrot > hd || nrot <= 0 {
		return fmt.Errorf("cuda: rope: %d rotated dimensions for head size %d", nrot, hd)
	}
	if ntok < 1 {
		return fmt.Errorf("cuda: rope: %d rows", ntok)
	}
	if err := limit32("rope pairs", heads*ntok*nrot/2); err != nil {
		return err
	}
	g := RopeGeometry(heads*ntok, nrot)
	nx := uint64(0)
	if neox {
		nx = 1
	}
	return l.Launch("rope", g.Grid, g.Block, x, cs, uint64(heads), uint64(hd), uint64(nrot), nx, uint64(ntok))
}

// Binary runs an elementwise kernel with two inputs (swiglu, geglu, add, mul).
func Binary(l Launcher, name string, a, b, y uint64, n int) error {
	g := ElemGeometry(n)
	return l.Launch(name, g.Grid, g.Block, a, b, y, uint64(n))
}

// GegluF16 runs geglu_f16: y = gelu(g)·u with gelu from table, the 65536
// f32 values of kernels.GeluF16Table on the device.
func GegluF16(l Launcher, g, u, table, y uint64, n int) error {
	ge := ElemGeometry(n)
	return l.Launch("geglu_f16", ge.Grid, ge.Block, g, u, table, y, uint64(n))
}

// Unary runs an elementwise kernel with one input (gelu, f32_to_f16).
func Unary(l Launcher, name string, x, y uint64, n int) error {
	g := ElemGeometry(n)
	return l.Launch(name, g.Grid, g.Block, x, y, uint64(n))
}

// Softmax normalises rows×n values of x in place.
func Softmax(l Launcher, x uint64, rows, n int) error {
	g := RowGeometry(rows)
	return l.Launch("softmax", g.Grid, g.Block, x, uint64(rows), uint64(n))
}

// AttentionArgs describes one decode step's attention.
type AttentionArgs struct {
	Q, K, V, O              uint64 // f32 q and output [heads][hd]; f16 caches (f32 when F32)
	Heads, KVHeads, HeadDim int
	Start, N                int // keys start ≤ t < N (for the first query row)
	Scale                   float32
	F32                     bool // f32 caches: attention_f32, without f16 roundings
	// NTok query rows (0 means 1) at consecutive positions: row r sees the
	// keys before N+r, from max(Start, N+r-Window) when Window > 0.
	NTok, Window int
}

// Attention runs the decode attention.
func Attention(l Launcher, a AttentionArgs) error {
	if a.HeadDim > MaxHeadDim || a.HeadDim <= 0 {
		return fmt.Errorf("cuda: attention: head size %d (at most %d)", a.HeadDim, MaxHeadDim)
	}
	if a.KVHeads <= 0 || a.Heads%a.KVHeads != 0 {
		return fmt.Errorf("cuda: attention: %d heads over %d KV heads", a.Heads, a.KVHeads)
	}
	if a.Start < 0 || a.Start > a.N {
		return fmt.Errorf("cuda: attention: key range [%d, %d)", a.Start, a.N)
	}
	ntok := max(a.NTok, 1)
	if a.Window < 0 {
		return fmt.Errorf("cuda: attention: window %d", a.Window)
	}
	if err := limit32("attention rows", a.Heads*ntok); err != nil {
		return err
	}
	g := RowGeometry(a.Heads * ntok)
	name := "attention"
	if a.F32 {
		name = "attention_f32"
	}
	return l.Launch(name, g.Grid, g.Block, a.Q, a.K, a.V, a.O, uint64(a.Heads),
		uint64(a.Heads/a.KVHeads), uint64(a.HeadDim), uint64(a.KVHeads*a.HeadDim),
		uint64(a.Start), uint64(a.N), f32bits(a.Scale), uint64(ntok), uint64(a.Window))
}

// Signature is a kernel's parameter list, as the launch helpers pass it.
func Signature(name string) ([]ptx.Param, bool) {
	for _, k := range Module().Kernels {
		if k.Name == name {
			return k.Params, true
		}
	}
	return nil, false
}

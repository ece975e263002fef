// Package kern defines dayi's CUDA kernels (as ptx IR), their launch
// geometry, typed launch helpers and CPU references of their math.
//
// The kernels follow ggml's CUDA backend (ggml/src/ggml-cuda in llama.cpp
// v0.5.0) in form: activations of a quantized matrix-vector product are
// quantized to q8_1 blocks (32 int8 values, an f16 scale d = amax/127 and the
// f16 sum of the original values, quantize.cu quantize_q8_1), and weight
// blocks are multiplied against them with dp4a as in vecdotq.cuh. Where
// ggml-cuda's arithmetic differs from ggml-cpu's (q4_0/q5_0 offsets from the
// f16 sum; attention without f16 roundings) they follow ggml-cpu's, whose
// outputs are the references dayi is tested against: the integer parts of
// every dot product are then exactly llama.cpp's. The
// schedule is ours and deliberately plain: one warp per output row (GEMV,
// norms, softmax) or per head (attention), one thread per element otherwise,
// no shared memory, warp shuffles for reductions.
package kern

import (
	"sync"

	"dayi/engine/backend/cuda/ptx"
)

// PTX ISA version and target the module is written for: dp4a needs sm_61,
// shfl.sync PTX 6.0; 7.0 is read by every driver since CUDA 11.0.
const (
	PTXVersion = "7.0"
	PTXTarget  = "sm_61"
	// MinDriver is the cuDriverGetVersion value that reads PTX 7.0.
	MinDriver = 11000
	// MinCC is the lowest compute capability (major*10+minor) with dp4a.
	MinCC = 61
)

// Warps per block of the warp-per-row kernels, and threads per block of
// the elementwise ones.
const (
	RowWarps  = 4
	ElemBlock = 256
	// QuantWarps: q8_1 blocks quantized per thread block (one per warp).
	QuantWarps = 8
	// MaxHeadDim is the largest head size attention handles (8 values a lane).
	MaxHeadDim = 256
)

// Q8_1 block: f16 d, f16 sum, 32 int8 quants.
const Q81Bytes = 36

func p64(n string) ptx.Param { return ptx.Param{Name: n, Type: ptx.PU64} }
func p32(n string) ptx.Param { return ptx.Param{Name: n, Type: ptx.PU32} }
func pf(n string) ptx.Param  { return ptx.Param{Name: n, Type: ptx.PF32} }

// rowOfWarp returns (tid&31, ctaid*(ntid/32) + tid/32): the lane and the
// warp's global index, used as its row or head.
func rowOfWarp(k *ptx.Kernel) (lane, row ptx.Reg) {
	tid := k.Sreg("%tid.x")
	cta := k.Sreg("%ctaid.x")
	ntid := k.Sreg("%ntid.x")
	lane = k.I32("and.b32", tid, ptx.Imm(31))
	w := k.I32("shr.u32", tid, ptx.Imm(5))
	wpb := k.I32("shr.u32", ntid, ptx.Imm(5))
	row = k.I32("mad.lo.u32", cta, wpb, w)
	return
}

// globalThread returns ctaid*ntid + tid.
func globalThread(k *ptx.Kernel) ptx.Reg {
	tid := k.Sreg("%tid.x")
	cta := k.Sreg("%ctaid.x")
	ntid := k.Sreg("%ntid.x")
	return k.I32("mad.lo.u32", cta, ntid, tid)
}

func f16(k *ptx.Kernel, a ptx.Addr) ptx.Reg {
	h := k.Load("ld.global.b16", ptx.B16, a)
	return k.Fl("cvt.f32.f16", h)
}

// QuantizeQ8_1 quantizes nb*32 f32 values to nb q8_1 blocks.
func quantizeQ8_1() *ptx.Kernel {
	k := ptx.NewKernel("quantize_q8_1", `y[b] = q8_1 block of x[32b:32b+32] (ggml-cuda quantize.cu quantize_q8_1's layout):
d = amax/127, q = round-half-even(x·127/amax) (ggml-cpu x86 q8_0), sum = Σx; one warp per block.`, p64("x"), p64("y"), p32("nb"))
	x, y, nb := k.Param("x"), k.Param("y"), k.Param("nb")
	lane, blk := rowOfWarp(k)
	k.ExitIf(k.Setp("setp.ge.u32", blk, nb))
	i := k.I32("mad.lo.u32", blk, ptx.Imm(32), lane)
	xi := k.Load("ld.global.f32", ptx.F32, ptx.Addr{Base: k.Addr(x, i, 4)})
	amax := k.WarpMax(k.Fl("abs.f32", xi))
	sum := k.WarpSum(xi)
	// As ggml-cpu's x86 quantize_row_q8_0 (the activations' vec_dot_type
	// there): d = amax/127, q = round-half-even(x·(127/amax)). ggml-cuda's
	// roundf(x/d) can land on the other side of a midpoint.
	d := k.Fl("div.rn.f32", amax, ptx.FImm(127))
	id := k.Fl("div.rn.f32", ptx.FImm(127), amax)
	q := k.I32("cvt.rni.s32.f32", k.Fl("mul.rn.f32", xi, id))
	zero := k.Setp("setp.eq.f32", amax, ptx.FImm(0))
	q = k.I32("selp.b32", ptx.Imm(0), q, zero)
	yb := k.Addr(y, blk, Q81Bytes)
	qa8 := k.Addr(yb, lane, 1)
	k.Op("st.global.u8", ptx.Addr{Base: qa8, Off: 4}, q)
	first := k.Setp("setp.eq.u32", lane, ptx.Imm(0))
	dh := k.R(ptx.B16)
	k.Op("cvt.rn.f16.f32", dh, d)
	sh := k.R(ptx.B16)
	k.Op("cvt.rn.f16.f32", sh, sum)
	k.OpIf(first, "st.global.b16", ptx.Addr{Base: yb}, dh)
	k.OpIf(first, "st.global.b16", ptx.Addr{Base: yb, Off: 2}, sh)
	k.Op("ret")
	return k
}

// Q8K block: f32 d, 256 int8 quants, 16 int16 sums of 16 quants.
const Q8KBytes = 292

// quantizeQ8_K quantizes nb*256 values to q8_K blocks as ggml-cpu does for
// the k-quants' activations (quantize_row_q8_K_ref, weights.quantQ8K):
// max = the value of largest magnitude (the first on ties), iscale =
// -127/max, q = min(127, nearest(iscale·x)), d = 1/iscale, and the sums of
// each 16 quants. One warp per block, lane l holding values 8l…8l+7.
func quantizeQ8_K() *ptx.Kernel {
	k := ptx.NewKernel("quantize_q8_k", `y[b] = q8_K block of x[256b:256b+256] (ggml quantize_row_q8_K_ref); one warp per block.`,
		p64("x"), p64("y"), p32("nb"))
	x, y, nb := k.Param("x"), k.Param("y"), k.Param("nb")
	lane, blk := rowOfWarp(k)
	k.ExitIf(k.Setp("setp.ge.u32", blk, nb))
	first := k.I32("mad.lo.u32", blk, ptx.Imm(256), k.I32("shl.b32", lane, ptx.Imm(3)))
	xa := k.Addr(x, first, 4)
	var v [8]ptx.Reg
	amax, mx, idx := k.F(0), k.F(0), k.I32("shl.b32", lane, ptx.Imm(3))
	for i := range v {
		v[i] = k.Load("ld.global.f32", ptx.F32, ptx.Addr{Base: xa, Off: int64(4 * i)})
		a := k.Fl("abs.f32", v[i])
		gt := k.Setp("setp.gt.f32", a, amax)
		k.Op("selp.f32", amax, a, amax, gt)
		k.Op("selp.f32", mx, v[i], mx, gt)
		k.Op("selp.b32", idx, k.I32("add.u32", k.I32("shl.b32", lane, ptx.Imm(3)), ptx.Imm(int64(i))), idx, gt)
	}
	// Butterfly: keep the larger |x|, or on a tie the lower index.
	for _, m := range []int64{16, 8, 4, 2, 1} {
		oa, om, oi := k.R(ptx.F32), k.R(ptx.F32), k.R(ptx.B32)
		k.Op("shfl.sync.bfly.b32", oa, amax, ptx.Imm(m), ptx.Imm(31), ptx.Imm(-1))
		k.Op("shfl.sync.bfly.b32", om, mx, ptx.Imm(m), ptx.Imm(31), ptx.Imm(-1))
		k.Op("shfl.sync.bfly.b32", oi, idx, ptx.Imm(m), ptx.Imm(31), ptx.Imm(-1))
		gt := k.Setp("setp.gt.f32", oa, amax)
		eq := k.Setp("setp.eq.f32", oa, amax)
		lo := k.Setp("setp.lt.u32", oi, idx)
		take := k.R(ptx.Pred)
		tie := k.R(ptx.Pred)
		k.Op("and.pred", tie, eq, lo)
		k.Op("or.pred", take, gt, tie)
		k.Op("selp.f32", amax, oa, amax, take)
		k.Op("selp.f32", mx, om, mx, take)
		k.Op("selp.b32", idx, oi, idx, take)
	}
	zero := k.Setp("setp.eq.f32", amax, ptx.FImm(0))
	iscale := k.Fl("div.rn.f32", ptx.FImm(-127), mx)
	yb := k.Addr(y, blk, Q8KBytes)
	ql := k.Addr(yb, k.I32("shl.b32", lane, ptx.Imm(3)), 1)
	var sum ptx.Operand = ptx.Imm(0)
	for i := range v {
		q := k.I32("cvt.rni.s32.f32", k.Fl("mul.rn.f32", iscale, v[i]))
		q = k.I32("min.s32", q, ptx.Imm(127))
		q = k.I32("selp.b32", ptx.Imm(0), q, zero)
		k.Op("st.global.u8", ptx.Addr{Base: ql, Off: int64(4 + i)}, q)
		sum = k.I32("add.s32", sum, q)
	}
	// Lanes 2j and 2j+1 hold the 16 values of sum j.
	other := k.R(ptx.B32)
	k.Op("shfl.sync.bfly.b32", other, sum, ptx.Imm(1), ptx.Imm(31), ptx.Imm(-1))
	pair := k.I32("add.s32", sum, other)
	even := k.Setp("setp.eq.u32", k.I32("and.b32", lane, ptx.Imm(1)), ptx.Imm(0))
	k.OpIf(even, "st.global.u16", ptx.Addr{Base: k.Addr(yb, lane, 1), Off: 4 + 256}, pair)
	d := k.Fl("rcp.rn.f32", iscale)
	d = k.Fl("selp.f32", ptx.FImm(0), d, zero)
	lane0 := k.Setp("setp.eq.u32", lane, ptx.Imm(0))
	k.OpIf(lane0, "st.global.f32", ptx.Addr{Base: yb}, d)
	k.Op("ret")
	return k
}

// blockDot emits the contribution of 32-value unit bc of a weight row
// (base address row) against the quantized activations at x.
type blockDot func(k *ptx.Kernel, row, bc, x ptx.Reg) ptx.Reg

// q81Block returns the address of q8_1 block bc of x.
func q81Block(k *ptx.Kernel, x, bc ptx.Reg) ptx.Reg { return k.Addr(x, bc, Q81Bytes) }

func q8Ints(k *ptx.Kernel, xb ptx.Reg, from, n int) []ptx.Reg {
	u := make([]ptx.Reg, n)
	for i := range u {
		u[i] = k.Load("ld.global.b32", ptx.B32, ptx.Addr{Base: xb, Off: int64(4 + 4*(from+i))})
	}
	return u
}

// dp4a: c + Σ of the four signed byte products of a and b. Immediate
// operands are moved into registers first: the PTX ISA lists dp4a's a, b
// and c as registers, and ptxas is not here to tell whether it accepts more.
func dp4a(k *ptx.Kernel, a, b ptx.Operand, c ptx.Operand) ptx.Reg {
	reg := func(o ptx.Operand) ptx.Operand {
		if imm, ok := o.(ptx.Imm); ok {
			return k.U32(int64(imm))
		}
		return o
	}
	return k.I32("dp4a.s32.s32", reg(a), reg(b), reg(c))
}

// loadS8 loads a signed byte, widened to 32 bits explicitly ((b^0x80)-0x80)
// rather than relying on ld.s8's extension into a .b32 register.
func loadS8(k *ptx.Kernel, a ptx.Addr) ptx.Reg {
	b := k.Load("ld.global.u8", ptx.B32, a)
	return k.I32("sub.s32", k.I32("xor.b32", b, ptx.Imm(0x80)), ptx.Imm(0x80))
}

// vec_dot_q8_0_q8_1: d_w * d_x * Σ q_w q_x.
func dotQ8_0(k *ptx.Kernel, row, bc, x ptx.Reg) ptx.Reg {
	xb := q81Block(k, x, bc)
	blk := k.Addr(row, bc, 34)
	dw := f16(k, ptx.Addr{Base: blk})
	dx := f16(k, ptx.Addr{Base: xb})
	u := q8Ints(k, xb, 0, 8)
	var s ptx.Operand = ptx.Imm(0)
	for i := 0; i < 8; i++ {
		s = dp4a(k, k.LoadInt2(blk, int64(2+4*i)), u[i], s)
	}
	sf := k.Fl("cvt.rn.f32.s32", s)
	return k.Fl("mul.rn.f32", k.Fl("mul.rn.f32", dw, dx), sf)
}

// q4_0 against q8_1: d_w·d_x·Σ (nib-8)·q, the nibble j being element j and
// the high nibble element j+16. ggml-cuda's vec_dot_q4_0_q8_1 subtracts the
// offset as 8·s_x with the block's f16 sum of the unquantized x; we subtract
// 8·Σq exactly (one more dp4a), which is ggml-cpu's vec_dot_q4_0_q8_0: the
// f16 sum moved stories260K-q4_0's logits by up to 0.65 from llama.cpp's
// CPU references, through later quantization steps.
func dotQ4_0(k *ptx.Kernel, row, bc, x ptx.Reg) ptx.Reg {
	xb := q81Block(k, x, bc)
	blk := k.Addr(row, bc, 18)
	dw := f16(k, ptx.Addr{Base: blk})
	dx := f16(k, ptx.Addr{Base: xb})
	u := q8Ints(k, xb, 0, 8)
	var s, us ptx.Operand = ptx.Imm(0), ptx.Imm(0)
	for i := 0; i < 4; i++ {
		v := k.LoadInt2(blk, int64(2+4*i))
		lo := k.I32("and.b32", v, ptx.Imm(0x0F0F0F0F))
		hi := k.I32("and.b32", k.I32("shr.u32", v, ptx.Imm(4)), ptx.Imm(0x0F0F0F0F))
		s = dp4a(k, lo, u[i], s)
		s = dp4a(k, hi, u[i+4], s)
	}
	for i := 0; i < 8; i++ {
		us = dp4a(k, ptx.Imm(0x01010101), u[i], us)
	}
	si := k.I32("sub.s32", s, k.I32("shl.b32", us, ptx.Imm(3)))
	return k.Fl("mul.rn.f32", k.Fl("mul.rn.f32", dw, dx), k.Fl("cvt.rn.f32.s32", si))
}

// q5_0 against q8_1: as q4_0 with a fifth bit from qh and an offset of 16
// (exact, as ggml-cpu's vec_dot_q5_0_q8_0).
func dotQ5_0(k *ptx.Kernel, row, bc, x ptx.Reg) ptx.Reg {
	xb := q81Block(k, x, bc)
	blk := k.Addr(row, bc, 22)
	dw := f16(k, ptx.Addr{Base: blk})
	dx := f16(k, ptx.Addr{Base: xb})
	qh := k.LoadInt2(blk, 2)
	u := q8Ints(k, xb, 0, 8)
	var s, us ptx.Operand = ptx.Imm(0), ptx.Imm(0)
	for i := 0; i < 4; i++ {
		v := k.LoadInt2(blk, int64(6+4*i))
		for half := 0; half < 2; half++ {
			q := k.I32("and.b32", k.I32("shr.u32", v, ptx.Imm(int64(4*half))), ptx.Imm(0x0F0F0F0F))
			for b := 0; b < 4; b++ {
				bit := k.I32("and.b32", k.I32("shr.u32", qh, ptx.Imm(int64(16*half+4*i+b))), ptx.Imm(1))
				q = k.I32("or.b32", q, k.I32("shl.b32", bit, ptx.Imm(int64(8*b+4))))
			}
			s = dp4a(k, q, u[i+4*half], s)
		}
	}
	for i := 0; i < 8; i++ {
		us = dp4a(k, ptx.Imm(0x01010101), u[i], us)
	}
	si := k.I32("sub.s32", s, k.I32("shl.b32", us, ptx.Imm(4)))
	return k.Fl("mul.rn.f32", k.Fl("mul.rn.f32", dw, dx), k.Fl("cvt.rn.f32.s32", si))
}

// q4_K against q8_K for one 32-value sub-block j of a super-block, as
// ggml-cpu's vec_dot_q4_K_q8_K: d_x·(d·sc·Σ nib·q - dmin·m·Σq), the scales
// unpacked as get_scale_min_k4, Σq from the activation block's bsums.
func dotQ4_K(k *ptx.Kernel, row, bc, x ptx.Reg) ptx.Reg { return dotK45(k, row, bc, x, false) }

// q5_K is q4_K with a fifth bit per value (ggml's block_q5_K: d, dmin, the
// same 12 bytes of scales, qh[32], then qs[128]): value l of sub-block j is
// its nibble | ((qh[l] >> j) & 1) << 4, as vec_dot_q5_K_q8_K reads it.
func dotQ5_K(k *ptx.Kernel, row, bc, x ptx.Reg) ptx.Reg { return dotK45(k, row, bc, x, true) }

// dotK45 is dotQ4_K (144-byte blocks, quants at 16) and, with q5, dotQ5_K
// (176-byte blocks, high bits at 16, quants at 48).
func dotK45(k *ptx.Kernel, row, bc, x ptx.Reg, q5 bool) ptx.Reg {
	bsize, qoff := int64(144), int64(16)
	if q5 {
		bsize, qoff = 176, 48
	}
	sb := k.I32("shr.u32", bc, ptx.Imm(3))
	j := k.I32("and.b32", bc, ptx.Imm(7))
	blk := k.Addr(row, sb, bsize)
	d := f16(k, ptx.Addr{Base: blk})
	dmin := f16(k, ptx.Addr{Base: blk, Off: 2})
	sj := k.Addr(blk, j, 1)
	a := k.Load("ld.global.u8", ptx.B32, ptx.Addr{Base: sj, Off: 4})    // s[j]
	b := k.Load("ld.global.u8", ptx.B32, ptx.Addr{Base: sj, Off: 8})    // s[j+4]
	jm := k.I32("and.b32", k.I32("add.u32", j, ptx.Imm(4)), ptx.Imm(7)) // j-4 when j >= 4
	c := k.Load("ld.global.u8", ptx.B32, ptx.Addr{Base: k.Addr(blk, jm, 1), Off: 4})
	lo := k.Setp("setp.lt.u32", j, ptx.Imm(4))
	scLo := k.I32("and.b32", a, ptx.Imm(63))
	mLo := k.I32("and.b32", b, ptx.Imm(63))
	scHi := k.I32("or.b32", k.I32("and.b32", b, ptx.Imm(15)), k.I32("shl.b32", k.I32("shr.u32", c, ptx.Imm(6)), ptx.Imm(4)))
	mHi := k.I32("or.b32", k.I32("shr.u32", b, ptx.Imm(4)), k.I32("shl.b32", k.I32("shr.u32", a, ptx.Imm(6)), ptx.Imm(4)))
	sc := k.I32("selp.b32", scLo, scHi, lo)
	m := k.I32("selp.b32", mLo, mHi, lo)
	qs := k.Addr(blk, k.I32("shr.u32", j, ptx.Imm(1)), 32)
	shift := k.I32("shl.b32", k.I32("and.b32", j, ptx.Imm(1)), ptx.Imm(2))
	xsb := k.Addr(x, sb, Q8KBytes)
	xq := k.Addr(xsb, j, 32) // this sub-block's 32 quants at +4
	var s ptx.Operand = ptx.Imm(0)
	for i := 0; i < 8; i++ {
		v := k.LoadInt2(qs, qoff+int64(4*i))
		v = k.I32("and.b32", k.I32("shr.u32", v, shift), ptx.Imm(0x0F0F0F0F))
		if q5 { // bit j of qh[4i..4i+3], to bit 4 of each byte
			hb := k.I32("and.b32", k.I32("shr.u32", k.LoadInt2(blk, int64(16+4*i)), j), ptx.Imm(0x01010101))
			v = k.I32("or.b32", v, k.I32("shl.b32", hb, ptx.Imm(4)))
		}
		u := k.Load("ld.global.b32", ptx.B32, ptx.Addr{Base: xq, Off: int64(4 + 4*i)})
		s = dp4a(k, v, u, s)
	}
	bs := k.Addr(xsb, j, 4) // bsums 2j and 2j+1 at +260
	us := k.I32("add.s32", loadS16(k, ptx.Addr{Base: bs, Off: 260}), loadS16(k, ptx.Addr{Base: bs, Off: 262}))
	dx := k.Load("ld.global.f32", ptx.F32, ptx.Addr{Base: xsb})
	fd := k.Fl("cvt.rn.f32.s32", k.I32("mul.lo.s32", s, sc))
	fm := k.Fl("cvt.rn.f32.s32", k.I32("mul.lo.s32", us, m))
	t := k.Fl("mul.rn.f32", dmin, fm)
	return k.Fl("mul.rn.f32", dx, k.Fl("fma.rn.f32", d, fd, k.Fl("neg.f32", t)))
}

// loadS16 loads a signed 16-bit value, widened explicitly.
func loadS16(k *ptx.Kernel, a ptx.Addr) ptx.Reg {
	h := k.Load("ld.global.u16", ptx.B32, a)
	return k.I32("sub.s32", k.I32("xor.b32", h, ptx.Imm(0x8000)), ptx.Imm(0x8000))
}

// q6_K against q8_K for one 32-value unit j (half h = j/4, quarter kk), as
// ggml-cpu's vec_dot_q6_K_q8_K: d_x·d·Σ sc·Σ (v-32)·q. ql nibbles at
// 64h+32(kk&1) shifted 4(kk>>1), qh bits 2kk of 128+32h, int8 scales
// 192+8h+2kk (+1 for the second 16 values), d at 208; Σq per 16 values
// from the activation's bsums.
func dotQ6_K(k *ptx.Kernel, row, bc, x ptx.Reg) ptx.Reg {
	sb := k.I32("shr.u32", bc, ptx.Imm(3))
	j := k.I32("and.b32", bc, ptx.Imm(7))
	h := k.I32("shr.u32", j, ptx.Imm(2))
	kk := k.I32("and.b32", j, ptx.Imm(3))
	blk := k.Addr(row, sb, 210)
	d := f16(k, ptx.Addr{Base: blk, Off: 208})
	qlOff := k.I32("mad.lo.u32", h, ptx.Imm(64), k.I32("shl.b32", k.I32("and.b32", kk, ptx.Imm(1)), ptx.Imm(5)))
	ql := k.Addr(blk, qlOff, 1)
	qh := k.Addr(blk, h, 32)
	scs := k.Addr(blk, k.I32("mad.lo.u32", h, ptx.Imm(8), k.I32("shl.b32", kk, ptx.Imm(1))), 1)
	sc0 := loadS8(k, ptx.Addr{Base: scs, Off: 192})
	sc1 := loadS8(k, ptx.Addr{Base: scs, Off: 193})
	shL := k.I32("shl.b32", k.I32("shr.u32", kk, ptx.Imm(1)), ptx.Imm(2))
	shH := k.I32("shl.b32", kk, ptx.Imm(1))
	xsb := k.Addr(x, sb, Q8KBytes)
	xq := k.Addr(xsb, j, 32)
	bs := k.Addr(xsb, j, 4)
	var tot ptx.Operand = ptx.Imm(0)
	for g, sc := range []ptx.Reg{sc0, sc1} {
		var s ptx.Operand = ptx.Imm(0)
		for i := 4 * g; i < 4*g+4; i++ {
			vl := k.I32("and.b32", k.I32("shr.u32", k.LoadInt2(ql, int64(4*i)), shL), ptx.Imm(0x0F0F0F0F))
			vh := k.I32("and.b32", k.I32("shr.u32", k.LoadInt2(qh, int64(128+4*i)), shH), ptx.Imm(0x03030303))
			v := k.I32("or.b32", vl, k.I32("shl.b32", vh, ptx.Imm(4)))
			u := k.Load("ld.global.b32", ptx.B32, ptx.Addr{Base: xq, Off: int64(4 + 4*i)})
			s = dp4a(k, v, u, s)
		}
		// Σ (v-32)·q = Σ v·q - 32 Σ q
		us := loadS16(k, ptx.Addr{Base: bs, Off: int64(260 + 2*g)})
		si := k.I32("sub.s32", s, k.I32("shl.b32", us, ptx.Imm(5)))
		tot = k.I32("mad.lo.s32", si, sc, tot)
	}
	dx := k.Load("ld.global.f32", ptx.F32, ptx.Addr{Base: xsb})
	return k.Fl("mul.rn.f32", k.Fl("mul.rn.f32", d, dx), k.Fl("cvt.rn.f32.s32", tot))
}

// gemvQ builds y[r] = Σ_b dot(W[r], b, x[b]) over nb 32-value units, one
// warp per row, lane l taking units l, l+32, …
func gemvQ(name, typ string, dot blockDot) *ptx.Kernel {
	k := ptx.NewKernel(name, `y[t][r] = W[r]·x[t] for `+typ+` weight rows of rowbytes bytes against ntok quantized
activation rows xstride bytes apart (q8_1, or q8_K for k-quants; integer dots as ggml-cpu's vec_dot); one warp
per row and token (the ntok warps of a row adjacent, so they share its weights in cache), nb 32-value units per row.`,
		p64("w"), p64("x"), p64("y"), p32("rows"), p32("nb"), p32("rowbytes"), p32("ntok"), p32("xstride"))
	w, x0, y := k.Param("w"), k.Param("x"), k.Param("y")
	rows, nb, rb := k.Param("rows"), k.Param("nb"), k.Param("rowbytes")
	lane, r, yi, x := tokenRow(k, rows, x0)
	row := k.Addr(w, k.I32("mul.lo.u32", r, rb), 1)
	acc := k.F(0)
	last := k.I32("sub.u32", nb, ptx.Imm(1))
	k.Loop(ptx.Imm(0), nb, 32, func(base ptx.Reg) {
		b := k.I32("add.u32", base, lane)
		valid := k.Setp("setp.lt.u32", b, nb)
		bc := k.I32("min.u32", b, last)
		c := dot(k, row, bc, x)
		c = k.Fl("selp.f32", c, ptx.FImm(0), valid)
		k.Op("add.rn.f32", acc, acc, c)
	})
	s := k.WarpSum(acc)
	first := k.Setp("setp.eq.u32", lane, ptx.Imm(0))
	k.OpIf(first, "st.global.f32", ptx.Addr{Base: k.Addr(y, yi, 4)}, s)
	k.Op("ret")
	return k
}

// tokenRow maps a GEMV warp to its weight row r and token t (warp = r·ntok
// + t, parameters ntok and xstride), exits the warps past rows·ntok, and
// returns the lane, r, the output index t·rows + r and token t's
// activations x0 + t·xstride.
func tokenRow(k *ptx.Kernel, rows, x0 ptx.Reg) (lane, r, yi, x ptx.Reg) {
	ntok, xs := k.Param("ntok"), k.Param("xstride")
	lane, wi := rowOfWarp(k)
	k.ExitIf(k.Setp("setp.ge.u32", wi, k.I32("mul.lo.u32", rows, ntok)))
	r = k.I32("div.u32", wi, ntok)
	t := k.I32("sub.u32", wi, k.I32("mul.lo.u32", r, ntok))
	yi = k.I32("mad.lo.u32", t, rows, r)
	x = k.Addr(x0, k.I32("mul.lo.u32", t, xs), 1)
	return
}

// gemvF builds y[r] = Σ_i W[r,i] x[i] for f32 or f16 W (n values a row).
func gemvF(name string, half bool) *ptx.Kernel {
	typ := "f32"
	if half {
		typ = "f16"
	}
	k := ptx.NewKernel(name, "y[t][r] = W[r]·x[t] for "+typ+" weight rows of n values and ntok f32 activation rows xstride\nbytes apart; one warp per row and token.",
		p64("w"), p64("x"), p64("y"), p32("rows"), p32("n"), p32("ntok"), p32("xstride"))
	w, x0, y := k.Param("w"), k.Param("x"), k.Param("y")
	rows, n := k.Param("rows"), k.Param("n")
	lane, r, yi, x := tokenRow(k, rows, x0)
	rowStart := k.I32("mul.lo.u32", r, n)
	acc := k.F(0)
	k.Loop(ptx.Imm(0), n, 32, func(base ptx.Reg) {
		i := k.I32("add.u32", base, lane)
		valid := k.Setp("setp.lt.u32", i, n)
		wi := k.I32("add.u32", rowStart, i)
		wv, xv := k.F(0), k.F(0)
		if half {
			h := k.R(ptx.B16)
			k.OpIf(valid, "ld.global.b16", h, ptx.Addr{Base: k.Addr(w, wi, 2)})
			k.OpIf(valid, "cvt.f32.f16", wv, h)
		} else {
			k.OpIf(valid, "ld.global.f32", wv, ptx.Addr{Base: k.Addr(w, wi, 4)})
		}
		k.OpIf(valid, "ld.global.f32", xv, ptx.Addr{Base: k.Addr(x, i, 4)})
		if half {
			xh := k.R(ptx.B16)
			k.Op("cvt.rn.f16.f32", xh, xv)
			k.Op("cvt.f32.f16", xv, xh)
		}
		k.Op("fma.rn.f32", acc, wv, xv, acc)
	})
	s := k.WarpSum(acc)
	first := k.Setp("setp.eq.u32", lane, ptx.Imm(0))
	k.OpIf(first, "st.global.f32", ptx.Addr{Base: k.Addr(y, yi, 4)}, s)
	k.Op("ret")
	return k
}

// rmsNorm: y = x / sqrt(mean(x²) + eps) * w, one warp per row of n.
func rmsNorm() *ptx.Kernel {
	k := ptx.NewKernel("rms_norm", "y[r] = x[r] * 1/sqrt(mean(x[r]²)+eps) * w (ggml rms_norm then mul); one warp per row.",
		p64("x"), p64("w"), p64("y"), p32("rows"), p32("n"), pf("eps"))
	x, w, y := k.Param("x"), k.Param("w"), k.Param("y")
	rows, n, eps := k.Param("rows"), k.Param("n"), k.Param("eps")
	lane, r := rowOfWarp(k)
	k.ExitIf(k.Setp("setp.ge.u32", r, rows))
	rowStart := k.I32("mul.lo.u32", r, n)
	ss := k.F(0)
	k.Loop(ptx.Imm(0), n, 32, func(base ptx.Reg) {
		i := k.I32("add.u32", base, lane)
		valid := k.Setp("setp.lt.u32", i, n)
		xv := k.F(0)
		k.OpIf(valid, "ld.global.f32", xv, ptx.Addr{Base: k.Addr(x, k.I32("add.u32", rowStart, i), 4)})
		k.Op("fma.rn.f32", ss, xv, xv, ss)
	})
	ss = k.WarpSum(ss)
	mean := k.Fl("div.rn.f32", ss, k.Fl("cvt.rn.f32.u32", n))
	scale := k.Fl("rcp.rn.f32", k.Fl("sqrt.rn.f32", k.Fl("add.rn.f32", mean, eps)))
	k.Loop(ptx.Imm(0), n, 32, func(base ptx.Reg) {
		i := k.I32("add.u32", base, lane)
		valid := k.Setp("setp.lt.u32", i, n)
		at := k.I32("add.u32", rowStart, i)
		xv, wv := k.R(ptx.F32), k.R(ptx.F32)
		k.OpIf(valid, "ld.global.f32", xv, ptx.Addr{Base: k.Addr(x, at, 4)})
		k.OpIf(valid, "ld.global.f32", wv, ptx.Addr{Base: k.Addr(w, i, 4)})
		v := k.Fl("mul.rn.f32", k.Fl("mul.rn.f32", xv, scale), wv)
		k.OpIf(valid, "st.global.f32", ptx.Addr{Base: k.Addr(y, at, 4)}, v)
	})
	k.Op("ret")
	return k
}

// rope rotates pairs of x[h] in place by the table cs = (cos θ_i, sin θ_i),
// i < nrot/2: pairs (2i, 2i+1) (normal) or (i, i+nrot/2) (neox).
func rope() *ptx.Kernel {
	k := ptx.NewKernel("rope", `x[t][h][a], x[t][h][b] rotated by (cos, sin) = cs[t][i] for pair i < nrot/2 of each head
of ntok rows (a row's table: nrot/2 pairs), a, b = 2i, 2i+1 (neox == 0, ggml rope mode 0) or i, i+nrot/2
(neox != 0); one thread per pair.`,
		p64("x"), p64("cs"), p32("heads"), p32("hd"), p32("nrot"), p32("neox"), p32("ntok"))
	x, cs := k.Param("x"), k.Param("cs")
	heads, hd, nrot, neox, ntok := k.Param("heads"), k.Param("hd"), k.Param("nrot"), k.Param("neox"), k.Param("ntok")
	g := globalThread(k)
	half := k.I32("shr.u32", nrot, ptx.Imm(1))
	per := k.I32("mul.lo.u32", heads, half) // pairs a row
	total := k.I32("mul.lo.u32", per, ntok)
	valid := k.Setp("setp.lt.u32", g, total)
	// g < total ≤ 2^32 is checked before any load; the divisions only read registers.
	t := k.I32("div.u32", g, k.I32("max.u32", per, ptx.Imm(1)))
	gr := k.I32("sub.u32", g, k.I32("mul.lo.u32", t, per))
	hr := k.I32("div.u32", gr, k.I32("max.u32", half, ptx.Imm(1)))
	i := k.I32("sub.u32", gr, k.I32("mul.lo.u32", hr, half))
	h := k.I32("mad.lo.u32", t, heads, hr) // the head's index over all rows
	isNeox := k.Setp("setp.ne.u32", neox, ptx.Imm(0))
	aN := k.I32("shl.b32", i, ptx.Imm(1))
	bN := k.I32("add.u32", aN, ptx.Imm(1))
	bX := k.I32("add.u32", i, half)
	a := k.I32("selp.b32", i, aN, isNeox)
	b := k.I32("selp.b32", bX, bN, isNeox)
	base := k.I32("mul.lo.u32", h, hd)
	pa := k.Addr(x, k.I32("add.u32", base, a), 4)
	pb := k.Addr(x, k.I32("add.u32", base, b), 4)
	pc := k.Addr(cs, k.I32("mad.lo.u32", t, half, i), 8)
	x0, x1, c, s := k.R(ptx.F32), k.R(ptx.F32), k.R(ptx.F32), k.R(ptx.F32)
	k.OpIf(valid, "ld.global.f32", x0, ptx.Addr{Base: pa})
	k.OpIf(valid, "ld.global.f32", x1, ptx.Addr{Base: pb})
	k.OpIf(valid, "ld.global.f32", c, ptx.Addr{Base: pc})
	k.OpIf(valid, "ld.global.f32", s, ptx.Addr{Base: pc, Off: 4})
	y0 := k.Fl("sub.rn.f32", k.Fl("mul.rn.f32", x0, c), k.Fl("mul.rn.f32", x1, s))
	y1 := k.Fl("add.rn.f32", k.Fl("mul.rn.f32", x0, s), k.Fl("mul.rn.f32", x1, c))
	k.OpIf(valid, "st.global.f32", ptx.Addr{Base: pa}, y0)
	k.OpIf(valid, "st.global.f32", ptx.Addr{Base: pb}, y1)
	k.Op("ret")
	return k
}

// elementwise builds y[i] = f(inputs[i]) for i < n, one thread per element.
func elementwise(name, doc string, inputs []string, f func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg) *ptx.Kernel {
	params := []ptx.Param{}
	for _, in := range inputs {
		params = append(params, p64(in))
	}
	params = append(params, p64("y"), p32("n"))
	k := ptx.NewKernel(name, doc+"; one thread per element.", params...)
	ptrs := make([]ptx.Reg, len(inputs))
	for i, in := range inputs {
		ptrs[i] = k.Param(in)
	}
	y, n := k.Param("y"), k.Param("n")
	g := globalThread(k)
	valid := k.Setp("setp.lt.u32", g, n)
	vals := make([]ptx.Reg, len(inputs))
	for i, p := range ptrs {
		vals[i] = k.R(ptx.F32)
		k.OpIf(valid, "ld.global.f32", vals[i], ptx.Addr{Base: k.Addr(p, g, 4)})
	}
	v := f(k, vals)
	if v.K == ptx.B16 {
		k.OpIf(valid, "st.global.b16", ptx.Addr{Base: k.Addr(y, g, 2)}, v)
	} else {
		k.OpIf(valid, "st.global.f32", ptx.Addr{Base: k.Addr(y, g, 4)}, v)
	}
	k.Op("ret")
	return k
}

// gegluF16 is ggml-cpu's GeGLU (ggml_vec_geglu_f32 with GGML_GELU_FP16, the
// CPU build's default, which llama.cpp's gemma3 references come from):
// gelu(g) is looked up in a table of 65536 f32 values, indexed by g rounded
// to f16 (kernels.GeluF16Table, ggml's ggml_table_gelu_f16 widened), except
// that g ≤ -10 gives 0 and g ≥ 10 gives g; times u. The tanh form ("geglu")
// differs from it by up to an f16 rounding, ~1e-3 of a value.
func gegluF16() *ptx.Kernel {
	k := ptx.NewKernel("geglu_f16", "y = gelu_f16(g)·u (ggml-cpu geglu, f16 table); one thread per element.",
		p64("g"), p64("u"), p64("table"), p64("y"), p32("n"))
	gp, up, tab, y, n := k.Param("g"), k.Param("u"), k.Param("table"), k.Param("y"), k.Param("n")
	i := globalThread(k)
	valid := k.Setp("setp.lt.u32", i, n)
	g, u, t := k.R(ptx.F32), k.R(ptx.F32), k.F(0)
	k.OpIf(valid, "ld.global.f32", g, ptx.Addr{Base: k.Addr(gp, i, 4)})
	k.OpIf(valid, "ld.global.f32", u, ptx.Addr{Base: k.Addr(up, i, 4)})
	h := k.R(ptx.B16)
	k.Op("cvt.rn.f16.f32", h, g)
	idx := k.R(ptx.B32)
	k.Op("cvt.u32.u16", idx, h)
	k.OpIf(valid, "ld.global.f32", t, ptx.Addr{Base: k.Addr(tab, idx, 4)})
	v := k.R(ptx.F32)
	k.Op("selp.f32", v, g, t, k.Setp("setp.ge.f32", g, ptx.FImm(10)))
	r := k.Fl("mul.rn.f32", v, u)
	// ggml stores 0 itself below -10 (not 0·u, which may be -0 or NaN)
	k.Op("selp.f32", r, ptx.FImm(0), r, k.Setp("setp.le.f32", g, ptx.FImm(-10)))
	k.OpIf(valid, "st.global.f32", ptx.Addr{Base: k.Addr(y, i, 4)}, r)
	k.Op("ret")
	return k
}

func silu(k *ptx.Kernel, x ptx.Reg) ptx.Reg {
	e := k.Exp(k.Fl("neg.f32", x))
	return k.Fl("div.rn.f32", x, k.Fl("add.rn.f32", e, ptx.FImm(1)))
}

// gelu: ggml's tanh form 0.5x(1+tanh(√(2/π)(x+0.044715x³))), with
// tanh z = 1 - 2/(e^{2z}+1) (saturates correctly at ±∞).
func gelu(k *ptx.Kernel, x ptx.Reg) ptx.Reg {
	x2 := k.Fl("mul.rn.f32", x, x)
	inner := k.Fl("fma.rn.f32", x2, ptx.FImm(0.044715), ptx.FImm(1))
	z := k.Fl("mul.rn.f32", k.Fl("mul.rn.f32", x, inner), ptx.FImm(0.7978845608028654))
	e := k.Exp(k.Fl("add.rn.f32", z, z))
	th := k.Fl("sub.rn.f32", ptx.FImm(1), k.Fl("div.rn.f32", ptx.FImm(2), k.Fl("add.rn.f32", e, ptx.FImm(1))))
	return k.Fl("mul.rn.f32", k.Fl("mul.rn.f32", x, ptx.FImm(0.5)), k.Fl("add.rn.f32", th, ptx.FImm(1)))
}

// softmax normalises each row of n values in place; one warp per row.
func softmax() *ptx.Kernel {
	k := ptx.NewKernel("softmax", "x[r] = exp(x[r]-max)/Σexp(x[r]-max) in place; one warp per row.",
		p64("x"), p32("rows"), p32("n"))
	x, rows, n := k.Param("x"), k.Param("rows"), k.Param("n")
	lane, r := rowOfWarp(k)
	k.ExitIf(k.Setp("setp.ge.u32", r, rows))
	rowStart := k.I32("mul.lo.u32", r, n)
	m := k.F(-3.4028234663852886e38)
	k.Loop(ptx.Imm(0), n, 32, func(base ptx.Reg) {
		i := k.I32("add.u32", base, lane)
		valid := k.Setp("setp.lt.u32", i, n)
		v := k.F(-3.4028234663852886e38)
		k.OpIf(valid, "ld.global.f32", v, ptx.Addr{Base: k.Addr(x, k.I32("add.u32", rowStart, i), 4)})
		k.Op("max.f32", m, m, v)
	})
	m = k.WarpMax(m)
	sum := k.F(0)
	k.Loop(ptx.Imm(0), n, 32, func(base ptx.Reg) {
		i := k.I32("add.u32", base, lane)
		valid := k.Setp("setp.lt.u32", i, n)
		a := k.Addr(x, k.I32("add.u32", rowStart, i), 4)
		v := k.R(ptx.F32)
		k.OpIf(valid, "ld.global.f32", v, ptx.Addr{Base: a})
		e := k.Exp(k.Fl("sub.rn.f32", v, m))
		e = k.Fl("selp.f32", e, ptx.FImm(0), valid)
		k.OpIf(valid, "st.global.f32", ptx.Addr{Base: a}, e)
		k.Op("add.rn.f32", sum, sum, e)
	})
	inv := k.Fl("rcp.rn.f32", k.WarpSum(sum))
	k.Loop(ptx.Imm(0), n, 32, func(base ptx.Reg) {
		i := k.I32("add.u32", base, lane)
		valid := k.Setp("setp.lt.u32", i, n)
		a := k.Addr(x, k.I32("add.u32", rowStart, i), 4)
		v := k.R(ptx.F32)
		k.OpIf(valid, "ld.global.f32", v, ptx.Addr{Base: a})
		k.OpIf(valid, "st.global.f32", ptx.Addr{Base: a}, k.Fl("mul.rn.f32", v, inv))
	})
	k.Op("ret")
	return k
}

// attention: one query per head over an f16 KV cache, one warp per head,
// with ggml-cpu's roundings in llama.cpp's default (non-flash) attention
// with an f16 cache: q is rounded to f16 for K·q (vec_dot_f16), and the
// softmax weights are rounded to f16 before they multiply V. Matching them
// matters more than it seems: a later q8_1 quantization turns a last-bit
// difference into a whole quantization step. Two passes over the keys:
// the first finds the max and the sum of exponentials (online), the second
// recomputes each score and adds its rounded weight times V.
func attention(f16 bool) *ptx.Kernel {
	name := "attention"
	if !f16 {
		name = "attention_f32"
	}
	doc := `o[r][h] = Σ_t f16(softmax_t(scale·f16(q[r][h])·K[t,g])) V[t,g] for keys start_r ≤ t < n+r, g = h/group;
K, V: f16 rows of kvstride values per position, head g at g*hd; hd ≤ 256; ntok query rows r,
start_r = max(start, n+r-window) when window > 0, else start;
one warp per row and head, lane l holding dimensions l, l+32, …`
	if !f16 {
		doc = `o[r][h] = Σ_t softmax_t(scale·q[r][h]·K[t,g]) V[t,g] for keys start_r ≤ t < n+r, g = h/group (f32 cache,
no roundings); K, V: f32 rows of kvstride values per position, head g at g*hd; hd ≤ 256; ntok query rows r,
start_r = max(start, n+r-window) when window > 0, else start;
one warp per row and head, lane l holding dimensions l, l+32, …`
	}
	k := ptx.NewKernel(name, doc,
		p64("q"), p64("k"), p64("v"), p64("o"), p32("heads"), p32("group"), p32("hd"), p32("kvstride"),
		p32("start"), p32("n"), pf("scale"), p32("ntok"), p32("window"))
	q, kc, vc, o := k.Param("q"), k.Param("k"), k.Param("v"), k.Param("o")
	heads, group, hd, stride := k.Param("heads"), k.Param("group"), k.Param("hd"), k.Param("kvstride")
	start0, n0, scale := k.Param("start"), k.Param("n"), k.Param("scale")
	ntok, window := k.Param("ntok"), k.Param("window")
	lane, w := rowOfWarp(k)
	k.ExitIf(k.Setp("setp.ge.u32", w, k.I32("mul.lo.u32", heads, ntok)))
	r := k.I32("div.u32", w, heads) // the query row; w = r·heads + h
	h := k.I32("sub.u32", w, k.I32("mul.lo.u32", r, heads))
	n := k.I32("add.u32", n0, r)
	// start_r: n - window when a window is set and n > window, at least start
	cut := k.I32("selp.b32", k.I32("sub.u32", n, window), ptx.Imm(0), k.Setp("setp.gt.u32", n, window))
	cut = k.I32("selp.b32", cut, ptx.Imm(0), k.Setp("setp.ne.u32", window, ptx.Imm(0)))
	start := k.I32("max.u32", start0, cut)
	g := k.I32("div.u32", h, k.I32("max.u32", group, ptx.Imm(1)))
	kvOff := k.I32("mul.lo.u32", g, hd)
	qOff := k.I32("mul.lo.u32", w, hd)
	const J = MaxHeadDim / 32
	var dims, valid, qv, acc [J]ptx.Reg
	for j := 0; j < J; j++ {
		dims[j] = k.I32("add.u32", lane, ptx.Imm(int64(32*j)))
		valid[j] = k.Setp("setp.lt.u32", dims[j], hd)
		qv[j] = k.F(0)
		k.OpIf(valid[j], "ld.global.f32", qv[j], ptx.Addr{Base: k.Addr(q, k.I32("add.u32", qOff, dims[j]), 4)})
		if f16 {
			qh := k.R(ptx.B16)
			k.Op("cvt.rn.f16.f32", qh, qv[j])
			k.Op("cvt.f32.f16", qv[j], qh)
		}
		acc[j] = k.F(0)
	}
	score := func(t ptx.Reg) (rowOff, s ptx.Reg) {
		rowOff = k.I32("mad.lo.u32", t, stride, kvOff)
		part := k.F(0)
		for j := 0; j < J; j++ {
			kf := loadCache(k, valid[j], kc, k.I32("add.u32", rowOff, dims[j]), f16)
			k.Op("fma.rn.f32", part, qv[j], kf, part)
		}
		return rowOff, k.Fl("mul.rn.f32", k.WarpSum(part), scale)
	}
	m := k.F(float32(negInf()))
	l := k.F(0)
	k.Loop(start, n, 1, func(t ptx.Reg) {
		_, s := score(t)
		mNew := k.Fl("max.f32", m, s)
		corr := k.Exp(k.Fl("sub.rn.f32", m, mNew))
		pw := k.Exp(k.Fl("sub.rn.f32", s, mNew))
		k.Op("fma.rn.f32", l, l, corr, pw)
		k.Op("mov.f32", m, mNew)
	})
	inv := k.Fl("rcp.rn.f32", l)
	k.Loop(start, n, 1, func(t ptx.Reg) {
		rowOff, s := score(t)
		p := k.Fl("mul.rn.f32", k.Exp(k.Fl("sub.rn.f32", s, m)), inv)
		if f16 {
			ph := k.R(ptx.B16)
			k.Op("cvt.rn.f16.f32", ph, p)
			k.Op("cvt.f32.f16", p, ph)
		}
		for j := 0; j < J; j++ {
			vf := loadCache(k, valid[j], vc, k.I32("add.u32", rowOff, dims[j]), f16)
			k.Op("fma.rn.f32", acc[j], p, vf, acc[j])
		}
	})
	for j := 0; j < J; j++ {
		k.OpIf(valid[j], "st.global.f32", ptx.Addr{Base: k.Addr(o, k.I32("add.u32", qOff, dims[j]), 4)}, acc[j])
	}
	k.Op("ret")
	return k
}

// loadCache loads cache element i (f16 or f32) as f32, 0 where !valid.
func loadCache(k *ptx.Kernel, valid, base, i ptx.Reg, f16 bool) ptx.Reg {
	v := k.F(0)
	if f16 {
		h := k.R(ptx.B16)
		k.OpIf(valid, "ld.global.b16", h, ptx.Addr{Base: k.Addr(base, i, 2)})
		k.OpIf(valid, "cvt.f32.f16", v, h)
		return v
	}
	k.OpIf(valid, "ld.global.f32", v, ptx.Addr{Base: k.Addr(base, i, 4)})
	return v
}

// Module returns every kernel dayi's CUDA device loads, in a fixed order.
// It is built once; callers must not modify it.
func Module() *ptx.Module { return module() }

var module = sync.OnceValue(buildModule)

func buildModule() *ptx.Module {
	m := &ptx.Module{
		Header: "Code generated by dayi/engine/backend/cuda/internal/gen; DO NOT EDIT.\n" +
			"dayi's CUDA kernels (engine/backend/cuda/kern); regenerate with `go generate ./engine/backend/cuda`.",
		Version: PTXVersion,
		Target:  PTXTarget,
	}
	m.Kernels = []*ptx.Kernel{
		quantizeQ8_1(),
		quantizeQ8_K(),
		gemvQ("gemv_q4_0", "q4_0", dotQ4_0),
		gemvQ("gemv_q5_0", "q5_0", dotQ5_0),
		gemvQ("gemv_q8_0", "q8_0", dotQ8_0),
		gemvQ("gemv_q4_k", "q4_K", dotQ4_K),
		gemvQ("gemv_q5_k", "q5_K", dotQ5_K),
		gemvQ("gemv_q6_k", "q6_K", dotQ6_K),
		gemvF("gemv_f32", false),
		gemvF("gemv_f16", true),
		rmsNorm(),
		rope(),
		elementwise("swiglu", "y = silu(g)·u (ggml swiglu)", []string{"g", "u"}, func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg {
			return k.Fl("mul.rn.f32", silu(k, in[0]), in[1])
		}),
		elementwise("geglu", "y = gelu(g)·u (ggml geglu, tanh form)", []string{"g", "u"}, func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg {
			return k.Fl("mul.rn.f32", gelu(k, in[0]), in[1])
		}),
		elementwise("gelu", "y = gelu(x) (tanh form)", []string{"x"}, func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg {
			return gelu(k, in[0])
		}),
		gegluF16(),
		softmax(),
		attention(true),
		attention(false),
		elementwise("f32_to_f16", "y = f16(x), round to nearest even (KV-cache append)", []string{"x"}, func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg {
			h := k.R(ptx.B16)
			k.Op("cvt.rn.f16.f32", h, in[0])
			return h
		}),
		elementwise("copy", "y = x (f32 KV-cache append)", []string{"x"}, func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg {
			return in[0]
		}),
		elementwise("add", "y = a + b", []string{"a", "b"}, func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg {
			return k.Fl("add.rn.f32", in[0], in[1])
		}),
		elementwise("mul", "y = a · b", []string{"a", "b"}, func(k *ptx.Kernel, in []ptx.Reg) ptx.Reg {
			return k.Fl("mul.rn.f32", in[0], in[1])
		}),
	}
	return m
}

func negInf() float64 { return -3.4028234663852886e38 }

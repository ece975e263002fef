package ptx

import "fmt"

// Helpers that keep kernel generators short: each allocates its result
// register and appends the instruction that computes it.

// Param loads parameter name (declared in NewKernel) into a new register.
func (k *Kernel) Param(name string) Reg {
	for _, p := range k.Params {
		if p.Name != name {
			continue
		}
		var r Reg
		switch p.Type {
		case PU64:
			r = k.R(B64)
		case PU32:
			r = k.R(B32)
		case PF32:
			r = k.R(F32)
		}
		k.Op("ld.param"+string(p.Type), r, ParamRef(k.PTXParam(name)))
		return r
	}
	panic(fmt.Sprintf("ptx: kernel %s has no parameter %q", k.Name, name))
}

// Sreg reads a special register (%tid.x, %ctaid.x, %ntid.x).
func (k *Kernel) Sreg(s string) Reg {
	r := k.R(B32)
	k.Op("mov.u32", r, Special(s))
	return r
}

// U32 materialises an integer constant.
func (k *Kernel) U32(v int64) Reg {
	r := k.R(B32)
	k.Op("mov.u32", r, Imm(v))
	return r
}

// F materialises an f32 constant.
func (k *Kernel) F(v float32) Reg {
	r := k.R(F32)
	k.Op("mov.f32", r, FImm(v))
	return r
}

// I32 computes op on 32-bit integer operands (add.s32, and.b32, …).
func (k *Kernel) I32(op string, a ...Operand) Reg {
	r := k.R(B32)
	k.Op(op, append([]Operand{r}, a...)...)
	return r
}

// Fl computes op on f32 operands (add.f32, fma.rn.f32, …).
func (k *Kernel) Fl(op string, a ...Operand) Reg {
	r := k.R(F32)
	k.Op(op, append([]Operand{r}, a...)...)
	return r
}

// Setp compares a and b (op like "setp.lt.u32") into a new predicate.
func (k *Kernel) Setp(op string, a, b Operand) Reg {
	p := k.R(Pred)
	k.Op(op, p, a, b)
	return p
}

// Addr returns base + idx*size as a 64-bit address (idx unsigned 32-bit).
func (k *Kernel) Addr(base Reg, idx Operand, size int64) Reg {
	off := k.R(B64)
	k.Op("mul.wide.u32", off, idx, Imm(size))
	a := k.R(B64)
	k.Op("add.s64", a, base, off)
	return a
}

// Load loads with op (ld.global.f32 …) from a into a new register of kind.
func (k *Kernel) Load(op string, kind Kind, a Addr) Reg {
	r := k.R(kind)
	k.Op(op, r, a)
	return r
}

// LoadInt2 loads a 32-bit little-endian word from a 2-byte aligned address
// as two 16-bit loads: GGUF blocks of 18, 34 and 210 bytes leave their
// quants only 2-byte aligned (ggml's get_int_b2 does the same).
func (k *Kernel) LoadInt2(base Reg, off int64) Reg {
	lo := k.Load("ld.global.u16", B32, Addr{base, off})
	hi := k.Load("ld.global.u16", B32, Addr{base, off + 2})
	hs := k.I32("shl.b32", hi, Imm(16))
	return k.I32("or.b32", lo, hs)
}

// WarpSum reduces v over the warp with a butterfly (xor 16, 8, 4, 2, 1):
// every lane ends with the same sum, in the order ggml's warp_reduce_sum
// adds.
func (k *Kernel) WarpSum(v Reg) Reg {
	for _, m := range []int64{16, 8, 4, 2, 1} {
		o := k.R(F32)
		k.Op("shfl.sync.bfly.b32", o, v, Imm(m), Imm(31), Imm(-1))
		v = k.Fl("add.rn.f32", v, o)
	}
	return v
}

// WarpMax is WarpSum with max.f32.
func (k *Kernel) WarpMax(v Reg) Reg {
	for _, m := range []int64{16, 8, 4, 2, 1} {
		o := k.R(F32)
		k.Op("shfl.sync.bfly.b32", o, v, Imm(m), Imm(31), Imm(-1))
		v = k.Fl("max.f32", v, o)
	}
	return v
}

// Exp computes e^x as 2^(x·log2 e) with ex2.approx (2 ulp), as CUDA's
// __expf does.
func (k *Kernel) Exp(x Reg) Reg {
	t := k.Fl("mul.rn.f32", x, FImm(1.4426950408889634))
	return k.Fl("ex2.approx.f32", t)
}

// Loop emits a warp-uniform counted loop: for i := start; i < end; i += step.
// body receives the counter register. start, end and step must be the same
// on every lane of a warp.
func (k *Kernel) Loop(start, end Operand, step int64, body func(i Reg)) {
	i := k.R(B32)
	k.Op("mov.u32", i, start)
	top, done := k.NewLabel("loop"), k.NewLabel("done")
	k.Place(top)
	p := k.Setp("setp.ge.u32", i, end)
	k.OpIf(p, "bra.uni", done)
	body(i)
	k.Op("add.u32", i, i, Imm(step))
	k.Op("bra.uni", top)
	k.Place(done)
}

// ExitIf ends the warp when p holds (p must be warp-uniform).
func (k *Kernel) ExitIf(p Reg) { k.OpIf(p, "ret") }

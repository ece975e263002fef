package ptx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/x448/float16"
)

// Memory is the emulator's global memory: separate allocations at distinct
// addresses, so an access outside every allocation (a kernel reading past a
// buffer) is an error rather than a silent read of a neighbour.
type Memory struct {
	allocs []alloc // sorted by base
	next   uint64
}

type alloc struct {
	base uint64
	data []byte
}

// Alloc returns the address of n fresh zero bytes.
func (m *Memory) Alloc(n int) uint64 {
	if m.next == 0 {
		m.next = 1 << 20
	}
	base := m.next
	m.next += uint64(n+255)&^255 + 256 // a gap after every allocation
	m.allocs = append(m.allocs, alloc{base, make([]byte, n)})
	return base
}

// Bytes returns the allocation's bytes (live: writes change device memory).
func (m *Memory) Bytes(addr uint64) []byte {
	b, err := m.slice(addr, 0)
	if err != nil {
		panic(err)
	}
	for _, a := range m.allocs {
		if a.base == addr {
			return a.data
		}
	}
	return b
}

// Slice returns n bytes of memory at addr, or an error when they are not
// inside one allocation.
func (m *Memory) Slice(addr uint64, n int) ([]byte, error) { return m.slice(addr, n) }

// Free forgets the allocation at addr.
func (m *Memory) Free(addr uint64) error {
	for i, a := range m.allocs {
		if a.base == addr {
			m.allocs = append(m.allocs[:i], m.allocs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("ptx emulator: free of %#x, which is not an allocation", addr)
}

func (m *Memory) slice(addr uint64, n int) ([]byte, error) {
	i := sort.Search(len(m.allocs), func(i int) bool { return m.allocs[i].base > addr }) - 1
	if i >= 0 {
		a := m.allocs[i]
		if off := addr - a.base; off+uint64(n) <= uint64(len(a.data)) {
			return a.data[off : off+uint64(n)], nil
		}
	}
	return nil, fmt.Errorf("ptx emulator: access of %d bytes at %#x is outside every allocation", n, addr)
}

type srcKind uint8

const (
	sReg srcKind = iota
	sImm
	sTid
	sCtaid
	sNtid
	sLane
)

type src struct {
	k    srcKind
	slot int
	imm  uint64
}

type warp struct {
	r      []uint64
	p      []bool
	warpID int // warp index within the block
	ctaid  uint32
	ntid   uint32
	mem    *Memory
	params map[string]uint64
	done   bool
}

func (w *warp) get(s src, lane int) uint64 {
	switch s.k {
	case sReg:
		return w.r[s.slot*32+lane]
	case sImm:
		return s.imm
	case sTid:
		return uint64(w.warpID*32 + lane)
	case sCtaid:
		return uint64(w.ctaid)
	case sNtid:
		return uint64(w.ntid)
	default:
		return uint64(lane)
	}
}

type step struct {
	in    *Instr
	guard int // predicate slot, -1 none
	neg   bool
	exec  func(w *warp, lane int)
	jump  int  // branch target index, for bra
	kind  int8 // 0 plain, 1 bra, 2 ret
}

// Program is a kernel prepared for emulation.
type Program struct {
	k     *Kernel
	steps []step
	slots [numKinds]int // first slot of each class
	nslot int
	npred int
}

func f32(u uint64) float32 { return math.Float32frombits(uint32(u)) }
func u(f float32) uint64   { return uint64(math.Float32bits(f)) }

// Compile prepares k for Emulate; it fails on an instruction the emulator
// does not know, which also keeps the generators inside the subset that
// Check and the emulator understand.
func Compile(k *Kernel) (*Program, error) {
	p := &Program{k: k}
	for kind := Kind(0); kind < numKinds; kind++ {
		if kind == Pred {
			continue
		}
		p.slots[kind] = p.nslot
		p.nslot += k.nreg[kind]
	}
	p.npred = k.nreg[Pred]
	labels := map[Label]int{}
	for _, in := range k.Body {
		if in.Def != "" {
			labels[in.Def] = len(p.steps)
			continue
		}
		_ = in
		p.steps = append(p.steps, step{})
	}
	i := 0
	for bi := range k.Body {
		in := &k.Body[bi]
		if in.Def != "" {
			continue
		}
		st := step{in: in, guard: -1, neg: in.GuardNeg}
		if in.Guard != nil {
			st.guard = in.Guard.N
		}
		switch in.Op {
		case "bra", "bra.uni":
			t, ok := labels[in.Args[0].(Label)]
			if !ok {
				return nil, fmt.Errorf("ptx: %s: undefined label %s", k.Name, in.Args[0].text())
			}
			st.kind, st.jump = 1, t
		case "ret":
			st.kind = 2
		default:
			f, err := p.op(in)
			if err != nil {
				return nil, fmt.Errorf("ptx: %s: %q: %w", k.Name, in.Op, err)
			}
			st.exec = f
		}
		p.steps[i] = st
		i++
	}
	return p, nil
}

func (p *Program) slot(r Reg) int { return p.slots[r.K] + r.N }

func (p *Program) src(o Operand) src {
	switch v := o.(type) {
	case Reg:
		return src{k: sReg, slot: p.slot(v)}
	case Imm:
		return src{k: sImm, imm: uint64(v)}
	case FImm:
		return src{k: sImm, imm: u(float32(v))}
	case Special:
		switch v {
		case "%tid.x":
			return src{k: sTid}
		case "%ctaid.x":
			return src{k: sCtaid}
		case "%ntid.x":
			return src{k: sNtid}
		case "%laneid":
			return src{k: sLane}
		}
	}
	panic(fmt.Sprintf("ptx emulator: operand %T %s not supported", o, o.text()))
}

func (p *Program) op(in *Instr) (func(w *warp, lane int), error) {
	a := in.Args
	op := in.Op
	// Loads and stores.
	if strings.HasPrefix(op, "ld.param.") {
		name := string(a[1].(ParamRef))
		d := p.slot(a[0].(Reg))
		return func(w *warp, lane int) { w.r[d*32+lane] = w.params[name] }, nil
	}
	if strings.HasPrefix(op, "ld.global.") || strings.HasPrefix(op, "st.global.") {
		t := op[len("ld.global."):]
		size := map[string]int{"u8": 1, "s8": 1, "u16": 2, "b16": 2, "s16": 2, "u32": 4, "s32": 4, "b32": 4, "f32": 4}[t]
		if size == 0 {
			return nil, fmt.Errorf("type %s", t)
		}
		var ad Addr
		var reg Reg
		if op[0] == 'l' {
			reg, ad = a[0].(Reg), a[1].(Addr)
		} else {
			ad, reg = a[0].(Addr), a[1].(Reg)
		}
		base, off, r := p.slot(ad.Base), uint64(ad.Off), p.slot(reg)
		signed := t[0] == 's'
		if op[0] == 'l' {
			return func(w *warp, lane int) {
				b, err := w.mem.slice(w.r[base*32+lane]+off, size)
				if err != nil {
					panic(err)
				}
				var v uint64
				switch size {
				case 1:
					v = uint64(b[0])
					if signed {
						v = uint64(uint32(int32(int8(b[0]))))
					}
				case 2:
					v = uint64(binary.LittleEndian.Uint16(b))
				case 4:
					v = uint64(binary.LittleEndian.Uint32(b))
				}
				w.r[r*32+lane] = v
			}, nil
		}
		return func(w *warp, lane int) {
			b, err := w.mem.slice(w.r[base*32+lane]+off, size)
			if err != nil {
				panic(err)
			}
			v := w.r[r*32+lane]
			switch size {
			case 1:
				b[0] = byte(v)
			case 2:
				binary.LittleEndian.PutUint16(b, uint16(v))
			case 4:
				binary.LittleEndian.PutUint32(b, uint32(v))
			}
		}, nil
	}
	if strings.HasPrefix(op, "setp.") {
		parts := strings.Split(op, ".")
		cmp, typ := parts[1], parts[2]
		d := a[0].(Reg).N
		x, y := p.src(a[1]), p.src(a[2])
		return func(w *warp, lane int) {
			xv, yv := w.get(x, lane), w.get(y, lane)
			var c int
			switch typ {
			case "u32":
				c = cmp3(uint32(xv) < uint32(yv), uint32(xv) == uint32(yv))
			case "s32":
				c = cmp3(int32(xv) < int32(yv), int32(xv) == int32(yv))
			case "f32":
				c = cmp3(f32(xv) < f32(yv), f32(xv) == f32(yv))
			}
			var res bool
			switch cmp {
			case "lt":
				res = c < 0
			case "le":
				res = c <= 0
			case "gt":
				res = c > 0
			case "ge":
				res = c >= 0
			case "eq":
				res = c == 0
			case "ne":
				res = c != 0
			}
			w.p[d*32+lane] = res
		}, nil
	}
	if op == "and.pred" || op == "or.pred" {
		d, x, y := a[0].(Reg).N, a[1].(Reg).N, a[2].(Reg).N
		and := op == "and.pred"
		return func(w *warp, lane int) {
			if and {
				w.p[d*32+lane] = w.p[x*32+lane] && w.p[y*32+lane]
			} else {
				w.p[d*32+lane] = w.p[x*32+lane] || w.p[y*32+lane]
			}
		}, nil
	}
	if op == "selp.b32" || op == "selp.f32" {
		d, x, y, pr := p.slot(a[0].(Reg)), p.src(a[1]), p.src(a[2]), a[3].(Reg).N
		return func(w *warp, lane int) {
			if w.p[pr*32+lane] {
				w.r[d*32+lane] = w.get(x, lane)
			} else {
				w.r[d*32+lane] = w.get(y, lane)
			}
		}, nil
	}
	if op == "shfl.sync.bfly.b32" {
		// Executed for all lanes at once by the first lane: every lane reads
		// its partner's value from before the exchange.
		d, x, m := p.slot(a[0].(Reg)), p.src(a[1]), int(a[2].(Imm))
		return func(w *warp, lane int) {
			if lane != 0 {
				return
			}
			var vals [32]uint64
			for l := 0; l < 32; l++ {
				vals[l] = w.get(x, l)
			}
			for l := 0; l < 32; l++ {
				w.r[d*32+l] = vals[l^m]
			}
		}, nil
	}
	d := p.slot(a[0].(Reg))
	srcs := make([]src, len(a)-1)
	for i := range srcs {
		srcs[i] = p.src(a[i+1])
	}
	var f1 func(x uint64) uint64
	var f2 func(x, y uint64) uint64
	var f3 func(x, y, z uint64) uint64
	switch op {
	case "mov.u32", "mov.b32", "mov.f32", "mov.u64", "mov.b64":
		f1 = func(x uint64) uint64 { return x }
	case "add.s32", "add.u32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) + uint32(y)) }
	case "sub.s32", "sub.u32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) - uint32(y)) }
	case "mul.lo.s32", "mul.lo.u32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) * uint32(y)) }
	case "mad.lo.s32", "mad.lo.u32":
		f3 = func(x, y, z uint64) uint64 { return uint64(uint32(x)*uint32(y) + uint32(z)) }
	case "div.u32":
		f2 = func(x, y uint64) uint64 {
			if uint32(y) == 0 {
				return 0xffffffff // PTX leaves x/0 unspecified; never 0-panic here
			}
			return uint64(uint32(x) / uint32(y))
		}
	case "min.u32":
		f2 = func(x, y uint64) uint64 { return uint64(min(uint32(x), uint32(y))) }
	case "max.u32":
		f2 = func(x, y uint64) uint64 { return uint64(max(uint32(x), uint32(y))) }
	case "min.s32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(min(int32(x), int32(y)))) }
	case "max.s32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(max(int32(x), int32(y)))) }
	case "and.b32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) & uint32(y)) }
	case "or.b32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) | uint32(y)) }
	case "xor.b32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) ^ uint32(y)) }
	case "shl.b32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) << min(uint32(y), 32)) }
	case "shr.u32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x) >> min(uint32(y), 32)) }
	case "shr.s32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(int32(x) >> min(uint32(y), 31))) }
	case "add.s64", "add.u64":
		f2 = func(x, y uint64) uint64 { return x + y }
	case "mul.wide.u32":
		f2 = func(x, y uint64) uint64 { return uint64(uint32(x)) * uint64(uint32(y)) }
	case "mul.wide.s32":
		f2 = func(x, y uint64) uint64 { return uint64(int64(int32(x)) * int64(int32(y))) }
	case "cvt.u64.u32":
		f1 = func(x uint64) uint64 { return uint64(uint32(x)) }
	case "add.rn.f32":
		f2 = func(x, y uint64) uint64 { return u(f32(x) + f32(y)) }
	case "sub.rn.f32":
		f2 = func(x, y uint64) uint64 { return u(f32(x) - f32(y)) }
	case "mul.rn.f32":
		f2 = func(x, y uint64) uint64 { return u(f32(x) * f32(y)) }
	case "div.rn.f32":
		f2 = func(x, y uint64) uint64 { return u(f32(x) / f32(y)) }
	case "max.f32":
		f2 = func(x, y uint64) uint64 { return u(maxf(f32(x), f32(y))) }
	case "min.f32":
		f2 = func(x, y uint64) uint64 { return u(-maxf(-f32(x), -f32(y))) }
	case "fma.rn.f32":
		f3 = func(x, y, z uint64) uint64 {
			return u(float32(math.FMA(float64(f32(x)), float64(f32(y)), float64(f32(z)))))
		}
	case "abs.f32":
		f1 = func(x uint64) uint64 { return x &^ (1 << 31) }
	case "neg.f32":
		f1 = func(x uint64) uint64 { return uint64(uint32(x) ^ (1 << 31)) }
	case "sqrt.rn.f32":
		f1 = func(x uint64) uint64 { return u(float32(math.Sqrt(float64(f32(x))))) }
	case "rcp.rn.f32":
		f1 = func(x uint64) uint64 { return u(1 / f32(x)) }
	case "ex2.approx.f32":
		f1 = func(x uint64) uint64 { return u(float32(math.Exp2(float64(f32(x))))) }
	case "cvt.rn.f32.s32":
		f1 = func(x uint64) uint64 { return u(float32(int32(x))) }
	case "cvt.rn.f32.u32":
		f1 = func(x uint64) uint64 { return u(float32(uint32(x))) }
	case "cvt.rzi.s32.f32":
		f1 = func(x uint64) uint64 { return uint64(uint32(int32(f32(x)))) }
	case "cvt.rni.s32.f32":
		f1 = func(x uint64) uint64 { return uint64(uint32(int32(math.RoundToEven(float64(f32(x)))))) }
	case "cvt.rzi.f32.f32":
		f1 = func(x uint64) uint64 { return u(float32(math.Trunc(float64(f32(x))))) }
	case "cvt.f32.f16":
		f1 = func(x uint64) uint64 { return u(float16.Frombits(uint16(x)).Float32()) }
	case "cvt.rn.f16.f32":
		f1 = func(x uint64) uint64 { return uint64(float16.Fromfloat32(f32(x)).Bits()) }
	case "cvt.u32.u16":
		f1 = func(x uint64) uint64 { return x & 0xffff }
	case "dp4a.s32.s32":
		f3 = func(x, y, z uint64) uint64 {
			s := int32(z)
			for i := 0; i < 32; i += 8 {
				s += int32(int8(x>>i)) * int32(int8(y>>i))
			}
			return uint64(uint32(s))
		}
	case "popc.b32":
		f1 = func(x uint64) uint64 { return uint64(bits.OnesCount32(uint32(x))) }
	default:
		return nil, fmt.Errorf("not supported by the emulator")
	}
	switch {
	case f1 != nil && len(srcs) == 1:
		x := srcs[0]
		return func(w *warp, lane int) { w.r[d*32+lane] = f1(w.get(x, lane)) }, nil
	case f2 != nil && len(srcs) == 2:
		x, y := srcs[0], srcs[1]
		return func(w *warp, lane int) { w.r[d*32+lane] = f2(w.get(x, lane), w.get(y, lane)) }, nil
	case f3 != nil && len(srcs) == 3:
		x, y, z := srcs[0], srcs[1], srcs[2]
		return func(w *warp, lane int) {
			w.r[d*32+lane] = f3(w.get(x, lane), w.get(y, lane), w.get(z, lane))
		}, nil
	}
	return nil, fmt.Errorf("wrong operand count %d", len(a))
}

func cmp3(lt, eq bool) int {
	switch {
	case lt:
		return -1
	case eq:
		return 0
	}
	return 1
}

// maxf follows PTX max.f32: a NaN operand yields the other one.
func maxf(a, b float32) float32 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a > b:
		return a
	}
	return b
}

// Launch runs the program over grid blocks of block threads (a multiple of
// 32) with the parameters given by name. It fails on a divergent branch, an
// access outside memory, or a step limit (a kernel that never ends).
func (p *Program) Launch(mem *Memory, grid, block uint32, params map[string]uint64) (err error) {
	if block == 0 || block%32 != 0 {
		return fmt.Errorf("ptx emulator: %s: block size %d is not a positive multiple of 32", p.k.Name, block)
	}
	named := make(map[string]uint64, len(params))
	for _, pa := range p.k.Params {
		v, ok := params[pa.Name]
		if !ok {
			return fmt.Errorf("ptx emulator: %s: parameter %s not given", p.k.Name, pa.Name)
		}
		named[p.k.PTXParam(pa.Name)] = v
	}
	// Blocks are independent (no shared memory, no barriers, no atomics in
	// the subset), so they run on parallel workers, each with its own warp
	// state; outputs of different threads never overlap.
	workers := min(runtime.GOMAXPROCS(0), int(grid))
	var next atomic.Uint32
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[wk] = p.runBlocks(mem, block, named, &next, grid)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *Program) runBlocks(mem *Memory, block uint32, named map[string]uint64, next *atomic.Uint32, grid uint32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("ptx emulator: %s: %w", p.k.Name, e)
				return
			}
			panic(r)
		}
	}()
	w := &warp{r: make([]uint64, p.nslot*32), p: make([]bool, p.npred*32), mem: mem, params: named, ntid: block}
	for {
		c := next.Add(1) - 1
		if c >= grid {
			return nil
		}
		for wi := 0; wi < int(block/32); wi++ {
			w.ctaid, w.warpID = c, wi
			if err := p.runWarp(w); err != nil {
				return err
			}
		}
	}
}

func (p *Program) runWarp(w *warp) error {
	const limit = 1 << 28
	n := 0
	for pc := 0; pc < len(p.steps); {
		if n++; n > limit {
			return fmt.Errorf("ptx emulator: %s: more than %d steps", p.k.Name, limit)
		}
		st := &p.steps[pc]
		if st.kind != 0 {
			take := true
			if st.guard >= 0 {
				first := w.p[st.guard*32] != st.neg
				for l := 1; l < 32; l++ {
					if (w.p[st.guard*32+l] != st.neg) != first {
						return fmt.Errorf("ptx emulator: %s: divergent %s at step %d", p.k.Name, st.in.Op, pc)
					}
				}
				take = first
			}
			if !take {
				pc++
				continue
			}
			if st.kind == 2 {
				return nil
			}
			pc = st.jump
			continue
		}
		if st.guard < 0 {
			for l := 0; l < 32; l++ {
				st.exec(w, l)
			}
		} else {
			if st.in.Op == "shfl.sync.bfly.b32" {
				return fmt.Errorf("ptx emulator: %s: guarded shfl", p.k.Name)
			}
			for l := 0; l < 32; l++ {
				if w.p[st.guard*32+l] != st.neg {
					st.exec(w, l)
				}
			}
		}
		pc++
	}
	return nil
}

// Package ptx builds NVIDIA PTX kernels from Go, prints them as PTX text and
// runs them in a small warp emulator.
//
// Why an IR of our own instead of writing PTX by hand: the same instruction
// list is printed for the GPU and executed by Emulator on the CPU, so the
// kernels' arithmetic is tested on every machine, including those without
// a GPU or a CUDA toolkit (no ptxas here). The printed text is checked
// structurally by Check. The subset is small on purpose: 1-D grids, no
// shared memory, no barriers; warps communicate only through shfl.sync, and
// every branch must be uniform across a warp (Emulator enforces it), which
// keeps the kernels simple enough to read as obviously correct.
package ptx

import (
	"fmt"
	"math"
	"strings"
)

// Kind is a register class; each class is declared as one PTX register
// array (%r<N> etc.).
type Kind uint8

const (
	B32  Kind = iota // %r: .b32, used for u32/s32/b32 values
	F32              // %f: .f32
	B64              // %rd: .b64, addresses
	Pred             // %p: .pred
	B16              // %h: .b16, f16 values
	numKinds
)

var kindPrefix = [numKinds]string{B32: "%r", F32: "%f", B64: "%rd", Pred: "%p", B16: "%h"}
var kindDecl = [numKinds]string{B32: ".b32", F32: ".f32", B64: ".b64", Pred: ".pred", B16: ".b16"}

// Operand is one argument of an instruction.
type Operand interface{ text() string }

// Reg is a virtual register: class and index.
type Reg struct {
	K Kind
	N int
}

func (r Reg) text() string { return fmt.Sprintf("%s%d", kindPrefix[r.K], r.N) }

// Imm is an integer immediate.
type Imm int64

func (i Imm) text() string { return fmt.Sprint(int64(i)) }

// FImm is an f32 immediate, printed as its exact bits (0fXXXXXXXX).
type FImm float32

func (f FImm) text() string { return fmt.Sprintf("0f%08X", math.Float32bits(float32(f))) }

// Special is a special register such as %tid.x.
type Special string

func (s Special) text() string { return string(s) }

// Addr is a global address [base+off].
type Addr struct {
	Base Reg
	Off  int64
}

func (a Addr) text() string {
	if a.Off == 0 {
		return "[" + a.Base.text() + "]"
	}
	return fmt.Sprintf("[%s+%d]", a.Base.text(), a.Off)
}

// ParamRef names a kernel parameter in ld.param.
type ParamRef string

func (p ParamRef) text() string { return "[" + string(p) + "]" }

// Label is a branch target.
type Label string

func (l Label) text() string { return string(l) }

// Instr is one instruction, or a label definition when Def is set.
type Instr struct {
	Guard    *Reg // predicate guard, nil for none
	GuardNeg bool
	Op       string
	Args     []Operand
	Def      Label
}

// ParamType is the PTX type of a kernel parameter.
type ParamType string

const (
	PU64 ParamType = ".u64"
	PU32 ParamType = ".u32"
	PF32 ParamType = ".f32"
)

// Param is one kernel parameter.
type Param struct {
	Name string // Go-side name; the PTX name is kernel_name
	Type ParamType
}

// Kernel is one .entry function.
type Kernel struct {
	Name   string
	Params []Param
	Body   []Instr
	// Doc is printed as comments above the entry.
	Doc  string
	nreg [numKinds]int
	nlbl int
}

// NewKernel starts a kernel with the given parameters.
func NewKernel(name, doc string, params ...Param) *Kernel {
	return &Kernel{Name: name, Doc: doc, Params: params}
}

// PTXParam is the PTX name of parameter p.
func (k *Kernel) PTXParam(p string) string { return k.Name + "_" + p }

// R allocates a register of class kind.
func (k *Kernel) R(kind Kind) Reg {
	r := Reg{kind, k.nreg[kind]}
	k.nreg[kind]++
	return r
}

// Op appends an instruction.
func (k *Kernel) Op(op string, args ...Operand) {
	k.Body = append(k.Body, Instr{Op: op, Args: args})
}

// OpIf appends an instruction guarded by predicate p (@p). The operands are
// evaluated, and any instructions they emit appended, before the guarded
// instruction, so only it is guarded.
func (k *Kernel) OpIf(p Reg, op string, args ...Operand) {
	k.Body = append(k.Body, Instr{Guard: &p, Op: op, Args: args})
}

// NewLabel returns a fresh label name.
func (k *Kernel) NewLabel(what string) Label {
	k.nlbl++
	return Label(fmt.Sprintf("$L_%s_%d", what, k.nlbl))
}

// Place defines label l at this point.
func (k *Kernel) Place(l Label) { k.Body = append(k.Body, Instr{Def: l}) }

// Regs reports how many registers of each class the kernel uses.
func (k *Kernel) Regs(kind Kind) int { return k.nreg[kind] }

// Module is a set of kernels printed as one PTX file.
type Module struct {
	Header  string // comment lines printed first
	Version string // PTX ISA, e.g. "7.0"
	Target  string // e.g. "sm_61"
	Kernels []*Kernel
}

// Text prints the module as PTX.
func (m *Module) Text() string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(m.Header, "\n"), "\n") {
		b.WriteString("// " + l + "\n")
	}
	fmt.Fprintf(&b, "\n.version %s\n.target %s\n.address_size 64\n", m.Version, m.Target)
	for _, k := range m.Kernels {
		b.WriteString("\n")
		for _, l := range strings.Split(strings.TrimSpace(k.Doc), "\n") {
			b.WriteString("// " + l + "\n")
		}
		fmt.Fprintf(&b, ".visible .entry %s(\n", k.Name)
		for i, p := range k.Params {
			sep := ","
			if i == len(k.Params)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "\t.param %s %s%s\n", p.Type, k.PTXParam(p.Name), sep)
		}
		b.WriteString(")\n{\n")
		for kind := Kind(0); kind < numKinds; kind++ {
			if n := k.nreg[kind]; n > 0 {
				fmt.Fprintf(&b, "\t.reg %s %s<%d>;\n", kindDecl[kind], kindPrefix[kind], n)
			}
		}
		b.WriteString("\n")
		for _, in := range k.Body {
			if in.Def != "" {
				b.WriteString(string(in.Def) + ":\n")
				continue
			}
			b.WriteString("\t")
			if in.Guard != nil {
				if in.GuardNeg {
					b.WriteString("@!" + in.Guard.text() + " ")
				} else {
					b.WriteString("@" + in.Guard.text() + " ")
				}
			}
			b.WriteString(in.Op)
			for i, a := range in.Args {
				if i == 0 {
					b.WriteString(" ")
				} else {
					b.WriteString(", ")
				}
				b.WriteString(a.text())
			}
			b.WriteString(";\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

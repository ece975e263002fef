package ptx

import (
	"strings"
	"testing"
)

func sample() *Module {
	k := NewKernel("k", "a test kernel", Param{"x", PU64}, Param{"n", PU32}, Param{"s", PF32})
	x, n, s := k.Param("x"), k.Param("n"), k.Param("s")
	tid := k.Sreg("%tid.x")
	k.ExitIf(k.Setp("setp.ge.u32", tid, n))
	a := k.Addr(x, tid, 4)
	v := k.Load("ld.global.f32", F32, Addr{Base: a})
	k.Op("st.global.f32", Addr{Base: a}, k.Fl("mul.rn.f32", v, s))
	k.Op("ret")
	return &Module{Header: "test", Version: "7.0", Target: "sm_61", Kernels: []*Kernel{k}}
}

func TestCheckAcceptsGenerated(t *testing.T) {
	es, err := Check(sample().Text())
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name != "k" || len(es[0].Params) != 3 || es[0].Params[2] != (Param{"k_s", PF32}) {
		t.Fatalf("entries %+v", es)
	}
}

// Each mutation is a mistake ptxas would reject; Check must too.
func TestCheckRejects(t *testing.T) {
	good := sample().Text()
	for _, tc := range []struct{ name, from, to, want string }{
		{"no version", ".version 7.0\n", "", ".version"},
		{"no target", ".target sm_61\n", "", ".target"},
		{"undeclared register", "mul.rn.f32 %f2, %f1, %f0;", "mul.rn.f32 %f9, %f1, %f0;", "not declared"},
		{"f32 register in integer op", "setp.ge.u32 %p0, %r1, %r0;", "setp.ge.u32 %p0, %f0, %r0;", "32-bit integer"},
		{"integer immediate in float op", "mul.rn.f32 %f2, %f1, %f0;", "mul.rn.f32 %f2, %f1, 2;", "0fXXXXXXXX"},
		{"undefined label", "@%p0 ret;", "@%p0 bra.uni $L_nowhere;", "undefined label"},
		{"unknown parameter", "[k_n]", "[k_m]", "not a parameter"},
		{"parameter type", "ld.param.f32 %f0, [k_s];", "ld.param.u32 %r0, [k_s];", "declared .f32"},
		{"missing semicolon", "ret;\n}", "ret\n}", "without ';'"},
		{"unknown instruction", "mul.rn.f32 %f2, %f1, %f0;", "mul.rn.ftz.f32 %f2, %f1, %f0;", "checked set"},
		{"operand count", "mul.rn.f32 %f2, %f1, %f0;", "mul.rn.f32 %f2, %f1;", "operands"},
		{"predicate as value", "@%p0 ret;", "@%r0 ret;", "predicate"},
		{"wrong declaration type", ".reg .f32 %f<3>;", ".reg .b32 %f<3>;", "declared .b32"},
	} {
		bad := strings.Replace(good, tc.from, tc.to, 1)
		if bad == good {
			t.Fatalf("%s: mutation %q not found in\n%s", tc.name, tc.from, good)
		}
		_, err := Check(bad)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %q", tc.name, err, tc.want)
		}
	}
	// A label defined twice.
	k := NewKernel("k", "", Param{"n", PU32})
	l := k.NewLabel("x")
	k.Place(l)
	k.Place(l)
	k.Op("ret")
	if _, err := Check((&Module{Version: "7.0", Target: "sm_61", Kernels: []*Kernel{k}}).Text()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate label: %v", err)
	}
}

func TestEmulatorRejectsDivergentBranch(t *testing.T) {
	k := NewKernel("k", "", Param{"n", PU32})
	n := k.Param("n")
	lane := k.Sreg("%tid.x")
	k.ExitIf(k.Setp("setp.lt.u32", lane, n)) // lanes below n leave, the others stay
	k.Op("ret")
	p, err := Compile(k)
	if err != nil {
		t.Fatal(err)
	}
	var m Memory
	if err := p.Launch(&m, 1, 32, map[string]uint64{"n": 5}); err == nil || !strings.Contains(err.Error(), "divergent") {
		t.Fatalf("err = %v", err)
	}
	if err := p.Launch(&m, 1, 32, map[string]uint64{"n": 32}); err != nil {
		t.Fatal(err)
	}
}

package cuda

import (
	"os"
	"slices"
	"strings"
	"testing"

	"dayi/engine/backend/cuda/kern"
	"dayi/engine/backend/cuda/ptx"
)

// The committed kernels.ptx is exactly what the generator prints now.
func TestGeneratedPTX(t *testing.T) {
	if got := kern.Module().Text(); got != kernelsPTX {
		if os.Getenv("DAYI_UPDATE_PTX") != "" {
			if err := os.WriteFile("kernels.ptx", []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatal("kernels.ptx differs from the generator's output: run go generate ./engine/backend/cuda")
	}
}

// The embedded text passes the structural check, and each entry's
// parameters are the ones the Go launch helpers pass, in order.
func TestPTXStructure(t *testing.T) {
	es, err := ptx.Check(kernelsPTX)
	if err != nil {
		t.Fatal(err)
	}
	mod := kern.Module()
	if len(es) != len(mod.Kernels) {
		t.Fatalf("%d entries in kernels.ptx, %d kernels", len(es), len(mod.Kernels))
	}
	want := []string{"quantize_q8_1", "quantize_q8_k", "gemv_q4_0", "gemv_q5_0", "gemv_q8_0", "gemv_q4_k", "gemv_q5_k", "gemv_q6_k",
		"gemv_f32", "gemv_f16", "rms_norm", "rope", "swiglu", "geglu", "gelu", "geglu_f16", "softmax", "attention",
		"attention_f32", "f32_to_f16", "copy", "add", "mul"}
	var names []string
	for i, e := range es {
		names = append(names, e.Name)
		sig, ok := kern.Signature(e.Name)
		if !ok {
			t.Fatalf("entry %s has no Go signature", e.Name)
		}
		var goSide []ptx.Param
		for _, p := range sig {
			goSide = append(goSide, ptx.Param{Name: mod.Kernels[i].PTXParam(p.Name), Type: p.Type})
		}
		if !slices.Equal(goSide, e.Params) {
			t.Errorf("%s: PTX parameters %v, Go signature %v", e.Name, e.Params, goSide)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
	if !bytesContain(kernelsPTX, "// Code generated") || !bytesContain(kernelsPTX, "DO NOT EDIT.") {
		t.Error("kernels.ptx is not stamped as generated")
	}
}

func bytesContain(s, sub string) bool { return strings.Contains(s, sub) }

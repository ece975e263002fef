package weights

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/assets"
)

// llamaQuantized are the sha256 of the files llama.cpp's llama_model_quantize
// made from stories260K.gguf (= assets.DefaultModel), from
// testdata/models/README.md. Our output must be the same file, byte for byte.
var llamaQuantized = []struct {
	ft   string
	file string
	sum  string
}{
	{"q8_0", "stories260K-q8_0.gguf", "ff8701a45da28293b7af11a695ab33575b692e9b109a2eae6238c906c31415da"},
	{"q4_0", "stories260K-q4_0.gguf", "fd93abd9957992763c863e7e3f30934baf1e7a2e31b6c911a720cd109daed40d"},
	{"q4_k_m", "stories260K-q4_k_m.gguf", "7f61512f1889080c73b2afd3ac7fdfe55a368e83570b20e5019829adfa734a2a"},
}

func TestQuantizeMatchesLlamaCpp(t *testing.T) {
	src, err := Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range llamaQuantized {
		for _, threads := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/threads=%d", c.ft, threads), func(t *testing.T) {
				ft, ok := FileTypeByName(c.ft)
				if !ok {
					t.Fatalf("file type %q unknown", c.ft)
				}
				var buf bytes.Buffer
				plan, err := Quantize(context.Background(), &buf, src, ft, QuantizeOptions{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.Sum256(buf.Bytes())
				if hex.EncodeToString(h[:]) == c.sum {
					return
				}
				t.Errorf("output sha256 %x differs from llama.cpp's %s", h, c.sum)
				diffAgainstShared(t, buf.Bytes(), c.file)
				_ = plan
			})
		}
	}
}

// TestQuantizeFallbackCount: llama.cpp reported "36 of 48 tensor(s) required
// fallback quantization" for stories260K Q4_K_M (testdata/models/README.md).
func TestQuantizeFallbackCount(t *testing.T) {
	src, err := Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := PlanQuantization(src, FileTypeMostlyQ4_K_M)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Fallbacks != 36 || len(plan.Tensors) != 48 {
		t.Fatalf("%d fallbacks over %d tensors, llama.cpp: 36 of 48", plan.Fallbacks, len(plan.Tensors))
	}
}

// diffAgainstShared explains a mismatch tensor by tensor when the llama.cpp
// file is available.
func diffAgainstShared(t *testing.T, got []byte, name string) {
	p := modelPath(name)
	want, err := os.ReadFile(p)
	if err != nil {
		t.Logf("(no %s to compare tensor by tensor: %v)", p, err)
		return
	}
	g, err := Parse(got)
	if err != nil {
		t.Fatalf("our output does not parse: %v", err)
	}
	w, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.KV) != len(w.KV) {
		t.Errorf("%d metadata keys, llama.cpp %d", len(g.KV), len(w.KV))
	}
	for i := range min(len(g.KV), len(w.KV)) {
		if g.KV[i].Key != w.KV[i].Key || !bytes.Equal(appendValue(nil, g.KV[i].Value), appendValue(nil, w.KV[i].Value)) {
			t.Errorf("metadata #%d: %s=%v, llama.cpp %s=%v", i, g.KV[i].Key, g.KV[i].Value, w.KV[i].Key, w.KV[i].Value)
		}
	}
	for i := range min(len(g.Tensors), len(w.Tensors)) {
		a, b := &g.Tensors[i], &w.Tensors[i]
		if a.Name != b.Name || a.Type != b.Type || fmt.Sprint(a.Dims) != fmt.Sprint(b.Dims) {
			t.Errorf("tensor #%d: %s %s %v, llama.cpp %s %s %v", i, a.Name, a.Type, a.Dims, b.Name, b.Type, b.Dims)
		} else if !bytes.Equal(g.TensorData(a), w.TensorData(b)) {
			t.Errorf("tensor %s (%s): bytes differ", a.Name, a.Type)
		}
	}
}

// synthModel builds a llama-like F32 model with nLayer layers and rows of
// ncols (2 rows each, enough for the policy, which looks at names, row
// lengths and hyperparameters). tied drops output.weight.
func synthModel(t *testing.T, arch string, nLayer int, ncols int64, tied bool) *File {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	kv := func(k string, x any) {
		v, err := ValueOf(x)
		if err == nil {
			err = w.AddKV(k, v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	kv("general.architecture", arch)
	kv(arch+".block_count", uint32(nLayer))
	kv(arch+".attention.head_count", uint32(8))
	kv(arch+".attention.head_count_kv", uint32(2))
	kv("split.count", uint16(1))
	kv("general.file_type", uint32(0))
	var names []string
	add := func(name string, dims ...int64) {
		if err := w.AddTensor(name, TypeF32, dims); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	add("token_embd.weight", ncols, 2)
	if !tied {
		add("output.weight", ncols, 2)
	}
	add("output_norm.weight", ncols)
	for i := 0; i < nLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		add(p+"attn_norm.weight", ncols)
		add(p+"attn_q.weight", ncols, 2)
		add(p+"attn_k.weight", ncols, 2)
		add(p+"attn_v.weight", ncols, 2)
		add(p+"attn_output.weight", ncols, 2)
		add(p+"ffn_gate.weight", ncols, 2)
		add(p+"ffn_up.weight", ncols, 2)
		add(p+"ffn_down.weight", ncols, 2)
		add(p+"ffn_norm.weight", ncols)
		add(p+"attn_k.bias", ncols, 2) // 2-D but not a weight: never quantized
	}
	for _, ti := range w.Tensors() {
		data := make([]byte, ti.Size)
		for k := 0; k+4 <= len(data); k += 4 {
			data[k+2] = byte(k) // small varied floats
			data[k+3] = 0x3c
		}
		if err := w.WriteTensor(ti.Name, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPlanMixes checks the per-tensor types of the _K mixes on a 12-layer
// model with 256-wide rows. Expected values are worked out by hand from
// llama-quant.cpp's rules: use_more_bits(i, 12) holds for i in {0,3,6,9,10,11}
// (i < 12/8, i >= 7*12/8, or (i-1)%3 == 2), counted in llama.cpp's tensor
// order, where blk.10 and blk.11 come after blk.9.
func TestPlanMixes(t *testing.T) {
	f := synthModel(t, "llama", 12, 256, false)
	moreBits := map[int]bool{0: true, 3: true, 6: true, 9: true, 10: true, 11: true}
	type want func(layer int, kind string) Type
	cases := []struct {
		ft   FileType
		want want
	}{
		{FileTypeMostlyQ4_K_M, func(l int, k string) Type {
			switch k {
			case "output":
				return TypeQ6_K
			case "attn_v", "ffn_down":
				if moreBits[l] {
					return TypeQ6_K
				}
			}
			return TypeQ4_K
		}},
		{FileTypeMostlyQ5_K_M, func(l int, k string) Type {
			switch k {
			case "output":
				return TypeQ6_K
			case "attn_v", "ffn_down":
				if moreBits[l] {
					return TypeQ6_K
				}
			}
			return TypeQ5_K
		}},
		{FileTypeMostlyQ4_K_S, func(l int, k string) Type {
			switch {
			case k == "output":
				return TypeQ6_K
			case k == "attn_v" && l < 4, k == "ffn_down" && l < 12/8:
				return TypeQ5_K
			}
			return TypeQ4_K
		}},
		{FileTypeMostlyQ5_K_S, func(l int, k string) Type {
			if k == "output" {
				return TypeQ6_K
			}
			return TypeQ5_K
		}},
		{FileTypeMostlyQ6_K, func(int, string) Type { return TypeQ6_K }},
		{FileTypeMostlyQ3_K_M, func(l int, k string) Type {
			switch {
			case k == "output":
				return TypeQ6_K
			case k == "attn_v" && l < 2:
				return TypeQ5_K
			case k == "attn_v", k == "ffn_down", k == "attn_output":
				return TypeQ4_K // ffn_down: l < 12/16 never holds
			}
			return TypeQ3_K
		}},
		{FileTypeMostlyQ2_K, func(l int, k string) Type {
			switch k {
			case "output":
				return TypeQ6_K
			case "attn_v":
				return TypeQ4_K // n_gqa = 8/2 = 4
			case "ffn_down", "attn_output":
				return TypeQ3_K
			}
			return TypeQ2_K
		}},
		{FileTypeMostlyQ8_0, func(int, string) Type { return TypeQ8_0 }},
		{FileTypeMostlyQ4_0, func(l int, k string) Type {
			if k == "output" {
				return TypeQ6_K
			}
			return TypeQ4_0
		}},
		{FileTypeMostlyF16, func(int, string) Type { return TypeF16 }},
		{FileTypeMostlyBF16, func(int, string) Type { return TypeBF16 }},
	}
	for _, c := range cases {
		plan, err := PlanQuantization(f, c.ft)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Fallbacks != 0 {
			t.Errorf("%s: %d fallbacks on 256-wide rows", c.ft, plan.Fallbacks)
		}
		var order []string
		for _, pt := range plan.Tensors {
			order = append(order, pt.Name)
			layer := layerOf(pt.Name)
			kind := "" // "attn_v" of "blk.3.attn_v.weight"
			if parts := strings.Split(pt.Name, "."); len(parts) == 4 {
				kind = parts[2]
			}
			var w Type
			switch {
			case strings.HasSuffix(pt.Name, "norm.weight") || strings.HasSuffix(pt.Name, ".bias"):
				w = TypeF32
			case pt.Name == "output.weight":
				w = c.want(-1, "output")
			case pt.Name == "token_embd.weight":
				w = c.want(-1, "token_embd")
			default:
				w = c.want(layer, kind)
			}
			if pt.To != w {
				t.Errorf("%s: %s -> %s, llama.cpp's rules give %s", c.ft, pt.Name, pt.To, w)
			}
		}
		// llama.cpp's order: non-layer tensors by name, then layers numerically.
		if order[0] != "output.weight" || order[1] != "output_norm.weight" || order[2] != "token_embd.weight" ||
			order[3] != "blk.0.attn_k.bias" || !strings.HasPrefix(order[3+10*9], "blk.9.") || !strings.HasPrefix(order[3+10*10], "blk.10.") {
			t.Fatalf("%s: tensor order %v", c.ft, order[:6])
		}
	}
}

func TestPlanTiedEmbeddingsAndFallbacks(t *testing.T) {
	// Without output.weight the token embeddings are treated as the output.
	f := synthModel(t, "qwen2", 2, 256, true)
	plan, err := PlanQuantization(f, FileTypeMostlyQ4_0)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Tensors[1].Name != "token_embd.weight" || plan.Tensors[1].To != TypeQ6_K {
		t.Fatalf("tied token_embd: %+v", plan.Tensors[1])
	}
	// 96-wide rows: K types fall back (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0,
	// Q3_K and Q2_K->Q4_0); the output of a 32-block file type wanted Q6_K.
	f = synthModel(t, "llama", 2, 96, false)
	for ft, w := range map[FileType][2]Type{
		FileTypeMostlyQ4_K_S: {TypeQ5_0, TypeQ8_0},
		FileTypeMostlyQ5_K_S: {TypeQ5_1, TypeQ8_0},
		FileTypeMostlyQ6_K:   {TypeQ8_0, TypeQ8_0},
		FileTypeMostlyQ3_K_S: {TypeQ4_0, TypeQ8_0},
		FileTypeMostlyQ4_0:   {TypeQ4_0, TypeQ8_0},
	} {
		plan, err := PlanQuantization(f, ft)
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range plan.Tensors {
			if pt.Name == "blk.1.attn_q.weight" && pt.To != w[0] || pt.Name == "output.weight" && pt.To != w[1] {
				t.Errorf("%s: %s -> %s", ft, pt.Name, pt.To)
			}
		}
	}
	// 40-wide rows fit no 32-block type: F16.
	f = synthModel(t, "llama", 1, 40, false)
	plan, err = PlanQuantization(f, FileTypeMostlyQ8_0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range plan.Tensors {
		if strings.HasSuffix(pt.Name, "_q.weight") && (pt.To != TypeF16 || !pt.Fallback || pt.FallbackFrom != TypeQ8_0) {
			t.Errorf("%s -> %s (fallback %v from %s), want F16", pt.Name, pt.To, pt.Fallback, pt.FallbackFrom)
		}
	}
}

func TestQuantizeSynthKQuantsWriteValidFiles(t *testing.T) {
	f := synthModel(t, "llama", 3, 512, false)
	for _, ft := range []FileType{FileTypeMostlyQ4_K_M, FileTypeMostlyQ3_K_L, FileTypeMostlyQ2_K, FileTypeMostlyQ5_1} {
		var one, four bytes.Buffer
		plan, err := Quantize(context.Background(), &one, f, ft, QuantizeOptions{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Quantize(context.Background(), &four, f, ft, QuantizeOptions{Threads: 4}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.Bytes(), four.Bytes()) {
			t.Fatalf("%s: output depends on the thread count", ft)
		}
		g, err := Parse(one.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		// llama.cpp's metadata: split keys gone, file type and quantization
		// version set and moved last.
		n := len(g.KV)
		if g.Has("split.count") || g.KV[n-2].Key != "general.quantization_version" || g.Uint("general.quantization_version", 0) != 2 ||
			g.KV[n-1].Key != "general.file_type" || g.Uint("general.file_type", 0) != uint64(ft) {
			t.Fatalf("%s: metadata tail %v", ft, g.KV[n-2:])
		}
		for i, pt := range plan.Tensors {
			ti := &g.Tensors[i]
			if ti.Name != pt.Name || ti.Type != pt.To || ti.Size != pt.OutBytes {
				t.Fatalf("%s: tensor %d is %s %s, planned %s %s", ft, i, ti.Name, ti.Type, pt.Name, pt.To)
			}
			// decodes to roughly the input
			src, _ := f.Tensor(ti.Name)
			a := make([]float32, src.Elements())
			b := make([]float32, src.Elements())
			if err := DequantizeRow(TypeF32, a, f.TensorData(src)); err != nil {
				t.Fatal(err)
			}
			if err := DequantizeRow(ti.Type, b, g.TensorData(ti)); err != nil {
				t.Fatal(err)
			}
			for k := range a {
				if d := a[k] - b[k]; d > 0.2*abs32(a[k])+1e-3 || -d > 0.2*abs32(a[k])+1e-3 {
					t.Fatalf("%s: %s[%d] = %g decodes to %g", ft, ti.Name, k, a[k], b[k])
				}
			}
		}
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestQuantizeRefusals(t *testing.T) {
	src, err := Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	var q8 bytes.Buffer
	if _, err := Quantize(context.Background(), &q8, src, FileTypeMostlyQ8_0, QuantizeOptions{}); err != nil {
		t.Fatal(err)
	}
	g, err := Parse(q8.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// Requantizing is refused by default, as llama.cpp does.
	_, err = Quantize(context.Background(), io.Discard, g, FileTypeMostlyQ4_0, QuantizeOptions{})
	if err == nil || !strings.Contains(err.Error(), "requantiz") || !strings.Contains(err.Error(), "q8_0") {
		t.Fatalf("requantize: %v", err)
	}
	if _, err := Quantize(context.Background(), io.Discard, g, FileTypeMostlyQ4_0, QuantizeOptions{AllowRequantize: true}); err != nil {
		t.Fatalf("requantize allowed: %v", err)
	}
	if _, err := PlanQuantization(src, FileType(19)); err == nil || !strings.Contains(err.Error(), "MOSTLY_IQ2_XXS") {
		t.Fatalf("IQ file type: %v", err)
	}
	// Cancelling leaves no file behind.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err = WriteFileAtomic(filepath.Join(dir, "out.gguf"), func(w io.Writer) error {
		_, err := Quantize(ctx, w, src, FileTypeMostlyQ4_0, QuantizeOptions{Progress: func(done, total int64) {
			if calls++; calls == 3 {
				cancel()
			}
		}})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled quantize: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("cancelled quantize left %d files", len(ents))
	}
}

func TestFileTypeNames(t *testing.T) {
	// Names and numbers from llama.h's enum llama_ftype.
	for name, ft := range map[string]FileType{
		"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q2_k": 10, "q3_k_s": 11,
		"q3_k_m": 12, "q3_k_l": 13, "q4_k_s": 14, "Q4_K_M": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18,
		"bf16": 32, "mostly_q4_k_m": 15,
	} {
		got, ok := FileTypeByName(name)
		if !ok || got != ft {
			t.Errorf("FileTypeByName(%q) = %d, %v; want %d", name, got, ok, ft)
		}
	}
	if FileTypeMostlyQ4_K_M.String() != "MOSTLY_Q4_K_M" || FileType(0).String() != "ALL_F32" || FileType(99).String() != "FTYPE_99" {
		t.Fatal("names")
	}
	if _, ok := FileTypeByName("iq2_xxs"); ok {
		t.Fatal("iq2_xxs needs an importance matrix; it must not be offered")
	}
}

func TestFileTypeOf(t *testing.T) {
	// stories260K has no general.file_type: llama.cpp prints "all F32 (guessed)".
	src, err := Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	if ft, guessed := FileTypeOf(src); ft != FileTypeAllF32 || !guessed {
		t.Fatalf("embedded model: %s guessed=%v", ft, guessed)
	}
	var buf bytes.Buffer
	if _, err := Quantize(context.Background(), &buf, src, FileTypeMostlyQ4_K_M, QuantizeOptions{}); err != nil {
		t.Fatal(err)
	}
	q, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if ft, guessed := FileTypeOf(q); ft != 15 || guessed {
		t.Fatalf("q4_k_m: %s guessed=%v", ft, guessed)
	}
}

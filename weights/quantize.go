package weights

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// This file is dayi's port of llama.cpp's model quantization policy
// (src/llama-quant.cpp of the llama.cpp bundled with node-llama-cpp 3.22.1,
// "v0.5.0"): which tensors are quantized, to which type each goes for a given
// file type (llama_tensor_get_type), the fallback when a row does not divide
// into the type's blocks (tensor_type_fallback), the tensor order of the output
// (llama_model_loader's weight_name_comparer) and the metadata llama.cpp adds.
// Following it rule for rule is what makes our quantized files byte-identical
// to llama-quantize's when no importance matrix is used.

// FileType is llama.cpp's llama_ftype, stored as general.file_type.
type FileType uint32

// File types (llama.h enum llama_ftype). Gaps are removed types.
const (
	FileTypeAllF32       FileType = 0
	FileTypeMostlyF16    FileType = 1
	FileTypeMostlyQ4_0   FileType = 2
	FileTypeMostlyQ4_1   FileType = 3
	FileTypeMostlyQ8_0   FileType = 7
	FileTypeMostlyQ5_0   FileType = 8
	FileTypeMostlyQ5_1   FileType = 9
	FileTypeMostlyQ2_K   FileType = 10
	FileTypeMostlyQ3_K_S FileType = 11
	FileTypeMostlyQ3_K_M FileType = 12
	FileTypeMostlyQ3_K_L FileType = 13
	FileTypeMostlyQ4_K_S FileType = 14
	FileTypeMostlyQ4_K_M FileType = 15
	FileTypeMostlyQ5_K_S FileType = 16
	FileTypeMostlyQ5_K_M FileType = 17
	FileTypeMostlyQ6_K   FileType = 18
	FileTypeMostlyBF16   FileType = 32
)

// fileTypeNames are the llama_ftype enumerator names without "LLAMA_FTYPE_".
var fileTypeNames = map[FileType]string{
	0: "ALL_F32", 1: "MOSTLY_F16", 2: "MOSTLY_Q4_0", 3: "MOSTLY_Q4_1", 7: "MOSTLY_Q8_0", 8: "MOSTLY_Q5_0",
	9: "MOSTLY_Q5_1", 10: "MOSTLY_Q2_K", 11: "MOSTLY_Q3_K_S", 12: "MOSTLY_Q3_K_M", 13: "MOSTLY_Q3_K_L",
	14: "MOSTLY_Q4_K_S", 15: "MOSTLY_Q4_K_M", 16: "MOSTLY_Q5_K_S", 17: "MOSTLY_Q5_K_M", 18: "MOSTLY_Q6_K",
	19: "MOSTLY_IQ2_XXS", 20: "MOSTLY_IQ2_XS", 21: "MOSTLY_Q2_K_S", 22: "MOSTLY_IQ3_XS", 23: "MOSTLY_IQ3_XXS",
	24: "MOSTLY_IQ1_S", 25: "MOSTLY_IQ4_NL", 26: "MOSTLY_IQ3_S", 27: "MOSTLY_IQ3_M", 28: "MOSTLY_IQ2_S",
	29: "MOSTLY_IQ2_M", 30: "MOSTLY_IQ4_XS", 31: "MOSTLY_IQ1_M", 32: "MOSTLY_BF16", 36: "MOSTLY_TQ1_0",
	37: "MOSTLY_TQ2_0", 38: "MOSTLY_MXFP4_MOE", 39: "MOSTLY_NVFP4", 40: "MOSTLY_Q1_0", 41: "MOSTLY_Q2_0",
	1024: "GUESSED",
}

// String returns llama.cpp's enumerator name, e.g. "MOSTLY_Q4_K_M".
func (ft FileType) String() string {
	if s, ok := fileTypeNames[ft]; ok {
		return s
	}
	return "FTYPE_" + strconv.FormatUint(uint64(ft), 10)
}

// defaultTypes is llama_ftype_get_default_type for the file types dayi can
// produce.
var defaultTypes = map[FileType]Type{
	FileTypeAllF32: TypeF32, FileTypeMostlyF16: TypeF16, FileTypeMostlyBF16: TypeBF16,
	FileTypeMostlyQ4_0: TypeQ4_0, FileTypeMostlyQ4_1: TypeQ4_1, FileTypeMostlyQ5_0: TypeQ5_0,
	FileTypeMostlyQ5_1: TypeQ5_1, FileTypeMostlyQ8_0: TypeQ8_0, FileTypeMostlyQ2_K: TypeQ2_K,
	FileTypeMostlyQ3_K_S: TypeQ3_K, FileTypeMostlyQ3_K_M: TypeQ3_K, FileTypeMostlyQ3_K_L: TypeQ3_K,
	FileTypeMostlyQ4_K_S: TypeQ4_K, FileTypeMostlyQ4_K_M: TypeQ4_K, FileTypeMostlyQ5_K_S: TypeQ5_K,
	FileTypeMostlyQ5_K_M: TypeQ5_K, FileTypeMostlyQ6_K: TypeQ6_K,
}

// QuantizeFileTypes lists the file types dayi quantize produces, by CLI name.
// The IQ and ternary types need an importance matrix or codecs dayi lacks.
func QuantizeFileTypes() []string {
	var s []string
	for ft := range defaultTypes {
		s = append(s, ft.CLIName())
	}
	sort.Strings(s)
	return s
}

// CLIName is the lower-case short name, e.g. "q4_k_m", "f16", "f32".
func (ft FileType) CLIName() string {
	s := strings.ToLower(ft.String())
	s = strings.TrimPrefix(s, "mostly_")
	return strings.TrimPrefix(s, "all_")
}

// FileTypeByName finds a file type dayi can produce by its CLI name
// ("q4_k_m", case-insensitive; "mostly_q4_k_m" works too).
func FileTypeByName(name string) (FileType, bool) {
	n := strings.ToLower(name)
	for ft := range defaultTypes {
		if n == ft.CLIName() || n == strings.ToLower(ft.String()) {
			return ft, true
		}
	}
	return 0, false
}

// DefaultType is the tensor type most tensors of ft get.
func (ft FileType) DefaultType() (Type, bool) {
	t, ok := defaultTypes[ft]
	return t, ok
}

// isQuantized is ggml_is_quantized: block types, not F32/F16/BF16 or integers.
func isQuantized(t Type) bool {
	switch t {
	case TypeF32, TypeF16, TypeBF16, TypeF64, TypeI8, TypeI16, TypeI32, TypeI64:
		return false
	}
	return t.Known()
}

// tensorCategory is llama-quant.cpp's tensor_category.
type tensorCategory int

const (
	catOther tensorCategory = iota
	catTokenEmbd
	catAttnQ
	catAttnV
	catAttnK
	catAttnQKV
	catAttnKVB
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
	catOutput
)

func categoryOf(name string) tensorCategory {
	has := func(s string) bool { return strings.Contains(name, s) }
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
		return catTokenEmbd
	case has("attn_qkv.weight"):
		return catAttnQKV
	case has("attn_kv_b.weight"):
		return catAttnKVB
	case has("attn_v.weight"):
		return catAttnV
	case has("attn_k.weight"):
		return catAttnK
	case has("attn_q.weight"):
		return catAttnQ
	case has("attn_output.weight"):
		return catAttnOutput
	case has("ffn_up"):
		return catFFNUp
	case has("ffn_gate"):
		return catFFNGate
	case has("ffn_down"):
		return catFFNDown
	}
	return catOther
}

func (c tensorCategory) isAttnV() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// nDims is ggml_n_dims: the number of dimensions without trailing ones (at
// least 1). llama.cpp writes this many dims.
func nDims(dims []int64) int {
	n := len(dims)
	for n > 1 && dims[n-1] == 1 {
		n--
	}
	return max(n, 1)
}

// noQuantSubstrings are the name fragments tensor_allows_quantization
// excludes (small or sensitive tensors of various architectures).
var noQuantSubstrings = []string{
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
	"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
	"indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
	"time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
	"time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
	"time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
	"sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
}

// allowsQuantization is tensor_allows_quantization with llama.cpp's default
// parameters: only 2-D and 3-D ".weight" tensors other than norms and a list
// of small ones.
func allowsQuantization(name string, dims []int64) bool {
	if nDims(dims) < 2 || !strings.HasSuffix(name, "weight") {
		return false
	}
	if name == "position_embd.weight" || name == "token_types.weight" {
		return false
	}
	for _, s := range noQuantSubstrings {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

// layerOf parses "blk.N." as sscanf("blk.%d.") does: -1 when absent.
func layerOf(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	i := 0
	if i < len(rest) && (rest[i] == '-' || rest[i] == '+') {
		i++
	}
	j := i
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == i {
		return -1
	}
	n, err := strconv.Atoi(rest[:j])
	if err != nil {
		return -1
	}
	return n
}

// lessWeightName is llama_model_loader's weight_name_comparer: by layer
// (non-layer tensors first), then by name.
func lessWeightName(a, b string) bool {
	la, lb := layerOf(a), layerOf(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

// modelParams are the hyperparameters the policy looks at.
type modelParams struct {
	arch             string
	nLayer           int
	nHead, nHeadKV   int
	nExpert          int
	is70B            bool
	hasTiedEmbedding bool
}

func (p *modelParams) nGQA() int {
	if p.nHeadKV == 0 {
		return 0
	}
	return p.nHead / p.nHeadKV
}

// firstInt reads a scalar or the first element of a per-layer array.
func firstInt(f *File, key string, def int64) int64 {
	v, ok := f.Get(key)
	if !ok {
		return def
	}
	if v.Type == ValArray {
		if v.Len() == 0 {
			return def
		}
		if i, ok := v.Index(0).asInt(); ok {
			return i
		}
		return def
	}
	return f.Int(key, def)
}

func readModelParams(f *File) modelParams {
	p := modelParams{arch: f.Arch(), hasTiedEmbedding: true}
	p.nLayer = int(f.Int(f.ArchKey("block_count"), 0))
	p.nHead = int(firstInt(f, f.ArchKey("attention.head_count"), 0))
	p.nHeadKV = int(firstInt(f, f.ArchKey("attention.head_count_kv"), int64(p.nHead)))
	p.nExpert = int(f.Int(f.ArchKey("expert_count"), 0))
	// llm_type 70B as llama-model.cpp sets it for the architectures dayi runs.
	switch p.arch {
	case "llama":
		p.is70B = p.nLayer == 80 && p.nHead != p.nHeadKV
	case "qwen2", "olmo", "deci":
		p.is70B = p.nLayer == 80
	}
	if _, ok := f.Tensor("output.weight"); ok {
		p.hasTiedEmbedding = false
	}
	return p
}

// planner carries llama-quant.cpp's quantize_state_impl counters.
type planner struct {
	ft                                 FileType
	def                                Type
	p                                  modelParams
	nAttnV, iAttnV, iFFNDown, iFFNGate int
	iFFNUp, nFallback, nFFN            int
	fallbackFrom                       map[string]Type
}

func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// layerInfo is llama-quant.cpp's layer_info: with experts the layer comes
// from the name.
func (q *planner) layerInfo(i int, name string) (int, error) {
	if q.p.nExpert > 1 {
		l := layerOf(name)
		if l < 0 || l >= q.nFFN {
			return 0, fmt.Errorf("tensor %q: cannot determine its layer (of %d)", name, q.nFFN)
		}
		return l, nil
	}
	return i, nil
}

// targetType is llama_tensor_get_type for a tensor that allows quantization.
func (q *planner) targetType(name string, dims []int64) (Type, error) {
	t := q.def
	if !isQuantized(q.def) {
		return t, nil
	}
	t, err := q.mixType(name, dims, t)
	if err != nil {
		return 0, err
	}
	return q.fallback(name, dims[0], t)
}

// mixType is llama_tensor_get_type_impl restricted to the file types dayi
// produces (the IQ branches need an importance matrix).
func (q *planner) mixType(name string, dims []int64, t Type) (Type, error) {
	ft, p := q.ft, &q.p
	cat := categoryOf(name)
	falcon := p.arch == "falcon"
	switch {
	case cat == catOutput || (p.hasTiedEmbedding && cat == catTokenEmbd):
		nx := dims[0]
		if falcon || nx%int64(t.BlockSize()) != 0 {
			t = TypeQ8_0
		} else if t != TypeQ8_0 {
			t = TypeQ6_K
		}
	case cat == catTokenEmbd:
		// only IQ/ternary file types change the token embeddings
	case cat.isAttnV():
		switch {
		case ft == FileTypeMostlyQ2_K:
			t = TypeQ3_K
			if p.nGQA() >= 4 {
				t = TypeQ4_K
			}
		case ft == FileTypeMostlyQ3_K_M:
			t = TypeQ4_K
			if q.iAttnV < 2 {
				t = TypeQ5_K
			}
		case ft == FileTypeMostlyQ3_K_L:
			t = TypeQ5_K
		case (ft == FileTypeMostlyQ4_K_M || ft == FileTypeMostlyQ5_K_M) && useMoreBits(q.iAttnV, q.nAttnV):
			t = TypeQ6_K
		case ft == FileTypeMostlyQ4_K_S && q.iAttnV < 4:
			t = TypeQ5_K
		}
		if p.is70B && (t == TypeQ3_K || t == TypeQ4_K) {
			t = TypeQ5_K
		}
		if p.nExpert == 8 {
			t = TypeQ8_0
		}
		q.iAttnV++
	case cat == catAttnK:
		if p.nExpert == 8 {
			t = TypeQ8_0
		}
	case cat == catAttnQ:
		// only IQ file types
	case cat == catFFNDown:
		i, err := q.layerInfo(q.iFFNDown, name)
		if err != nil {
			return 0, err
		}
		n := q.nFFN
		switch {
		case ft == FileTypeMostlyQ2_K:
			t = TypeQ3_K
		case ft == FileTypeMostlyQ3_K_M:
			switch {
			case i < n/16:
				t = TypeQ5_K
			case !falcon || useMoreBits(i, n):
				t = TypeQ4_K
			default:
				t = TypeQ3_K
			}
		case ft == FileTypeMostlyQ3_K_L:
			t = TypeQ5_K
			if falcon {
				t = TypeQ4_K
			}
		case ft == FileTypeMostlyQ4_K_M:
			if falcon {
				switch {
				case i < n/16:
					t = TypeQ6_K
				case useMoreBits(i, n):
					t = TypeQ5_K
				default:
					t = TypeQ4_K
				}
			} else if useMoreBits(i, n) {
				t = TypeQ6_K
			}
		case ft == FileTypeMostlyQ5_K_M && useMoreBits(i, n):
			t = TypeQ6_K
		case ft == FileTypeMostlyQ4_K_S && !falcon && i < n/8:
			t = TypeQ5_K
		}
		q.iFFNDown++
	case cat == catAttnOutput:
		if !falcon {
			if p.nExpert == 8 {
				switch ft {
				case FileTypeMostlyQ2_K, FileTypeMostlyQ3_K_S, FileTypeMostlyQ3_K_M, FileTypeMostlyQ4_K_S, FileTypeMostlyQ4_K_M:
					t = TypeQ5_K
				}
			} else {
				switch ft {
				case FileTypeMostlyQ2_K:
					t = TypeQ3_K
				case FileTypeMostlyQ3_K_M:
					t = TypeQ4_K
				case FileTypeMostlyQ3_K_L:
					t = TypeQ5_K
				}
			}
		} else if ft == FileTypeMostlyQ3_K_L {
			t = TypeQ4_K
		}
	// attn_qkv is caught by isAttnV above, so llama.cpp's own attn_qkv
	// branch is unreachable and not ported.
	case cat == catFFNGate:
		if _, err := q.layerInfo(q.iFFNGate, name); err != nil {
			return 0, err
		}
		q.iFFNGate++
	case cat == catFFNUp:
		if _, err := q.layerInfo(q.iFFNUp, name); err != nil {
			return 0, err
		}
		q.iFFNUp++
	}
	return t, nil
}

// fallbackTypes is tensor_type_fallback's table: a smaller-block type for a
// 256-block type whose row length is not a multiple of 256.
var fallbackTypes = map[Type]Type{
	TypeIQ1_S: TypeIQ4_NL, TypeIQ1_M: TypeIQ4_NL, TypeIQ2_XXS: TypeIQ4_NL, TypeIQ2_XS: TypeIQ4_NL,
	TypeIQ2_S: TypeIQ4_NL, TypeIQ3_XXS: TypeIQ4_NL, TypeIQ3_S: TypeIQ4_NL, TypeIQ4_XS: TypeIQ4_NL,
	TypeQ2_K: TypeQ4_0, TypeQ3_K: TypeQ4_0, TypeTQ1_0: TypeQ4_0, TypeTQ2_0: TypeQ4_0,
	TypeQ4_K: TypeQ5_0, TypeQ5_K: TypeQ5_1, TypeQ6_K: TypeQ8_0,
}

// fallback is tensor_type_fallback: when the row length does not divide into
// t's blocks, use the table's type, or F16 when that does not fit either.
func (q *planner) fallback(name string, ncols int64, t Type) (Type, error) {
	bs := int64(t.BlockSize())
	if ncols%bs == 0 {
		return t, nil
	}
	q.nFallback++
	q.fallbackFrom[name] = t
	r, ok := fallbackTypes[t]
	if !ok {
		if bs > 32 {
			return 0, fmt.Errorf("tensor %q: no fallback type for %s", name, t)
		}
		r = t
	}
	if ncols%int64(r.BlockSize()) != 0 {
		r = TypeF16
	}
	return r, nil
}

// PlannedTensor is one tensor of a quantization plan, in output order.
type PlannedTensor struct {
	Name string  `json:"name"`
	Dims []int64 `json:"dims"` // as written: trailing ones dropped, as ggml_n_dims
	From Type    `json:"-"`
	To   Type    `json:"-"`
	// FallbackFrom is the type the mix wanted when the row length forced a
	// fallback (0 = none; check Fallback).
	Fallback     bool  `json:"fallback,omitempty"`
	FallbackFrom Type  `json:"-"`
	InBytes      int64 `json:"in_bytes"`
	OutBytes     int64 `json:"out_bytes"`
}

// QuantPlan is what Quantize will write.
type QuantPlan struct {
	FileType  FileType
	Tensors   []PlannedTensor
	Fallbacks int // tensors that needed a fallback type, as llama.cpp counts them
}

// PlanQuantization decides the output type of every tensor of f for file type
// ft, as llama-quantize does with default parameters (no imatrix, no
// overrides). Tensors come in llama.cpp's output order.
func PlanQuantization(f *File, ft FileType) (*QuantPlan, error) {
	def, ok := ft.DefaultType()
	if !ok {
		return nil, fmt.Errorf("quantize: file type %s is not supported (supported: %s)", ft, strings.Join(QuantizeFileTypes(), ", "))
	}
	q := &planner{ft: ft, def: def, p: readModelParams(f), fallbackFrom: map[string]Type{}}
	q.nFFN = q.p.nLayer
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
		if categoryOf(f.Tensors[i].Name).isAttnV() {
			q.nAttnV++
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		return lessWeightName(f.Tensors[order[a]].Name, f.Tensors[order[b]].Name)
	})
	plan := &QuantPlan{FileType: ft}
	for _, i := range order {
		ti := &f.Tensors[i]
		pt := PlannedTensor{Name: ti.Name, Dims: ti.Dims[:nDims(ti.Dims)], From: ti.Type, To: ti.Type, InBytes: ti.Size}
		if len(ti.Dims) == 0 {
			pt.Dims = []int64{1}
		}
		if allowsQuantization(ti.Name, ti.Dims) {
			t, err := q.targetType(ti.Name, ti.Dims)
			if err != nil {
				return nil, fmt.Errorf("quantize: %w", err)
			}
			pt.To = t
			pt.FallbackFrom, pt.Fallback = q.fallbackFrom[ti.Name]
		}
		rows, cols := ti.Rows()
		rs, err := pt.To.RowSize(cols)
		if err != nil {
			return nil, fmt.Errorf("quantize: tensor %q: %w", ti.Name, err)
		}
		pt.OutBytes = rs * rows
		plan.Tensors = append(plan.Tensors, pt)
	}
	plan.Fallbacks = q.nFallback
	return plan, nil
}

// QuantizeOptions tune Quantize. The zero value is llama.cpp's defaults.
type QuantizeOptions struct {
	Threads int // 0 = runtime.NumCPU()
	// AllowRequantize lets already quantized tensors be converted (llama.cpp
	// refuses by default: quality drops twice).
	AllowRequantize bool
	// Progress, when set, is called after each slab with the input bytes done
	// and the total, from the calling goroutine.
	Progress func(done, total int64)
}

// slabBytes bounds the float32 working set per slab, so a model of any size
// is quantized in bounded memory.
const slabBytes = 32 << 20

// Quantize writes f quantized to file type ft to w as a GGUF file, as
// llama-quantize would write it: same metadata plus
// general.quantization_version = 2 and general.file_type = ft (set, so moved
// last), split keys removed, tensors in llama.cpp's order with the planned
// types. Rows are quantized in parallel; the output does not depend on the
// thread count. It stops with ctx's error when ctx is cancelled.
func Quantize(ctx context.Context, w io.Writer, f *File, ft FileType, opt QuantizeOptions) (*QuantPlan, error) {
	plan, err := PlanQuantization(f, ft)
	if err != nil {
		return nil, err
	}
	gw := NewWriter(w)
	for _, kv := range f.KV {
		if err := gw.AddKV(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	// llama_model_quantize_impl: GGML_QNT_VERSION is 2.
	if err := gw.SetKV("general.quantization_version", Value{Type: ValUint32, V: uint32(2)}); err != nil {
		return nil, err
	}
	if err := gw.SetKV("general.file_type", Value{Type: ValUint32, V: uint32(ft)}); err != nil {
		return nil, err
	}
	for _, k := range []string{"split.no", "split.count", "split.tensors.count"} {
		gw.DeleteKV(k)
	}
	var total int64
	for i := range plan.Tensors {
		pt := &plan.Tensors[i]
		if pt.From != pt.To {
			if isQuantized(pt.From) && !opt.AllowRequantize {
				return nil, fmt.Errorf("quantize: tensor %q is already %s; requantizing is disabled", pt.Name, pt.From)
			}
			if tr, _ := pt.To.Traits(); tr.Quantize == nil {
				return nil, fmt.Errorf("quantize: tensor %q: no encoder for %s", pt.Name, pt.To)
			}
			if tr, _ := pt.From.Traits(); tr.Dequantize == nil {
				return nil, fmt.Errorf("quantize: tensor %q: no decoder for %s", pt.Name, pt.From)
			}
		}
		if err := gw.AddTensor(pt.Name, pt.To, pt.Dims); err != nil {
			return nil, err
		}
		total += pt.InBytes
	}
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	var done int64
	var src []float32
	var dst []byte
	for i := range plan.Tensors {
		pt := &plan.Tensors[i]
		ti, _ := f.Tensor(pt.Name)
		data := f.TensorData(ti)
		if pt.From == pt.To {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := gw.WriteTensor(pt.Name, data); err != nil {
				return nil, err
			}
			done += pt.InBytes
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
			continue
		}
		rows, cols := ti.Rows()
		inRow, _ := pt.From.RowSize(cols)
		outRow, _ := pt.To.RowSize(cols)
		slab := max(1, slabBytes/(cols*4))
		for r := int64(0); r < rows; r += slab {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			n := min(slab, rows-r)
			if int64(cap(src)) < n*cols {
				src = make([]float32, n*cols)
			}
			if int64(cap(dst)) < n*outRow {
				dst = make([]byte, n*outRow)
			}
			s, d := src[:n*cols], dst[:n*outRow]
			convertRows(pt.From, pt.To, s, d, data[r*inRow:(r+n)*inRow], int(cols), int(inRow), int(outRow), threads)
			if _, err := gw.Write(d); err != nil {
				return nil, err
			}
			done += n * inRow
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		}
	}
	if err := gw.Close(); err != nil {
		return nil, err
	}
	return plan, nil
}

// convertRows decodes the rows of in (type from) to float32 and encodes them
// to out (type to), splitting the rows among up to threads goroutines. Each
// row is independent in ggml's reference quantizers, so the bytes do not
// depend on the split.
func convertRows(from, to Type, src []float32, out, in []byte, cols, inRow, outRow, threads int) {
	dec, _ := from.Traits()
	enc, _ := to.Traits()
	rows := len(in) / inRow
	per := (rows + threads - 1) / threads
	// Small slabs are not worth the goroutines.
	if rows*cols < 1<<16 {
		per = rows
	}
	var wg sync.WaitGroup
	for r0 := 0; r0 < rows; r0 += per {
		r1 := min(r0+per, rows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := src[r0*cols : r1*cols]
			dec.Dequantize(s, in[r0*inRow:r1*inRow])
			enc.Quantize(out[r0*outRow:r1*outRow], s)
		}()
	}
	wg.Wait()
}

// guessTypes maps the most common tensor type to a file type, as
// llama_model_loader does when general.file_type is absent.
var guessTypes = map[Type]FileType{
	TypeF32: 0, TypeF16: 1, TypeBF16: 32, TypeQ4_0: 2, TypeQ4_1: 3, TypeQ5_0: 8, TypeQ5_1: 9, TypeQ8_0: 7,
	TypeQ2_K: 10, TypeQ3_K: 12, TypeQ4_K: 15, TypeQ5_K: 17, TypeQ6_K: 18, TypeTQ1_0: 36, TypeTQ2_0: 37,
	TypeIQ2_XXS: 19, TypeIQ2_XS: 20, TypeIQ2_S: 28, TypeIQ3_XXS: 23, TypeIQ1_S: 24, TypeIQ1_M: 31,
	TypeIQ4_NL: 25, TypeIQ4_XS: 30, TypeIQ3_S: 26,
}

// FileTypeOf returns general.file_type, or, when the file has none, llama.cpp's
// guess from the most common tensor type (first to reach the maximum in
// llama.cpp's tensor order wins), with guessed set.
func FileTypeOf(f *File) (ft FileType, guessed bool) {
	if v, ok := f.Get("general.file_type"); ok {
		if n, ok := v.asInt(); ok && n >= 0 && n <= 1<<31 {
			return FileType(n), false
		}
	}
	names := make([]int, len(f.Tensors))
	for i := range names {
		names[i] = i
	}
	sort.SliceStable(names, func(a, b int) bool { return lessWeightName(f.Tensors[names[a]].Name, f.Tensors[names[b]].Name) })
	count := map[Type]int{}
	best, bestN := TypeF32, 0
	for _, i := range names {
		t := f.Tensors[i].Type
		count[t]++
		if count[t] > bestN {
			best, bestN = t, count[t]
		}
	}
	return guessTypes[best], true // unknown types guess ALL_F32, as llama.cpp
}

package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // the portable reference backend
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"dayi/engine/arch"
	_ "dayi/engine/backend" // registers dayi's own GoMLX backend as "dayi"
	"dayi/kernels"
	"dayi/weights"
)

// Options configure Load.
type Options struct {
	// Backend is a GoMLX backend config ("dayi", "go", "dayi:threads=2"…).
	// Empty: $GOMLX_BACKEND, else dayi's own backend when linked in, else "go".
	Backend string
	// Threads for the kernels (0 = all cores).
	Threads int
	// ContextLength caps the context (0 = the model's).
	ContextLength int
	// OverTrainedContext lets ContextLength exceed what the model was
	// trained for (Hyper.MaxContext), up to arch.MaxContextLength, as
	// llama.cpp does with a warning: positions past it rotate on, but the
	// model never learnt them. The benchmark harness sets it so dayi runs
	// llama-bench's -d 4096 on presets trained for 4096 tokens; a server
	// should not.
	OverTrainedContext bool
	// KVType is "f16" (default, as llama.cpp), "f32", or the block types
	// "q8_0" and "q4_0" (llama.cpp's quantized caches with its flash-attention
	// numerics; dayi's backend only, head size a multiple of 32: kvtype.go).
	KVType string
	// Buckets are the prefill graph sizes (tokens per prefill step).
	Buckets []int
	// NoRepack keeps quantized weights in their GGUF layout on dayi's
	// backend instead of repacking them into 16-row groups at load
	// (kernels.Repack; for A/B comparisons and debugging).
	NoRepack bool
	// NoWarmup leaves the step graphs to be built on first use instead of
	// at load (warmup.go; for A/B comparisons of the first prompt).
	NoWarmup bool
	// PrefixCacheBytes bounds the prefix cache (prefixcache.go): KV rows of
	// recent sequences that later requests starting with the same tokens
	// reuse. 0: DefaultPrefixCacheBytes; < 0: off.
	PrefixCacheBytes int64
	// NoCompactSWA sizes the caches of sliding-window layers for the whole
	// context like the others instead of window-sized (swa.go; for A/B
	// comparisons and tests).
	NoCompactSWA bool

	// swaRows, when > 0, replaces the compact sliding-window cache length
	// (swa.go) so tests can shift the cache often in a small context.
	swaRows int
	// rowChunk, when not 0, replaces ffnRowChunk (< 0: no chunks) for
	// tests.
	rowChunk int
}

// ffnRowChunk is the most rows of a step whose feed-forward block runs at
// once (arch.Ctx.Rows): a 512-row step of llama-1b held 2 × 16 MiB of gate
// and up activations, of Llama-3-8B 2 × 28 MiB. bench dayi-run, 2 threads,
// Intel dev VM, alternating, 512-token prompts: 256-row chunks cut peak
// RSS by 16-17 MiB on llama-1b (q4_k_m 756 -> 739 MiB) with prefill within
// the noise (q8_0 371-375 vs 365-372 tok/s); 128-row chunks cut 30 MiB but
// cost 3-5 % of prefill (q8_0 335-363 tok/s), as the weights are read once
// per chunk.
const ffnRowChunk = 256

// byteBufferer is implemented by backends that can wrap existing memory (the
// mmap'd GGUF tensors) as buffers without copying; dayi's backend does.
type byteBufferer interface {
	BufferFromBytes(data []byte, shape shapes.Shape) (backends.Buffer, error)
}

// Model is a loaded model, safe for concurrent sessions.
type Model struct {
	File    *weights.File
	Hyper   *arch.Hyper
	Ctx     int // context length in tokens
	arch    arch.Model
	backend backends.Backend
	// portable: weights dequantized to f32 on the host and multiplied with
	// DotGeneral, so any GoMLX backend (simplego, XLA) runs the model.
	portable bool
	kvDType  dtypes.DType
	kvQuant  kernels.KVQuant // q8_0/q4_0 cache (kvDType is then Uint8); 0: f16/f32
	buckets  []int
	prefix   *prefixCache // nil: off
	// loadThreads is how many goroutines copy and repack the weights at
	// load (Options.Threads, or every core).
	loadThreads int
	// swa is, per cache view (Hyper.Caches), the rows of a compact
	// sliding-window cache, 0 where the view's cache spans the context
	// (swa.go); swaStep is the most rows a step is planned to have.
	swa     []int
	swaStep int
	// rowChunk is arch.Ctx.RowChunk for the step graphs (ffnRowChunk).
	rowChunk int

	weightList []*arch.Weight
	weightBufs []backends.Buffer
	embd       *weights.TensorInfo
	embdDeq    func(dst []float32, src []byte)
	embdRow    int64
	// embdPriv is the private copy of a token embedding that is also the
	// output projection (its file pages were given back), embdR16 its row
	// reader when repacked, embdBuf that reader's row buffers: embed reads
	// the private copy so the file's pages stay out of resident memory.
	embdPriv []byte
	embdR16  func(dst, packed []byte, k, row int)
	embdBuf  sync.Pool // *[]byte of embdRow bytes
	// enc is set for encoders (bert): their input embeddings and classifier
	// head (encoder.go).
	enc *encoderParts

	// noWarmup (Options.NoWarmup) leaves every graph to its first use,
	// also the verification graphs SetSpeculation would build.
	noWarmup bool

	mu     sync.Mutex
	graphs map[graphKey]*stepGraph
	// execMu serialises graph executions: a compiled executable reuses its
	// planned intermediate buffers, and the kernels pool runs one op at a time.
	// Concurrent requests interleave step by step.
	execMu sync.Mutex
}

// BackendName reports the backend the model runs on and whether the portable
// (dequantize on host) path is used.
func (m *Model) BackendName() (string, bool) { return m.backend.Name(), m.portable }

func defaultBackend() string {
	if b := os.Getenv(backends.ConfigEnvVar); b != "" {
		return b
	}
	if backendRegistered("dayi") {
		return "dayi"
	}
	return "go"
}

func backendRegistered(name string) bool {
	for _, n := range backends.List() {
		if n == name {
			return true
		}
	}
	return false
}

// Load prepares f for execution. f stays owned by the caller and must outlive
// the Model.
func Load(f *weights.File, opt Options) (m *Model, err error) {
	a, h, err := arch.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	cfg := opt.Backend
	if cfg == "" {
		cfg = defaultBackend()
	}
	if opt.Threads > 0 && !strings.Contains(cfg, ":") && strings.HasPrefix(cfg, "dayi") {
		cfg = fmt.Sprintf("%s:threads=%d", cfg, opt.Threads)
	}
	be, err := newBackend(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", cfg, err)
	}
	m = &Model{File: f, Hyper: h, arch: a, backend: be, graphs: map[graphKey]*stepGraph{}, loadThreads: opt.Threads}
	if m.loadThreads <= 0 {
		m.loadThreads = runtime.GOMAXPROCS(0)
	}
	_, zeroCopy := be.(byteBufferer)
	m.portable = !zeroCopy
	m.Ctx = h.ContextLength
	if opt.ContextLength > 0 {
		if opt.ContextLength > h.MaxContext() && (!opt.OverTrainedContext || opt.ContextLength > arch.MaxContextLength) {
			return nil, fmt.Errorf("context length %d exceeds the model's %d", opt.ContextLength, h.MaxContext())
		}
		m.Ctx = opt.ContextLength
	}
	switch opt.KVType {
	case "", "f16":
		m.kvDType = dtypes.Float16
	case "f32":
		m.kvDType = dtypes.Float32
	case "q8_0", "q4_0":
		m.kvDType, m.kvQuant = dtypes.Uint8, kvQuantOf(opt.KVType)
		if err := checkKVQuant(m.kvQuant, h, m.portable, cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("KV cache type %q: want f16, f32, q8_0 or q4_0", opt.KVType)
	}
	if m.portable {
		m.kvDType = dtypes.Float32 // simplego's attention takes one dtype
	}
	m.buckets = bucketsOf(opt)
	switch {
	case opt.rowChunk < 0:
	case opt.rowChunk > 0:
		m.rowChunk = opt.rowChunk
	default:
		m.rowChunk = ffnRowChunk
	}
	m.swa, m.swaStep = compactSWA(h, m.Ctx, m.buckets, be.HasSharedBuffers(), opt)
	if need, avail := m.KVBytes(), memAvailable(); avail > 0 && need > avail*9/10 {
		return nil, fmt.Errorf("a KV cache for the context length %d needs %.1f GiB but %.1f GiB of memory is available; set a smaller context (--ctx)",
			m.Ctx, float64(need)/(1<<30), float64(avail)/(1<<30))
	}
	m.prefix = newPrefixCache(m, prefixBudget(opt, m.KVBytes()))
	if err := m.bindWeights(opt.NoRepack); err != nil {
		return nil, err
	}
	if err := m.bindEncoder(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	m.noWarmup = opt.NoWarmup
	if !opt.NoWarmup {
		if err := m.warmup(); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	return m, nil
}

// bucketsOf is the prefill graph sizes Options asks for, sorted.
func bucketsOf(opt Options) []int {
	b := slices.Clone(opt.Buckets)
	if len(b) == 0 {
		// 4: a prompt or chat-turn tail of a few tokens runs as 4 rows, not
		// 16 (issue 16: a 2-token prompt on an 8B ran at 2 tok/s); every
		// batched kernel path starts at 4 rows (kernels/plan.go). Powers
		// of two from 16 so that no prompt pads to more than twice its
		// rows and planSteps can split it instead (a 128-token prompt
		// padded to 256 ran at half speed); 512 is llama.cpp's default
		// ubatch. Graphs are built at load, their buffers on first use.
		b = []int{4, 16, 32, 64, 128, 256, 512}
	}
	sort.Ints(b)
	return b
}

// KVBytes is the size of one session's KV cache.
func (m *Model) KVBytes() int64 {
	var n int64
	for l := range m.Hyper.KVHeads {
		n += 2 * int64(m.kvRowBytes(l)) * int64(m.cacheRows(l))
	}
	return n
}

// memAvailable reads MemAvailable from /proc/meminfo (0 when unknown).
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

func newBackend(cfg string) (b backends.Backend, err error) {
	defer recoverErr(&err)
	return backends.NewWithConfig(cfg)
}

// recoverErr turns a GoMLX panic (its graph layer reports errors by panicking)
// into an error.
func recoverErr(err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(error); ok {
			*err = e
		} else {
			*err = fmt.Errorf("%v", r)
		}
	}
}

// bindWeights wraps every tensor as a backend buffer: raw GGUF blocks on
// dayi's backend (a private copy, quantized matrices repacked unless
// noRepack: privateWeights), dequantized f32 on portable backends.
func (m *Model) bindWeights(noRepack bool) error {
	m.weightList = arch.Weights(m.arch)
	m.weightBufs = make([]backends.Buffer, len(m.weightList))
	bb, _ := m.backend.(byteBufferer)
	var priv map[*weights.TensorInfo]privWeight
	if !m.portable {
		var err error
		if priv, err = m.privateWeights(noRepack); err != nil {
			return err
		}
	}
	for i, w := range m.weightList {
		info := w.Info
		data := m.File.TensorData(info)
		if p, ok := priv[info]; ok {
			data, w.Rows16 = p.data, p.rows16
		}
		var buf backends.Buffer
		var err error
		rows, cols := info.Rows()
		switch {
		case !m.portable && len(info.Dims) == 1 && info.Type == weights.TypeF32:
			buf, err = bb.BufferFromBytes(data, shapes.Make(dtypes.Float32, int(cols)))
		case !m.portable:
			buf, err = bb.BufferFromBytes(data, shapes.Make(dtypes.Uint8, int(rows), int(len(data))/int(rows)))
		default:
			tr, ok := info.Type.Traits()
			if !ok || tr.Dequantize == nil {
				return fmt.Errorf("tensor %q: type %s cannot be dequantized", info.Name, info.Type)
			}
			flat := make([]float32, rows*cols)
			tr.Dequantize(flat, data)
			shape := shapes.Make(dtypes.Float32, int(rows), int(cols))
			if len(info.Dims) == 1 {
				shape = shapes.Make(dtypes.Float32, int(cols))
			}
			buf, err = m.backend.BufferFromFlatData(0, flat, shape)
		}
		if err != nil {
			return fmt.Errorf("tensor %q: %w", info.Name, err)
		}
		m.weightBufs[i] = buf
	}
	emb := m.arch.TokenEmbedding()
	m.embd = emb.Info
	tr, ok := emb.Info.Type.Traits()
	if !ok || tr.Dequantize == nil {
		return fmt.Errorf("tensor %q: type %s cannot be dequantized", emb.Info.Name, emb.Info.Type)
	}
	m.embdDeq = tr.Dequantize
	rs, err := emb.Info.Type.RowSize(emb.Info.Dims[0])
	if err != nil {
		return fmt.Errorf("tensor %q: %w", emb.Info.Name, err)
	}
	m.embdRow = rs
	if p, ok := priv[emb.Info]; ok {
		m.embdPriv = p.data
		if p.rows16 {
			if m.embdR16, err = kernels.Rows16RowReader(emb.Info.Type); err != nil {
				return fmt.Errorf("tensor %q: %w", emb.Info.Name, err)
			}
		}
	}
	return nil
}

// privateWeights copies the tensors the step graph reads into one block of
// private anonymous memory (transparent huge pages where the system allows)
// and gives the file's pages of them back (weights.File.Release keeps them
// readable), so resident memory stays about one copy of the model.
// q4_0/q5_0/q8_0/q4_K/q6_K matrices are repacked on the way unless noRepack
// (kernels.Repack: 16 rows interleaved per block, what llama.cpp's CPU
// repack buffers do for q4_0 and q4_K; decode then reads one linear stream
// per 16 rows with a fraction of the instructions).
//
// Why a copy rather than running from the mapping: measured on 2-core VMs,
// decode from the mapped file was ~8 % slower than from anonymous memory
// (4 KiB pages: a TLB miss per page of a 1 GB sweep per token) and erratic
// when the kernel reclaimed mapped pages between tokens (proactive reclaim;
// llama.cpp's default mmap mode decoded 1.3-10x slower there). The copy is
// skipped, and the mapping used as before, when the weights would not fit
// comfortably in available memory: a mapping can still run a model larger
// than RAM (slowly), a private copy could not. The token embedding stays in
// the file unless the output projection shares it (one row per token is
// read outside the graph). The block is freed when the Model is garbage.
func (m *Model) privateWeights(noRepack bool) (map[*weights.TensorInfo]privWeight, error) {
	emb := m.arch.TokenEmbedding().Info
	_, out := m.arch.OutputWeights()
	type item struct {
		info   *weights.TensorInfo
		off    int
		rows16 bool
	}
	var todo []item
	seen := map[*weights.TensorInfo]bool{}
	total := 0
	for _, w := range m.weightList {
		info := w.Info
		if seen[info] || (info == emb && (out == nil || out.Info != emb)) {
			continue
		}
		seen[info] = true
		rows, cols := info.Rows()
		it := item{info: info, off: total}
		it.rows16 = !noRepack && len(info.Dims) == 2 && kernels.CanRepack(info.Type, int(rows), int(cols))
		todo = append(todo, it)
		total += (int(info.Size) + 63) &^ 63 // cache-line aligned
	}
	if total == 0 {
		return nil, nil
	}
	if avail := memAvailable(); avail > 0 && int64(total) > avail*4/5 {
		slog.Info("weights: larger than 80 % of available memory, running them from the mapped file",
			"file", m.File.Path, "weights_bytes", total, "available_bytes", avail)
		return nil, nil
	}
	mem, free, err := weights.AllocAnon(total)
	if err != nil {
		return nil, fmt.Errorf("%s: allocate %d bytes for the weights: %w", m.File.Path, total, err)
	}
	if m.File.Mlocked() {
		// --mlock pins the weights; the private copy is what is read now.
		unlock, err := weights.LockMemory(mem)
		if err != nil {
			free()
			return nil, fmt.Errorf("%s: mlock %d bytes of weights (raise RLIMIT_MEMLOCK, e.g. ulimit -l unlimited): %w", m.File.Path, total, err)
		}
		inner := free
		free = func() { unlock(); inner() }
	}
	runtime.AddCleanup(m, func(free func()) { free() }, free)
	res := make(map[*weights.TensorInfo]privWeight, len(todo))
	for _, it := range todo {
		info := it.info
		dst := mem[it.off : it.off+int(info.Size) : it.off+int(info.Size)]
		src := m.File.TensorData(info)
		// In chunks (weightChunkBytes), each released right after it is
		// copied, so that resident memory peaks at one copy of the model
		// plus a chunk (a 300 MB tied embedding copied whole would add its
		// size).
		rows, cols := info.Rows()
		if rows <= 0 || len(src) == 0 {
			res[info] = privWeight{data: dst}
			continue
		}
		rb := len(src) / int(rows)
		step := max(16, weightChunkBytes/max(rb, 1)/16*16) // rows per chunk, whole 16-row groups
		for r0 := 0; r0 < int(rows); r0 += step {
			r1 := min(r0+step, int(rows))
			a, b := r0*rb, r1*rb
			err := splitRows(r0, r1, m.loadThreads, func(lo, hi int) error {
				a, b := lo*rb, hi*rb
				if it.rows16 {
					return kernels.Repack(dst[a:b], src[a:b], info.Type, hi-lo, int(cols))
				}
				copy(dst[a:b], src[a:b])
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
			}
			// From a page before the chunk, so that the page it shares with
			// the previous chunk is released too.
			back := int64(min(a, os.Getpagesize()))
			if err := m.File.ReleaseRange(info, int64(a)-back, int64(b-a)+back); err != nil {
				slog.Debug("weights: original pages kept resident", "tensor", info.Name, "err", err)
				break
			}
		}
		res[info] = privWeight{data: dst, rows16: it.rows16}
	}
	return res, nil
}

// splitRows runs f over [r0, r1) in up to par parts of whole 16-row groups
// (Repack's unit), concurrently, and returns their errors joined. A load copies
// and repacks gigabytes: one goroutine left the other cores idle while
// the copy, the repack's shuffles and the first touches of the private
// pages took 3.6 s for a Llama-3-8B Q4_K_M file on a 2-core VM.
func splitRows(r0, r1, par int, f func(lo, hi int) error) error {
	groups := (r1 - r0 + 15) / 16
	par = max(1, min(par, groups))
	if par == 1 {
		return f(r0, r1)
	}
	errs := make([]error, par)
	var wg sync.WaitGroup
	for p := 0; p < par; p++ {
		lo := r0 + 16*(groups*p/par)
		hi := min(r1, r0+16*(groups*(p+1)/par))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = f(lo, hi)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// weightChunkBytes is how much privateWeights copies before giving the
// source pages back: the peak of resident memory during a load is one copy
// of the model plus this. It was 32 MiB, a tenth of a 0.5B model's file
// (the bound on peak RSS is 1.1 × file + KV); 8 MiB costs one
// madvise (mmap mode) or one file mapping (--no-mmap) per 8 MiB, ~1000 for
// an 8 GB model.
const weightChunkBytes = 8 << 20

// privWeight is a tensor's private copy (privateWeights).
type privWeight struct {
	data   []byte
	rows16 bool // in kernels.LayoutRows16
}

// embed writes token id's embedding row into dst.
func (m *Model) embed(id int32, dst []float32) error {
	if id < 0 || int(id) >= m.Hyper.Vocab {
		return fmt.Errorf("token id %d outside the vocabulary (%d)", id, m.Hyper.Vocab)
	}
	data := m.embdPriv
	if data == nil {
		data = m.File.TensorData(m.embd)
	}
	if m.embdR16 == nil {
		m.embdDeq(dst, data[int64(id)*m.embdRow:int64(id+1)*m.embdRow])
		return nil
	}
	bp, _ := m.embdBuf.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, m.embdRow)
		bp = &b
	}
	m.embdR16(*bp, data, int(m.embd.Dims[0]), int(id))
	m.embdDeq(dst, *bp)
	m.embdBuf.Put(bp)
	return nil
}

// stepGraph is one compiled fixed-shape forward step.
type stepGraph struct {
	g *graph.Graph
	T int
	// parameter layout: inputs first, then 2×layers caches, then weights.
	nInputs int
}

// graphKey names a compiled step: T rows, and whether it returns the logits
// of the last row (generation) or the normalised hidden states of every row
// (embeddings).
type graphKey struct {
	T      int  // rows per sequence
	B      int  // sequences (batched decode); 0 means 1
	hidden bool // return normalised hidden states instead of last-row logits
	// all returns the logits of every row ([T, vocab]): a speculative
	// verification step judges each proposed token (speculative.go).
	all bool
	// embd: the rows are caller-given embeddings (an image's soft tokens,
	// image.go), not token-table rows (arch.Ctx.Embeddings).
	embd bool
}

func (k graphKey) seqs() int { return max(k.B, 1) }

// graphFor returns the compiled step graph, building it once.
func (m *Model) graphFor(k graphKey) (*stepGraph, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sg, ok := m.graphs[k]; ok {
		return sg, nil
	}
	sg, err := m.build(k)
	if err != nil {
		return nil, err
	}
	m.graphs[k] = sg
	return sg, nil
}

func (m *Model) build(key graphKey) (sg *stepGraph, err error) {
	defer recoverErr(&err)
	h := m.Hyper
	B := key.seqs()
	rows := key.T * B
	name := fmt.Sprintf("%s_step%dx%d", h.Arch, B, key.T)
	if key.embd {
		name += "_embd"
	}
	g := graph.NewGraph(m.backend, name)
	f32 := dtypes.Float32
	c := &arch.Ctx{G: g, H: h, Seqs: make([]arch.Seq, B), Embeddings: key.embd}
	c.RowChunk = m.rowChunk
	// Parameter order (Session.run builds inputs in the same order): x, then
	// cos and sin of every rope the architecture declares (Hyper.Ropes), last,
	// then per sequence a cache row and a mask per cache view (Hyper.Caches),
	// each view with its own cache length (viewRows); then
	// caches K (layer-major) and V; then the weights.
	c.X = graph.Parameter(g, "x", shapes.Make(f32, rows, h.Dim))
	c.Cos = make([]*arch.Node, len(h.Ropes))
	c.Sin = make([]*arch.Node, len(h.Ropes))
	for r := range h.Ropes {
		c.Cos[r] = graph.Parameter(g, fmt.Sprintf("cos%d", r), shapes.Make(f32, rows, h.RopeDim/2))
		c.Sin[r] = graph.Parameter(g, fmt.Sprintf("sin%d", r), shapes.Make(f32, rows, h.RopeDim/2))
	}
	last := graph.Parameter(g, "last", shapes.Make(dtypes.Int32, 1, 1))
	for b := range c.Seqs {
		sq := &c.Seqs[b]
		sq.Rows = key.T
		sq.CachePos = make([]*arch.Node, len(h.Caches))
		for v := range h.Caches {
			sq.CachePos[v] = graph.Parameter(g, fmt.Sprintf("pos%d_%d", b, v), shapes.Make(dtypes.Int32))
		}
		sq.Masks = make([]*arch.Node, len(h.Caches))
		for v := range h.Caches {
			sq.Masks[v] = graph.Parameter(g, fmt.Sprintf("mask%d_%d", b, v), shapes.Make(dtypes.Bool, key.T, m.viewRows(v)))
		}
	}
	nInputs := g.NumParameters()
	L := h.Layers
	c.KCache = make([][]*arch.Node, L)
	c.VCache = make([][]*arch.Node, L)
	for _, cache := range []struct {
		name string
		dst  [][]*arch.Node
	}{{"k", c.KCache}, {"v", c.VCache}} {
		for l := 0; l < L; l++ {
			cache.dst[l] = make([]*arch.Node, B)
			for b := 0; b < B; b++ {
				cache.dst[l][b] = graph.Parameter(g, fmt.Sprintf("%s%d_%d", cache.name, l, b), m.kvShape(l, m.cacheRows(l)))
			}
		}
	}
	for i, w := range m.weightList {
		shape, err := m.backend.BufferShape(m.weightBufs[i])
		if err != nil {
			return nil, err
		}
		w.Node = graph.Parameter(g, w.Info.Name, shape)
	}
	c.DynamicUpdate = m.backend.Capabilities().Operations[backends.OpTypeDynamicUpdateSlice]

	hidden := m.arch.Forward(c)
	var result *arch.Node
	switch {
	case key.hidden:
		result = arch.Normed(c, m.arch, hidden) // [rows, dim]
	case B > 1, key.all:
		result = arch.Logits(c, m.arch, hidden) // [B·T, vocab]: one row per sequence (decode) or per row (all)
	default:
		hidden = graph.Gather(hidden, last) // [1, dim]: the row whose logits we need
		result = arch.Logits(c, m.arch, hidden)
	}
	outputs := []*arch.Node{result}
	for _, cache := range [][][]*arch.Node{c.KCache, c.VCache} {
		for l := 0; l < L; l++ {
			outputs = append(outputs, cache[l]...)
		}
	}
	g.Compile(outputs...)
	return &stepGraph{g: g, T: key.T, nInputs: nInputs}, nil
}

// ErrContextFull is returned when a step would run past the context length.
var ErrContextFull = errors.New("context full")

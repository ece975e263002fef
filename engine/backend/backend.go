// Package backend is dayi's own GoMLX backend: a CPU executor that compiles a
// GoMLX graph into a flat list of steps with precomputed shapes and statically
// planned intermediate buffers, so that a decoder step costs tens of
// nanoseconds of framework time per node and allocates (almost) nothing.
//
// GGUF quantized matmuls reach it through FusedQuantizedDense with the
// scheme GGUFScheme(t) (raw GGUF row blocks as a Uint8 [N, rowBytes] tensor),
// and attention through FusedScaledDotProductAttention. Weights may be wrapped
// zero-copy from mmap'd GGUF data with (*Backend).BufferFromBytes.
//
// It registers itself as "dayi": create it with
// backends.NewWithConfig("dayi") or backends.NewWithConfig("dayi:threads=2").
package backend

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"dayi/kernels"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Name is the name the backend is registered under.
const Name = "dayi"

func init() {
	// Registration is the one sanctioned global: GoMLX finds backends by name.
	backends.Register(Name, New)
}

// Backend implements backends.Backend for the CPU.
type Backend struct {
	threads   int
	kern      *kernels.Pool
	bufs      bufferPool
	arenas    arenaPool // step arenas shared by the executables (arena.go)
	finalized atomic.Bool
	runs      atomic.Uint64 // executions started, numbering them (state.exec)
}

var _ backends.Backend = (*Backend)(nil)

// New creates a backend from a config string of comma-separated options:
// "threads=N" (default: runtime.NumCPU()).
func New(config string) (backends.Backend, error) {
	return NewBackend(config)
}

// NewBackend is New returning the concrete type, for callers that need
// BufferFromBytes without a type assertion.
func NewBackend(config string) (*Backend, error) {
	b := &Backend{threads: runtime.NumCPU()}
	for _, opt := range strings.Split(config, ",") {
		opt = strings.TrimSpace(opt)
		if opt == "" {
			continue
		}
		key, val, _ := strings.Cut(opt, "=")
		switch key {
		case "threads":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("backend %s: option %q: threads must be a positive integer", Name, opt)
			}
			b.threads = n
		default:
			return nil, fmt.Errorf("backend %s: unknown option %q (known: threads=N)", Name, opt)
		}
	}
	b.kern = kernels.NewPool(b.threads)
	b.bufs.m = make(map[poolKey][]*Buffer)
	return b, nil
}

// Threads is the number of threads kernels use.
func (b *Backend) Threads() int { return b.threads }

// Name implements backends.Backend.
func (b *Backend) Name() string { return Name }

// String implements backends.Backend.
func (b *Backend) String() string { return Name }

// Description implements backends.Backend.
func (b *Backend) Description() string {
	return fmt.Sprintf("dayi CPU backend (%d threads)", b.threads)
}

// NumDevices implements backends.Backend: one CPU device.
func (b *Backend) NumDevices() int { return 1 }

// DeviceDescription implements backends.Backend.
func (b *Backend) DeviceDescription(deviceNum backends.DeviceNum) string {
	return fmt.Sprintf("cpu:%d", deviceNum)
}

// Builder implements backends.Backend.
func (b *Backend) Builder(name string) backends.Builder {
	return newBuilder(b, name)
}

// Finalize implements backends.Backend.
func (b *Backend) Finalize() {
	if b.finalized.Swap(true) {
		return
	}
	b.kern.Close()
	b.bufs.mu.Lock()
	clear(b.bufs.m)
	b.bufs.mu.Unlock()
	b.arenas.mu.Lock()
	b.arenas.free = nil
	b.arenas.mu.Unlock()
}

// ReserveArena faults in, now, the step arena of the largest executable
// compiled so far (see arenaPool): engine.Load calls it after building its
// step graphs, so the first prompt runs at the speed of the later ones.
func (b *Backend) ReserveArena() { b.arenas.reserve() }

// IsFinalized implements backends.Backend.
func (b *Backend) IsFinalized() bool { return b.finalized.Load() }

// Capabilities lists exactly the ops and dtypes this backend implements.
func (b *Backend) Capabilities() backends.Capabilities {
	ops := make(map[backends.OpType]bool, len(implementedOps))
	for _, op := range implementedOps {
		ops[op] = true
	}
	dt := make(map[dtypes.DType]bool)
	for _, d := range supportedDTypes {
		dt[d] = true
	}
	return backends.Capabilities{Operations: ops, DTypes: dt}
}

// supportedDTypes are the dtypes buffers can hold; arithmetic support per op
// is narrower (see each op).
var supportedDTypes = []dtypes.DType{
	dtypes.Bool, dtypes.Int8, dtypes.Int16, dtypes.Int32, dtypes.Int64,
	dtypes.Uint8, dtypes.Uint16, dtypes.Uint32, dtypes.Uint64,
	dtypes.Float16, dtypes.BFloat16, dtypes.Float32, dtypes.Float64,
}

func dtypeSupported(d dtypes.DType) bool {
	for _, s := range supportedDTypes {
		if s == d {
			return true
		}
	}
	return false
}

// checkShape rejects shapes the backend cannot hold.
func checkShape(s shapes.Shape) error {
	if s.IsTuple() || !dtypeSupported(s.DType) {
		return fmt.Errorf("backend %s: unsupported shape %s: %w", Name, s, backends.ErrNotImplemented)
	}
	for _, d := range s.Dimensions {
		if d < 0 {
			return fmt.Errorf("backend %s: negative dimension in shape %s", Name, s)
		}
	}
	return nil
}

// poolKey identifies interchangeable buffers: same dtype, same element count.
type poolKey struct {
	dtype dtypes.DType
	size  int
}

// bufferPool recycles output buffers that callers finalize, so that a steady
// decode loop reuses the same memory.
type bufferPool struct {
	mu sync.Mutex
	m  map[poolKey][]*Buffer
}

// maxPooledPerKey bounds the memory a pool keeps per shape size.
const maxPooledPerKey = 8

// getBuffer returns an owned buffer of shape s (contents undefined).
func (b *Backend) getBuffer(s shapes.Shape) *Buffer {
	if buf := b.pooled(s); buf != nil {
		return buf
	}
	return newBuffer(s)
}

// pooled returns a pooled owned buffer of shape s (contents undefined), or
// nil.
func (b *Backend) pooled(s shapes.Shape) *Buffer {
	key := poolKey{s.DType, s.Size()}
	b.bufs.mu.Lock()
	defer b.bufs.mu.Unlock()
	list := b.bufs.m[key]
	n := len(list)
	if n == 0 {
		return nil
	}
	buf := list[n-1]
	list[n-1] = nil
	b.bufs.m[key] = list[:n-1]
	buf.shape = s
	buf.valid = true
	return buf
}

// NewZeroedBuffer returns an owned buffer of shape s holding zeros, for
// state that steps update in place (a session's KV cache). Unlike
// BufferFromFlatData it copies nothing: a KV cache made as a zeroed Go
// slice and copied in was garbage of the cache's size at every new session
// (a 4 GiB transient for an 8B model at a 32k context), and the copy
// committed every page at once, where a fresh buffer's pages are only
// backed by memory as positions are written.
func (b *Backend) NewZeroedBuffer(s shapes.Shape) (backends.Buffer, error) {
	if err := checkShape(s); err != nil {
		return nil, err
	}
	if buf := b.pooled(s); buf != nil {
		clear(buf.raw)
		return buf, nil
	}
	return newBuffer(s), nil
}

// putBuffer returns an owned buffer to the pool; others are dropped.
func (b *Backend) putBuffer(buf *Buffer) {
	if !buf.owned || buf.shared {
		buf.valid = false
		return
	}
	buf.valid = false
	key := poolKey{buf.shape.DType, buf.shape.Size()}
	b.bufs.mu.Lock()
	if list := b.bufs.m[key]; len(list) < maxPooledPerKey {
		b.bufs.m[key] = append(list, buf)
	}
	b.bufs.mu.Unlock()
}

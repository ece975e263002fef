package backend_test

import (
	"testing"

	"dayi/engine/backend"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// BenchmarkNodeOverhead runs a chain of 500 elementwise ops on [1,8] through
// the raw Executable: the time per op is the framework's per-node cost.
// Compare with -bench on "go" (simplego) via the reference sub-benchmark.
func BenchmarkNodeOverhead(b *testing.B) {
	for _, cfg := range []string{"dayi:threads=1", "go"} {
		b.Run(cfg, func(b *testing.B) {
			be, err := backends.NewWithConfig(cfg)
			if err != nil {
				b.Fatal(err)
			}
			const nodes = 500
			bl := be.Builder("overhead")
			f := bl.Main()
			s := shapes.Make(dtypes.Float32, 1, 8)
			x, _ := f.Parameter("x", s, nil)
			y := x
			for i := 0; i < nodes; i++ {
				switch i % 3 {
				case 0:
					y, err = f.Add(y, x)
				case 1:
					y, err = f.Mul(y, x)
				default:
					y, err = f.Sub(y, x)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Return([]backends.Value{y}, nil); err != nil {
				b.Fatal(err)
			}
			exe, err := bl.Compile()
			if err != nil {
				b.Fatal(err)
			}
			in, _ := be.BufferFromFlatData(0, make([]float32, 8), s)
			inputs := []backends.Buffer{in}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				outs, err := exe.Execute(inputs, nil, 0)
				if err != nil {
					b.Fatal(err)
				}
				_ = be.BufferFinalize(outs[0])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nodes, "ns/node")
		})
	}
}

// BenchmarkCacheRowUpdate updates one 4 KiB row of a donated 16 MiB cache.
func BenchmarkCacheRowUpdate(b *testing.B) {
	be, err := backend.NewBackend("threads=1")
	if err != nil {
		b.Fatal(err)
	}
	const S, W = 4096, 1024 // 16 MiB of float32
	bl := be.Builder("cache")
	f := bl.Main()
	cache, _ := f.Parameter("cache", shapes.Make(dtypes.Float32, S, W), nil)
	row, _ := f.Parameter("row", shapes.Make(dtypes.Float32, 1, W), nil)
	pos, _ := f.Parameter("pos", shapes.Make(dtypes.Int32), nil)
	zero, _ := f.Constant([]int32{0})
	y, err := f.DynamicUpdateSlice(cache, row, []backends.Value{pos, zero})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Return([]backends.Value{y}, nil); err != nil {
		b.Fatal(err)
	}
	exe, err := bl.Compile()
	if err != nil {
		b.Fatal(err)
	}
	c, _ := be.BufferFromFlatData(0, make([]float32, S*W), shapes.Make(dtypes.Float32, S, W))
	r, _ := be.BufferFromFlatData(0, make([]float32, W), shapes.Make(dtypes.Float32, 1, W))
	p, _ := be.BufferFromFlatData(0, []int32{7}, shapes.Make(dtypes.Int32))
	inputs := []backends.Buffer{c, r, p}
	donate := []bool{true, false, false}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		outs, err := exe.Execute(inputs, donate, 0)
		if err != nil {
			b.Fatal(err)
		}
		if outs[0] != inputs[0] {
			b.Fatal("cache not updated in place")
		}
	}
}

package cuda

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"dayi/engine/backend/cuda/kern"
)

func TestOpenErrors(t *testing.T) {
	f := newFake(t)
	f.version = 10020
	_, err := open(f.api(), 0)
	var old *DriverTooOldError
	if !errors.As(err, &old) || !strings.Contains(err.Error(), "supports CUDA 10.2") || !strings.Contains(err.Error(), "need CUDA 11.0") {
		t.Errorf("old driver: %v", err)
	}
	f = newFake(t)
	f.cc = [2]int32{5, 2}
	_, err = open(f.api(), 0)
	var cc *ComputeCapabilityError
	if !errors.As(err, &cc) || !strings.Contains(err.Error(), "compute capability 5.2") || !strings.Contains(err.Error(), "need 6.1") {
		t.Errorf("old GPU: %v", err)
	}
	f = newFake(t)
	f.devices = 0
	if _, err = open(f.api(), 0); !errors.Is(err, ErrNoDevice) {
		t.Errorf("no device: %v", err)
	}
	f = newFake(t)
	if _, err = open(f.api(), 3); err == nil || !strings.Contains(err.Error(), "device 3") {
		t.Errorf("ordinal 3 of 1: %v", err)
	}
}

func TestOutOfMemoryNamesSizes(t *testing.T) {
	f := newFake(t)
	f.capacity = 64 << 20
	d, err := open(f.api(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Alloc(40<<20, "weights"); err != nil {
		t.Fatal(err)
	}
	_, err = d.Alloc(30<<20, "KV cache")
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) {
		t.Fatalf("err = %v", err)
	}
	if want := "out of device memory for KV cache: needs 30.0 MiB, 24.0 MiB free of 64.0 MiB"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to say %q", err, want)
	}
}

// Launch passes u32 and f32 parameters in four-byte slots and pointers in
// eight: rms_norm through the fake driver equals the reference.
func TestDeviceLaunchMarshalsArguments(t *testing.T) {
	f := newFake(t)
	d, err := open(f.api(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.Info().String(); !strings.Contains(got, "Fake GPU") || !strings.Contains(got, "compute 9.0") {
		t.Errorf("info %q", got)
	}
	n := 40
	x, w := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], w[i] = float32(i)-17.5, 1+float32(i)/10
	}
	xa, _ := d.Alloc(4*n, "x")
	wa, _ := d.Alloc(4*n, "w")
	ya, _ := d.Alloc(4*n, "y")
	if err := d.Write(xa, f32bytes(x)); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(wa, f32bytes(w)); err != nil {
		t.Fatal(err)
	}
	if err := kern.RMSNorm(d, xa, wa, ya, 1, n, 1e-5); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 4*n)
	if err := d.Read(ya, out); err != nil {
		t.Fatal(err)
	}
	want := kern.RefRMSNorm(x, w, n, 1e-5)
	for i := range want {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:])); math.Abs(float64(got)-want[i]) > 1e-5 {
			t.Fatalf("y[%d] = %g, want %g", i, got, want[i])
		}
	}
	if err := d.Launch("rms_norm", 1, 32, 1); err == nil {
		t.Error("wrong argument count accepted")
	}
}

// The default build has no driver loader and says how to get one; a cuda
// build on a machine without the driver says to install it; with a GPU,
// Open succeeds.
func TestOpenWithoutGPU(t *testing.T) {
	d, err := Open(0)
	if err == nil {
		t.Logf("a GPU is present: %s", d.Info())
		d.Close()
		return
	}
	switch {
	case errors.Is(err, ErrNotBuilt):
		if !strings.Contains(err.Error(), "-tags cuda") {
			t.Errorf("not-built error does not say how to build: %v", err)
		}
	case errors.Is(err, ErrNoDriver):
		if !strings.Contains(err.Error(), "libcuda.so.1 not found: install the NVIDIA driver") {
			t.Errorf("no-driver error: %v", err)
		}
	default:
		t.Logf("no usable GPU: %v", err)
	}
	t.Logf("as expected without a GPU: %v", err)
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

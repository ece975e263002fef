package cuda

import (
	"fmt"

	"dayi/engine/backend/cuda/kern"
)

// Emulated is a Backend that runs the kernels in the PTX emulator on the
// CPU: thousands of times slower than the GPU, for tests of the GPU path
// (dayi run --gpu-emulate) on machines without one.
type Emulated struct{ e *kern.Emu }

// NewEmulated compiles the kernels for the emulator.
func NewEmulated() (*Emulated, error) {
	e, err := kern.NewEmu()
	if err != nil {
		return nil, err
	}
	return &Emulated{e: e}, nil
}

// Launch implements kern.Launcher.
func (m *Emulated) Launch(name string, grid, block uint32, args ...uint64) error {
	return m.e.Launch(name, grid, block, args...)
}

// Alloc implements Backend.
func (m *Emulated) Alloc(n int, what string) (uint64, error) {
	if n < 0 {
		return 0, fmt.Errorf("cuda emulator: %d bytes for %s", n, what)
	}
	return m.e.Mem.Alloc(max(n, 1)), nil
}

// Write implements Backend.
func (m *Emulated) Write(p uint64, b []byte) error {
	dst, err := m.e.Mem.Slice(p, len(b))
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// Read implements Backend.
func (m *Emulated) Read(p uint64, b []byte) error {
	src, err := m.e.Mem.Slice(p, len(b))
	if err != nil {
		return err
	}
	copy(b, src)
	return nil
}

// MemInfo implements Backend: the emulator has no memory limit of its own.
func (m *Emulated) MemInfo() (free, total uint64, err error) { return 1 << 40, 1 << 40, nil }

// Info describes the emulator as a device.
func (m *Emulated) Info() Info { return Info{Name: "PTX emulator (CPU)", ComputeCap: kern.MinCC} }

package kern

import (
	"fmt"
	"math"

	"dayi/engine/backend/cuda/ptx"
)

func f32bits(f float32) uint64 { return uint64(math.Float32bits(f)) }

// Emu runs Module's kernels in the ptx emulator: a CPU stand-in for the GPU
// so that the kernels and the decode driver are tested on every machine.
type Emu struct {
	Mem   ptx.Memory
	progs map[string]*ptx.Program
	sigs  map[string][]ptx.Param
	// Launches counts kernel launches (tests check a step's count).
	Launches int
}

// NewEmu compiles every kernel of Module.
func NewEmu() (*Emu, error) {
	e := &Emu{progs: map[string]*ptx.Program{}, sigs: map[string][]ptx.Param{}}
	for _, k := range Module().Kernels {
		p, err := ptx.Compile(k)
		if err != nil {
			return nil, err
		}
		e.progs[k.Name] = p
		e.sigs[k.Name] = k.Params
	}
	return e, nil
}

// Launch implements Launcher.
func (e *Emu) Launch(name string, grid, block uint32, args ...uint64) error {
	p, ok := e.progs[name]
	if !ok {
		return fmt.Errorf("cuda emulator: no kernel %q", name)
	}
	params := e.sigs[name]
	if len(args) != len(params) {
		return fmt.Errorf("cuda emulator: %s takes %d arguments, got %d", name, len(params), len(args))
	}
	named := make(map[string]uint64, len(args))
	for i, pa := range params {
		named[pa.Name] = args[i]
	}
	e.Launches++
	return p.Launch(&e.Mem, grid, block, named)
}

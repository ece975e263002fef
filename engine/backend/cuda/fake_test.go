package cuda

import (
	"testing"
	"unsafe"

	"dayi/engine/backend/cuda/kern"
	"dayi/engine/backend/cuda/ptx"
)

// fakeDriver is a CUDA driver made of the ptx emulator: memory calls go to
// emulator memory and cuLaunchKernel runs the kernel there, reading each
// parameter from its slot as the real driver does (four bytes for u32 and
// f32). It lets Device's own code (argument marshalling, errors, copies)
// run in tests on machines without a GPU.
type fakeDriver struct {
	t        *testing.T
	version  int32
	cc       [2]int32
	devices  int32
	capacity uint64
	used     map[uint64]uint64
	mem      ptx.Memory
	progs    []*ptx.Program
	params   [][]ptx.Param
	launches int
}

func newFake(t *testing.T) *fakeDriver {
	return &fakeDriver{t: t, version: 12040, cc: [2]int32{9, 0}, devices: 1, capacity: 1 << 30, used: map[uint64]uint64{}}
}

func (f *fakeDriver) inUse() (n uint64) {
	for _, v := range f.used {
		n += v
	}
	return n
}

func cstr(s string, buf *byte, n int32) {
	b := unsafe.Slice(buf, n)
	copy(b, s)
	b[len(s)] = 0
}

func (f *fakeDriver) api() *driverAPI {
	name := append([]byte("CUDA_ERROR_FAKE"), 0)
	return &driverAPI{
		Init:             func(uint32) int32 { return 0 },
		DriverGetVersion: func(v *int32) int32 { *v = f.version; return 0 },
		DeviceGetCount:   func(n *int32) int32 { *n = f.devices; return 0 },
		DeviceGet:        func(d *int32, o int32) int32 { *d = o; return 0 },
		DeviceGetName:    func(b *byte, n int32, _ int32) int32 { cstr("Fake GPU (ptx emulator)", b, n); return 0 },
		DeviceGetAttribute: func(v *int32, attr int32, _ int32) int32 {
			switch attr {
			case attrComputeCapMajor:
				*v = f.cc[0]
			case attrComputeCapMinor:
				*v = f.cc[1]
			default:
				*v = 4
			}
			return 0
		},
		DeviceTotalMem:    func(b *uint64, _ int32) int32 { *b = f.capacity; return 0 },
		PrimaryCtxRetain:  func(c *uintptr, _ int32) int32 { *c = 1; return 0 },
		PrimaryCtxRelease: func(int32) int32 { return 0 },
		CtxSetCurrent:     func(c uintptr) int32 { return 0 },
		MemGetInfo: func(free, total *uint64) int32 {
			*free, *total = f.capacity-f.inUse(), f.capacity
			return 0
		},
		MemAlloc: func(p *uint64, n uint64) int32 {
			if f.inUse()+n > f.capacity {
				return errOutOfMemory
			}
			*p = f.mem.Alloc(int(n))
			f.used[*p] = n
			return 0
		},
		MemFree: func(p uint64) int32 {
			delete(f.used, p)
			if f.mem.Free(p) != nil {
				return 1
			}
			return 0
		},
		MemcpyHtoDAsync: func(dst uint64, src unsafe.Pointer, n uint64, _ uintptr) int32 {
			b, err := f.mem.Slice(dst, int(n))
			if err != nil {
				f.t.Error(err)
				return 700
			}
			copy(b, unsafe.Slice((*byte)(src), n))
			return 0
		},
		MemcpyDtoHAsync: func(dst unsafe.Pointer, src uint64, n uint64, _ uintptr) int32 {
			b, err := f.mem.Slice(src, int(n))
			if err != nil {
				f.t.Error(err)
				return 700
			}
			copy(unsafe.Slice((*byte)(dst), n), b)
			return 0
		},
		ModuleLoadData: func(mod *uintptr, image *byte) int32 {
			if cStringN(image, 1<<24) != kernelsPTX {
				f.t.Error("module image is not the embedded PTX")
				return 218 // CUDA_ERROR_INVALID_PTX
			}
			for _, k := range kern.Module().Kernels {
				p, err := ptx.Compile(k)
				if err != nil {
					f.t.Error(err)
					return 218
				}
				f.progs = append(f.progs, p)
				f.params = append(f.params, k.Params)
			}
			*mod = 1
			return 0
		},
		ModuleUnload: func(uintptr) int32 { return 0 },
		ModuleGetFunction: func(fn *uintptr, _ uintptr, name *byte) int32 {
			for i, k := range kern.Module().Kernels {
				if k.Name == cString(name) {
					*fn = uintptr(i + 1)
					return 0
				}
			}
			return 500 // CUDA_ERROR_NOT_FOUND
		},
		LaunchKernel: func(fn uintptr, gx, gy, gz, bx, by, bz, shmem uint32, _ uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) int32 {
			if gy != 1 || gz != 1 || by != 1 || bz != 1 || shmem != 0 || extra != nil {
				f.t.Errorf("launch with grid %d×%d×%d block %d×%d×%d shmem %d", gx, gy, gz, bx, by, bz, shmem)
			}
			ps := f.params[fn-1]
			slots := unsafe.Slice(params, len(ps))
			named := map[string]uint64{}
			for i, p := range ps {
				if p.Type == ptx.PU64 {
					named[p.Name] = *(*uint64)(slots[i])
				} else {
					named[p.Name] = uint64(*(*uint32)(slots[i]))
				}
			}
			f.launches++
			if err := f.progs[fn-1].Launch(&f.mem, gx, bx, named); err != nil {
				f.t.Error(err)
				return 700 // CUDA_ERROR_ILLEGAL_ADDRESS
			}
			return 0
		},
		StreamCreate:      func(s *uintptr, _ uint32) int32 { *s = 1; return 0 },
		StreamSynchronize: func(uintptr) int32 { return 0 },
		StreamDestroy:     func(uintptr) int32 { return 0 },
		GetErrorName:      func(_ int32, s **byte) int32 { *s = &name[0]; return 0 },
		GetErrorString:    func(_ int32, s **byte) int32 { *s = &name[0]; return 0 },
	}
}

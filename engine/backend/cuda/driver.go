package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"dayi/engine/backend/cuda/kern"
	"dayi/engine/backend/cuda/ptx"
)

// driverAPI is the part of the CUDA driver API dayi calls. Its fields are
// filled from libcuda.so.1 by loadDriver (purego, driver_purego.go) or, in
// tests, by a fake, so everything above the raw calls is tested without a
// GPU. Every function returns a CUresult (0 is CUDA_SUCCESS).
type driverAPI struct {
	Init               func(flags uint32) int32
	DriverGetVersion   func(v *int32) int32
	DeviceGetCount     func(n *int32) int32
	DeviceGet          func(dev *int32, ordinal int32) int32
	DeviceGetName      func(name *byte, n int32, dev int32) int32
	DeviceGetAttribute func(v *int32, attr int32, dev int32) int32
	DeviceTotalMem     func(bytes *uint64, dev int32) int32
	PrimaryCtxRetain   func(ctx *uintptr, dev int32) int32
	PrimaryCtxRelease  func(dev int32) int32
	CtxSetCurrent      func(ctx uintptr) int32
	MemGetInfo         func(free, total *uint64) int32
	MemAlloc           func(p *uint64, n uint64) int32
	MemFree            func(p uint64) int32
	MemcpyHtoDAsync    func(dst uint64, src unsafe.Pointer, n uint64, stream uintptr) int32
	MemcpyDtoHAsync    func(dst unsafe.Pointer, src uint64, n uint64, stream uintptr) int32
	ModuleLoadData     func(mod *uintptr, image *byte) int32
	ModuleUnload       func(mod uintptr) int32
	ModuleGetFunction  func(fn *uintptr, mod uintptr, name *byte) int32
	LaunchKernel       func(fn uintptr, gx, gy, gz, bx, by, bz, shmem uint32, stream uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) int32
	StreamCreate       func(s *uintptr, flags uint32) int32
	StreamSynchronize  func(s uintptr) int32
	StreamDestroy      func(s uintptr) int32
	GetErrorName       func(res int32, s **byte) int32
	GetErrorString     func(res int32, s **byte) int32
}

// Library is the file name dlopen looks for.
const Library = "libcuda.so.1"

// ErrNoDriver: libcuda.so.1 could not be loaded.
var ErrNoDriver = errors.New("cuda: " + Library + " not found: install the NVIDIA driver (the CUDA toolkit is not needed)")

// ErrNotBuilt: this binary has no driver loader (built without -tags cuda).
var ErrNotBuilt = errors.New("cuda: this dayi binary was built without GPU support: rebuild with `go build -tags cuda ./cmd/dayi` " +
	"(the default release binaries stay static and never load libcuda)")

// ErrNoDevice: the driver loaded but sees no GPU.
var ErrNoDevice = errors.New("cuda: the NVIDIA driver reports no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES)")

// DriverTooOldError: the driver cannot JIT the PTX version dayi emits.
type DriverTooOldError struct{ Have, Need int }

func (e *DriverTooOldError) Error() string {
	return fmt.Sprintf("cuda: the NVIDIA driver supports CUDA %s, dayi's kernels (PTX ISA %s) need CUDA %s or newer: update the driver",
		cudaVersion(e.Have), kern.PTXVersion, cudaVersion(e.Need))
}

// ComputeCapabilityError: the GPU lacks what the kernels use (dp4a: 6.1).
type ComputeCapabilityError struct {
	Device     string
	Have, Need int // major*10+minor
}

func (e *ComputeCapabilityError) Error() string {
	return fmt.Sprintf("cuda: %s has compute capability %d.%d, dayi's kernels need %d.%d or newer (Pascal GP10x and later)",
		e.Device, e.Have/10, e.Have%10, e.Need/10, e.Need%10)
}

// OutOfMemoryError: an allocation did not fit.
type OutOfMemoryError struct {
	What              string
	Need, Free, Total uint64
}

func (e *OutOfMemoryError) Error() string {
	return fmt.Sprintf("cuda: out of device memory for %s: needs %s, %s free of %s", e.What, mib(e.Need), mib(e.Free), mib(e.Total))
}

// DriverError is a failed driver call.
type DriverError struct {
	Call         string
	Code         int32
	Name, Detail string
}

func (e *DriverError) Error() string {
	return fmt.Sprintf("cuda: %s: %s (%d): %s", e.Call, e.Name, e.Code, e.Detail)
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func cudaVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

const (
	errOutOfMemory      = 2
	attrComputeCapMajor = 75
	attrComputeCapMinor = 76
	attrMultiprocessors = 16
	streamNonBlocking   = 1
	maxKernelParams     = 16
)

// Info describes the device a Device runs on.
type Info struct {
	Name            string
	ComputeCap      int // major*10+minor
	Driver          int // cuDriverGetVersion, e.g. 12040
	Multiprocessors int
	TotalMem        uint64
}

func (i Info) String() string {
	return fmt.Sprintf("%s (compute %d.%d, %d SMs, %s, driver CUDA %s)", i.Name, i.ComputeCap/10, i.ComputeCap%10,
		i.Multiprocessors, mib(i.TotalMem), cudaVersion(i.Driver))
}

// Device is one GPU with dayi's kernels loaded: its primary context, a
// stream, and the module's functions. Its methods may be called from any
// goroutine but not concurrently.
type Device struct {
	api    *driverAPI
	dev    int32
	ctx    uintptr
	mod    uintptr
	stream uintptr
	info   Info
	fns    map[string]kernelFn
	// Launch argument storage, reused so that a launch allocates nothing.
	argv [maxKernelParams]uint64
	argp [maxKernelParams]unsafe.Pointer
}

type kernelFn struct {
	fn     uintptr
	params []ptx.Param
}

// Open loads the driver and prepares device ordinal (0 for the first GPU).
func Open(ordinal int) (*Device, error) {
	api, err := loadDriver()
	if err != nil {
		return nil, err
	}
	return open(api, ordinal)
}

func (a *driverAPI) check(res int32, call string) error {
	if res == 0 {
		return nil
	}
	e := &DriverError{Call: call, Code: res, Name: "CUDA_ERROR_UNKNOWN", Detail: "no description"}
	var s *byte
	if a.GetErrorName != nil && a.GetErrorName(res, &s) == 0 && s != nil {
		e.Name = cString(s)
	}
	if a.GetErrorString != nil && a.GetErrorString(res, &s) == 0 && s != nil {
		e.Detail = cString(s)
	}
	return e
}

// cString copies a NUL-terminated C string owned by the driver (at most
// 4 KiB: error names and descriptions are short).
func cString(p *byte) string { return cStringN(p, 4096) }

func cStringN(p *byte, limit uintptr) string {
	var b strings.Builder
	for i := uintptr(0); i < limit; i++ {
		c := *(*byte)(unsafe.Add(unsafe.Pointer(p), i))
		if c == 0 {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}

func open(api *driverAPI, ordinal int) (*Device, error) {
	if err := api.check(api.Init(0), "cuInit"); err != nil {
		if de, ok := err.(*DriverError); ok && de.Code == 100 { // CUDA_ERROR_NO_DEVICE
			return nil, ErrNoDevice
		}
		return nil, err
	}
	var ver int32
	if err := api.check(api.DriverGetVersion(&ver), "cuDriverGetVersion"); err != nil {
		return nil, err
	}
	if ver < kern.MinDriver {
		return nil, &DriverTooOldError{Have: int(ver), Need: kern.MinDriver}
	}
	var n int32
	if err := api.check(api.DeviceGetCount(&n), "cuDeviceGetCount"); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrNoDevice
	}
	if ordinal < 0 || ordinal >= int(n) {
		return nil, fmt.Errorf("cuda: device %d asked for, the driver sees %d (0..%d)", ordinal, n, n-1)
	}
	d := &Device{api: api, info: Info{Driver: int(ver)}}
	if err := api.check(api.DeviceGet(&d.dev, int32(ordinal)), "cuDeviceGet"); err != nil {
		return nil, err
	}
	var name [256]byte
	if err := api.check(api.DeviceGetName(&name[0], int32(len(name)), d.dev), "cuDeviceGetName"); err != nil {
		return nil, err
	}
	d.info.Name = cString(&name[0])
	var major, minor, sms int32
	for _, a := range []struct {
		v    *int32
		attr int32
	}{{&major, attrComputeCapMajor}, {&minor, attrComputeCapMinor}, {&sms, attrMultiprocessors}} {
		if err := api.check(api.DeviceGetAttribute(a.v, a.attr, d.dev), "cuDeviceGetAttribute"); err != nil {
			return nil, err
		}
	}
	d.info.ComputeCap, d.info.Multiprocessors = int(major*10+minor), int(sms)
	if d.info.ComputeCap < kern.MinCC {
		return nil, &ComputeCapabilityError{Device: d.info.Name, Have: d.info.ComputeCap, Need: kern.MinCC}
	}
	if err := api.check(api.DeviceTotalMem(&d.info.TotalMem, d.dev), "cuDeviceTotalMem"); err != nil {
		return nil, err
	}
	if err := api.check(api.PrimaryCtxRetain(&d.ctx, d.dev), "cuDevicePrimaryCtxRetain"); err != nil {
		return nil, err
	}
	err := d.do(func() error {
		if err := api.check(api.StreamCreate(&d.stream, streamNonBlocking), "cuStreamCreate"); err != nil {
			return err
		}
		img := append([]byte(kernelsPTX), 0)
		if err := api.check(api.ModuleLoadData(&d.mod, &img[0]), "cuModuleLoadData (JIT of the embedded PTX)"); err != nil {
			return err
		}
		d.fns = map[string]kernelFn{}
		for _, k := range kern.Module().Kernels {
			cname := append([]byte(k.Name), 0)
			var fn uintptr
			if err := api.check(api.ModuleGetFunction(&fn, d.mod, &cname[0]), "cuModuleGetFunction "+k.Name); err != nil {
				return err
			}
			if len(k.Params) > maxKernelParams {
				return fmt.Errorf("cuda: kernel %s has %d parameters (at most %d)", k.Name, len(k.Params), maxKernelParams)
			}
			d.fns[k.Name] = kernelFn{fn: fn, params: k.Params}
		}
		return nil
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// do runs f on a locked OS thread with the device's context current: the
// driver's current context is per thread, and goroutines move.
func (d *Device) do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := d.api.check(d.api.CtxSetCurrent(d.ctx), "cuCtxSetCurrent"); err != nil {
		return err
	}
	return f()
}

// Info describes the device.
func (d *Device) Info() Info { return d.info }

// MemInfo reports free and total device memory.
func (d *Device) MemInfo() (free, total uint64, err error) {
	err = d.do(func() error { return d.api.check(d.api.MemGetInfo(&free, &total), "cuMemGetInfo") })
	return
}

// Alloc reserves n bytes of device memory for what (named in errors).
func (d *Device) Alloc(n int, what string) (uint64, error) {
	var p uint64
	err := d.do(func() error {
		res := d.api.MemAlloc(&p, uint64(max(n, 1)))
		if res == errOutOfMemory {
			e := &OutOfMemoryError{What: what, Need: uint64(n)}
			d.api.MemGetInfo(&e.Free, &e.Total)
			return e
		}
		return d.api.check(res, "cuMemAlloc "+what)
	})
	return p, err
}

// Free releases memory from Alloc.
func (d *Device) Free(p uint64) error {
	return d.do(func() error { return d.api.check(d.api.MemFree(p), "cuMemFree") })
}

// Write copies b to device address p and waits for the copy.
func (d *Device) Write(p uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return d.do(func() error {
		if err := d.api.check(d.api.MemcpyHtoDAsync(p, unsafe.Pointer(&b[0]), uint64(len(b)), d.stream), "cuMemcpyHtoDAsync"); err != nil {
			return err
		}
		err := d.api.check(d.api.StreamSynchronize(d.stream), "cuStreamSynchronize")
		runtime.KeepAlive(b)
		return err
	})
}

// Read copies device memory at p into b once every queued launch is done.
func (d *Device) Read(p uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return d.do(func() error {
		if err := d.api.check(d.api.MemcpyDtoHAsync(unsafe.Pointer(&b[0]), p, uint64(len(b)), d.stream), "cuMemcpyDtoHAsync"); err != nil {
			return err
		}
		err := d.api.check(d.api.StreamSynchronize(d.stream), "cuStreamSynchronize")
		runtime.KeepAlive(b)
		return err
	})
}

// Sync waits for every queued launch; a kernel's fault is reported here.
func (d *Device) Sync() error {
	return d.do(func() error { return d.api.check(d.api.StreamSynchronize(d.stream), "cuStreamSynchronize") })
}

// Launch queues kernel name on the device's stream (kern.Launcher). args
// are in the kernel's parameter order; a u32 or f32 parameter reads the
// low four bytes of its slot, which on little-endian hosts is the value.
func (d *Device) Launch(name string, grid, block uint32, args ...uint64) error {
	k, ok := d.fns[name]
	if !ok {
		return fmt.Errorf("cuda: no kernel %q", name)
	}
	if len(args) != len(k.params) {
		return fmt.Errorf("cuda: %s takes %d arguments, got %d", name, len(k.params), len(args))
	}
	if grid == 0 {
		return nil // nothing to do (an empty tensor)
	}
	for i, a := range args {
		d.argv[i] = a
		d.argp[i] = unsafe.Pointer(&d.argv[i])
	}
	return d.do(func() error {
		res := d.api.LaunchKernel(k.fn, grid, 1, 1, block, 1, 1, 0, d.stream, &d.argp[0], nil)
		return d.api.check(res, "cuLaunchKernel "+name)
	})
}

// Close unloads the module and releases the context.
func (d *Device) Close() error {
	if d.api == nil || d.ctx == 0 {
		return nil
	}
	var errs []error
	_ = d.do(func() error {
		if d.mod != 0 {
			errs = append(errs, d.api.check(d.api.ModuleUnload(d.mod), "cuModuleUnload"))
		}
		if d.stream != 0 {
			errs = append(errs, d.api.check(d.api.StreamDestroy(d.stream), "cuStreamDestroy"))
		}
		return nil
	})
	errs = append(errs, d.api.check(d.api.PrimaryCtxRelease(d.dev), "cuDevicePrimaryCtxRelease"))
	d.ctx, d.mod, d.stream = 0, 0, 0
	return errors.Join(errs...)
}

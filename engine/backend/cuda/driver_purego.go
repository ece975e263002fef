//go:build cuda && linux && (amd64 || arm64)

package cuda

import (
	"fmt"

	"github.com/ebitengine/purego"
)

// loadDriver opens libcuda.so.1 with purego's dlopen (no cgo) and binds the
// driver API. Importing purego makes the binary dynamically linked against
// the C library (fakecgo), which is why it lives behind the cuda build tag:
// the default release binaries stay fully static.
func loadDriver() (*driverAPI, error) {
	lib, err := purego.Dlopen(Library, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoDriver, err)
	}
	a := &driverAPI{}
	for _, f := range []struct {
		fn   any
		name string
	}{
		{&a.Init, "cuInit"},
		{&a.DriverGetVersion, "cuDriverGetVersion"},
		{&a.DeviceGetCount, "cuDeviceGetCount"},
		{&a.DeviceGet, "cuDeviceGet"},
		{&a.DeviceGetName, "cuDeviceGetName"},
		{&a.DeviceGetAttribute, "cuDeviceGetAttribute"},
		{&a.DeviceTotalMem, "cuDeviceTotalMem_v2"},
		{&a.PrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&a.PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
		{&a.CtxSetCurrent, "cuCtxSetCurrent"},
		{&a.MemGetInfo, "cuMemGetInfo_v2"},
		{&a.MemAlloc, "cuMemAlloc_v2"},
		{&a.MemFree, "cuMemFree_v2"},
		{&a.MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"},
		{&a.MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"},
		{&a.ModuleLoadData, "cuModuleLoadData"},
		{&a.ModuleUnload, "cuModuleUnload"},
		{&a.ModuleGetFunction, "cuModuleGetFunction"},
		{&a.LaunchKernel, "cuLaunchKernel"},
		{&a.StreamCreate, "cuStreamCreate"},
		{&a.StreamSynchronize, "cuStreamSynchronize"},
		{&a.StreamDestroy, "cuStreamDestroy_v2"},
		{&a.GetErrorName, "cuGetErrorName"},
		{&a.GetErrorString, "cuGetErrorString"},
	} {
		sym, err := purego.Dlsym(lib, f.name)
		if err != nil {
			return nil, fmt.Errorf("cuda: %s has no %s: the NVIDIA driver is too old or not the driver library (%v)", Library, f.name, err)
		}
		purego.RegisterFunc(f.fn, sym)
	}
	return a, nil
}

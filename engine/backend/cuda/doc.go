// Package cuda is dayi's NVIDIA GPU device: the CUDA driver API loaded at
// run time (libcuda.so.1 through purego, no cgo; only in binaries built with
// `-tags cuda`, see driver_purego.go), kernels as PTX text generated from Go
// (package kern, embedded as kernels.ptx) and a decode-step driver for
// llama-family models whose weights stay in their GGUF blocks on the device.
//
// Everything except the driver calls is tested on every machine: the
// kernels run in kern's warp emulator (package ptx), and the decode driver
// runs on that emulator against llama.cpp's logits. The design follows
// github.com/gomlx/compute-cuda's (driver loaded with purego, embedded PTX)
// with our own code and kernels after ggml-cuda's math.
package cuda

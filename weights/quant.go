package weights

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds the checked entry points to the codecs and the scalar
// helpers shared by every quantizer. The codecs themselves are ports of ggml's
// ggml/src/ggml-quants.c (llama.cpp v0.5.0): dequantize_row_* and the
// reference quantizers quantize_row_*_ref, reproduced operation by operation
// in float32 so that our bytes equal ggml's bytes.
//
// Floating-point note: Go may fuse x*y+z into an FMA on some architectures
// (arm64, ppc64, s390x) but never across an explicit float32() conversion.
// ggml's reference outputs were made without contraction, so every product
// that feeds an addition is wrapped in float32() where it matters.

// DequantizeRow decodes src, a whole number of blocks of type t, into dst,
// bit-identical to ggml's to_float. len(dst) must be a multiple of t's block
// size and len(src) exactly the bytes of that many elements. It does not
// allocate.
func DequantizeRow(t Type, dst []float32, src []byte) error {
	tr, ok := t.Traits()
	if !ok {
		return fmt.Errorf("dequantize: unknown ggml type %d", uint32(t))
	}
	if tr.Dequantize == nil {
		return fmt.Errorf("dequantize %s: type not supported", t)
	}
	if len(dst)%tr.BlockSize != 0 {
		return fmt.Errorf("dequantize %s: %d elements is not a multiple of the block size %d", t, len(dst), tr.BlockSize)
	}
	if want := len(dst) / tr.BlockSize * tr.TypeSize; len(src) != want {
		return fmt.Errorf("dequantize %s: %d elements need %d bytes, got %d", t, len(dst), want, len(src))
	}
	tr.Dequantize(dst, src)
	return nil
}

// QuantizeRow encodes src into dst with ggml's reference quantizer for t
// (what llama-quantize runs without an importance matrix; for IQ4_NL that is
// quantize_iq4_nl, as ggml_quantize_chunk calls it). len(src) must be a
// multiple of t's block size and len(dst) exactly the bytes of that many
// elements. Every block is encoded on its own, so src may hold several rows
// and disjoint ranges may be quantized concurrently.
func QuantizeRow(t Type, dst []byte, src []float32) error {
	tr, ok := t.Traits()
	if !ok {
		return fmt.Errorf("quantize: unknown ggml type %d", uint32(t))
	}
	if tr.Quantize == nil {
		return fmt.Errorf("quantize %s: type not supported", t)
	}
	if len(src)%tr.BlockSize != 0 {
		return fmt.Errorf("quantize %s: %d elements is not a multiple of the block size %d", t, len(src), tr.BlockSize)
	}
	if want := len(src) / tr.BlockSize * tr.TypeSize; len(dst) != want {
		return fmt.Errorf("quantize %s: %d elements need %d bytes, got %d", t, len(src), want, len(dst))
	}
	tr.Quantize(dst, src)
	return nil
}

// nearestInt is ggml's nearest_int (ggml-quants.c): adding 1.5*2^23 makes the
// FPU round to an integer (half to even) and the integer is read back from
// the mantissa bits. Valid for |f| <= 4194303; outside that it returns
// garbage as ggml does, but never panics.
func nearestInt(f float32) int {
	v := float32(f) + 12582912 // float32(): never fuse a caller's product into this add
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// roundf is C's roundf: half away from zero. float32 values convert to
// float64 exactly, so rounding in float64 gives roundf's result.
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }

// absf is fabsf.
func absf(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// sqrtf is C's sqrtf: the float64 square root of a float32 rounds to the
// correctly rounded float32 result (double rounding is harmless for sqrt).
func sqrtf(f float32) float32 { return float32(math.Sqrt(float64(f))) }

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }

func f16At(b []byte) float32 { return FP16ToFP32(binary.LittleEndian.Uint16(b)) }

func putF16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, FP32ToFP16(f)) }

package weights

import "fmt"

// Type is a ggml tensor element type (ggml.h enum ggml_type). The numeric values
// are part of the GGUF file format and must never change.
type Type uint32

// ggml type ids, from ggml.h (llama.cpp v0.5.0). Gaps are types ggml removed.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	typeCount   Type = 40
)

// TypeTraits describes one ggml type: its block geometry and, where dayi
// supports it, its codecs. This is dayi's single table of quant types (as
// ggml's type_traits); every other package asks it instead of switching on
// types itself.
type TypeTraits struct {
	Name      string // ggml's name, e.g. "q4_K"
	BlockSize int    // elements per block
	TypeSize  int    // bytes per block
	// Dequantize decodes len(dst) elements (a multiple of BlockSize) from src.
	Dequantize func(dst []float32, src []byte)
	// Quantize encodes len(src) elements (a multiple of BlockSize) into dst,
	// exactly as ggml's reference quantizer (quantize_row_*_ref) does. Nil when
	// dayi cannot produce the type.
	Quantize func(dst []byte, src []float32)
}

// typeTable is immutable after package initialisation. Block geometry from
// ggml.c type_traits (llama.cpp v0.5.0).
var typeTable = [typeCount]TypeTraits{
	TypeF32:     {Name: "f32", BlockSize: 1, TypeSize: 4, Dequantize: dequantF32, Quantize: quantF32},
	TypeF16:     {Name: "f16", BlockSize: 1, TypeSize: 2, Dequantize: dequantF16, Quantize: quantF16},
	TypeQ4_0:    {Name: "q4_0", BlockSize: 32, TypeSize: 18, Dequantize: dequantQ4_0, Quantize: quantQ4_0},
	TypeQ4_1:    {Name: "q4_1", BlockSize: 32, TypeSize: 20, Dequantize: dequantQ4_1, Quantize: quantQ4_1},
	TypeQ5_0:    {Name: "q5_0", BlockSize: 32, TypeSize: 22, Dequantize: dequantQ5_0, Quantize: quantQ5_0},
	TypeQ5_1:    {Name: "q5_1", BlockSize: 32, TypeSize: 24, Dequantize: dequantQ5_1, Quantize: quantQ5_1},
	TypeQ8_0:    {Name: "q8_0", BlockSize: 32, TypeSize: 34, Dequantize: dequantQ8_0, Quantize: quantQ8_0},
	TypeQ8_1:    {Name: "q8_1", BlockSize: 32, TypeSize: 36, Dequantize: dequantQ8_1, Quantize: quantQ8_1},
	TypeQ2_K:    {Name: "q2_K", BlockSize: 256, TypeSize: 84, Dequantize: dequantQ2K, Quantize: quantQ2K},
	TypeQ3_K:    {Name: "q3_K", BlockSize: 256, TypeSize: 110, Dequantize: dequantQ3K, Quantize: quantQ3K},
	TypeQ4_K:    {Name: "q4_K", BlockSize: 256, TypeSize: 144, Dequantize: dequantQ4K, Quantize: quantQ4K},
	TypeQ5_K:    {Name: "q5_K", BlockSize: 256, TypeSize: 176, Dequantize: dequantQ5K, Quantize: quantQ5K},
	TypeQ6_K:    {Name: "q6_K", BlockSize: 256, TypeSize: 210, Dequantize: dequantQ6K, Quantize: quantQ6K},
	TypeQ8_K:    {Name: "q8_K", BlockSize: 256, TypeSize: 292, Dequantize: dequantQ8K, Quantize: quantQ8K},
	TypeIQ2_XXS: {Name: "iq2_xxs", BlockSize: 256, TypeSize: 66},
	TypeIQ2_XS:  {Name: "iq2_xs", BlockSize: 256, TypeSize: 74},
	TypeIQ3_XXS: {Name: "iq3_xxs", BlockSize: 256, TypeSize: 98},
	TypeIQ1_S:   {Name: "iq1_s", BlockSize: 256, TypeSize: 50},
	TypeIQ4_NL:  {Name: "iq4_nl", BlockSize: 32, TypeSize: 18, Dequantize: dequantIQ4NL, Quantize: quantIQ4NL},
	TypeIQ3_S:   {Name: "iq3_s", BlockSize: 256, TypeSize: 110},
	TypeIQ2_S:   {Name: "iq2_s", BlockSize: 256, TypeSize: 82},
	TypeIQ4_XS:  {Name: "iq4_xs", BlockSize: 256, TypeSize: 136},
	TypeI8:      {Name: "i8", BlockSize: 1, TypeSize: 1},
	TypeI16:     {Name: "i16", BlockSize: 1, TypeSize: 2},
	TypeI32:     {Name: "i32", BlockSize: 1, TypeSize: 4},
	TypeI64:     {Name: "i64", BlockSize: 1, TypeSize: 8},
	TypeF64:     {Name: "f64", BlockSize: 1, TypeSize: 8},
	TypeIQ1_M:   {Name: "iq1_m", BlockSize: 256, TypeSize: 56},
	TypeBF16:    {Name: "bf16", BlockSize: 1, TypeSize: 2, Dequantize: dequantBF16, Quantize: quantBF16},
	TypeTQ1_0:   {Name: "tq1_0", BlockSize: 256, TypeSize: 54},
	TypeTQ2_0:   {Name: "tq2_0", BlockSize: 256, TypeSize: 66},
	TypeMXFP4:   {Name: "mxfp4", BlockSize: 32, TypeSize: 17, Dequantize: dequantMXFP4, Quantize: quantMXFP4},
}

// Known reports whether t is a type this version of GGUF defines.
func (t Type) Known() bool { return t < typeCount && typeTable[t].BlockSize != 0 }

// Traits returns t's table entry; ok is false for unknown types.
func (t Type) Traits() (TypeTraits, bool) {
	if !t.Known() {
		return TypeTraits{}, false
	}
	return typeTable[t], true
}

func (t Type) String() string {
	if t.Known() {
		return typeTable[t].Name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements per block (1 for plain types); 0 if unknown.
func (t Type) BlockSize() int {
	if !t.Known() {
		return 0
	}
	return typeTable[t].BlockSize
}

// TypeSize is the number of bytes per block; 0 if unknown.
func (t Type) TypeSize() int {
	if !t.Known() {
		return 0
	}
	return typeTable[t].TypeSize
}

// RowSize returns the bytes taken by n elements of type t, or an error when n is
// not a whole number of blocks or t is unknown.
func (t Type) RowSize(n int64) (int64, error) {
	if !t.Known() {
		return 0, fmt.Errorf("unknown ggml type %d", uint32(t))
	}
	bs := int64(typeTable[t].BlockSize)
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("%d elements is not a multiple of the %s block size %d", n, t, bs)
	}
	return n / bs * int64(typeTable[t].TypeSize), nil
}

// TypeByName finds a type by its ggml name, case-insensitively ("q4_k", "Q4_K", "f16").
func TypeByName(name string) (Type, bool) {
	for i := range typeTable {
		if typeTable[i].BlockSize != 0 && equalFold(typeTable[i].Name, name) {
			return Type(i), true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

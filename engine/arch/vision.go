package arch

import "github.com/gomlx/gomlx/pkg/core/graph"

// The vision encoder (package vision) builds its SigLIP tower with the
// same numerics as the text models: these export the pieces it shares with
// them rather than copying them.

// LayerNorm is ggml_norm then mul by w and add b (either may be nil), with
// c.H.NormEps: sums in float64 as ggml-cpu's norm does.
func LayerNorm(c *Ctx, x *Node, w, b *Weight) *Node { return layerNorm(c, x, w, b) }

// GeLUTable puts ggml's f16 GELU table in g as one constant, for GeLU.
func GeLUTable(g *graph.Graph) *Node { return geluTableConst(g) }

// GeLU is ggml_gelu on the CPU (the f16 table lookup of
// ggml_vec_gelu_f32); table is GeLUTable's node.
func GeLU(x, table *Node) *Node { return geluF16(x, table) }

package engine

import (
	"context"
	"math"
	"testing"

	"dayi/weights"
)

// The hidden states behind embeddings are the model's: projecting the last
// one through output.weight gives Eval's logits, and Embed is their
// normalised mean.
func TestHiddenAndEmbed(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", KVType: "f32", Buckets: []int{8}})
	ctx := context.Background()
	ids := lm.Tok.Encode("Once upon a time there was a dog", true, false)
	s, err := lm.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.Hidden(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	dim := lm.Hyper.Dim
	if len(h) != len(ids)*dim {
		t.Fatalf("hidden has %d values, want %d", len(h), len(ids)*dim)
	}
	s2, _ := lm.NewSession()
	defer s2.Close()
	logits, err := s2.Eval(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := lm.File.Tensor("output.weight")
	w := make([]float32, out.Elements())
	if err := weights.DequantizeRow(out.Type, w, lm.File.TensorData(out)); err != nil {
		t.Fatal(err)
	}
	last := h[len(h)-dim:]
	for v := 0; v < lm.Hyper.Vocab; v++ {
		var dot float64
		for j := 0; j < dim; j++ {
			dot += float64(w[v*dim+j]) * float64(last[j])
		}
		if math.Abs(dot-float64(logits[v])) > 1e-4 {
			t.Fatalf("token %d: output·hidden = %g, Eval logit %g", v, dot, logits[v])
		}
	}
	emb, n, err := lm.Embed(ctx, "Once upon a time there was a dog", false)
	if err != nil || n != len(ids) {
		t.Fatalf("embed: %v, %d tokens", err, n)
	}
	var norm, cos float64
	mean := make([]float64, dim)
	for r := 0; r < len(ids); r++ {
		for j := range mean {
			mean[j] += float64(h[r*dim+j]) / float64(len(ids))
		}
	}
	var mn float64
	for j := range mean {
		mn += mean[j] * mean[j]
		norm += float64(emb[j]) * float64(emb[j])
		cos += mean[j] * float64(emb[j])
	}
	if math.Abs(norm-1) > 1e-5 || math.Abs(cos/math.Sqrt(mn)-1) > 1e-5 {
		t.Fatalf("embedding norm %g, cosine with the mean hidden state %g", norm, cos/math.Sqrt(mn))
	}
}

package main

import (
	"encoding/json"
	"testing"
)

// TestBenchEmbed runs `bench embed` on tiny-xlmr (bge-m3's layout, small):
// every synthetic passage is exactly --tokens tokens long, so both engines
// embed the same amount of work, and the rows carry consistent rates.
func TestBenchEmbed(t *testing.T) {
	model := synthFile(t, "tiny-xlmr")
	out, err := runDayi(t, "bench", "embed", "-m", model, "-t", "2", "--passages", "4", "--tokens", "64", "--reps", "2", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rows []benchEmbedRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].Engine != "dayi" || rows[0].Tokens != 4*64 || len(rows[0].Seconds) != 2 ||
		rows[0].Best <= 0 || rows[0].PassagesPerS*rows[0].Best < 3.999 || rows[0].PassagesPerS*rows[0].Best > 4.001 {
		t.Errorf("rows %+v", rows)
	}
	if _, err := runDayi(t, "bench", "embed", "-m", synthFile(t, "tiny-llama"), "--passages", "1"); err == nil {
		t.Error("a decoder accepted")
	}
}

// TestLlamaEvalLine parses the timing line of llama-embedding (v0.5.0,
// -lv 4) as captured from the native build.
func TestLlamaEvalLine(t *testing.T) {
	const line = "0.05.838.911 I llama_perf_context_print: prompt eval time =      49.80 ms /    16 tokens (    3.11 ms per token,   321.30 tokens per second)"
	m := llamaEvalRe.FindStringSubmatch(line)
	if m == nil || m[1] != "49.80" || m[2] != "16" {
		t.Errorf("match %q", m)
	}
}

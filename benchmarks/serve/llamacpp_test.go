package serve

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestParseBatchedBenchTable parses the real table of llama-batched-bench
// v0.5.0 (testdata/README.md has the command) and checks every column of
// its rows against the file's numbers.
func TestParseBatchedBenchTable(t *testing.T) {
	f, err := os.Open("testdata/batched-bench-md.stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ParseBatchedBench(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []BatchedRow{
		{PP: 32, TG: 16, B: 1, NKV: 48, TPP: 1.211, SPP: 26.43, TTG: 6.164, STG: 2.60, T: 7.375, S: 6.51},
		{PP: 32, TG: 16, B: 2, NKV: 96, TPP: 0.453, SPP: 141.13, TTG: 0.197, STG: 162.69, T: 0.650, S: 147.65},
		{PP: 32, TG: 16, B: 4, NKV: 192, TPP: 0.307, SPP: 417.15, TTG: 0.685, STG: 93.45, T: 0.992, S: 193.60},
	}
	if !slices.Equal(rows, want) {
		t.Fatalf("rows\n got %+v\nwant %+v", rows, want)
	}
}

// TestParseBatchedBenchJSONL parses the jsonl form of the same run.
func TestParseBatchedBenchJSONL(t *testing.T) {
	f, err := os.Open("testdata/batched-bench-jsonl.stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ParseBatchedBench(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: %+v", len(rows), rows)
	}
	r := rows[1]
	if r.PP != 32 || r.TG != 16 || r.B != 2 || r.NKV != 96 || r.SPP != 250.594177 || r.STG != 109.567284 || r.S != 175.358154 {
		t.Fatalf("row 2 = %+v", r)
	}
}

// TestParseBatchedBenchRejects: output without rows, or a row with a
// non-number, is an error naming the problem, not an empty result.
func TestParseBatchedBenchRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"main: error: unable to load model\n",
		"|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |\n",
		"|    32 |     16 |    1 |     48 |    x.211 |    26.43 |    6.164 |     2.60 |    7.375 |     6.51 |\n",
		`{"pp": 32, "speed_tg": "fast"}` + "\n",
	} {
		if rows, err := ParseBatchedBench(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error, rows %+v", in, rows)
		}
	}
}

func TestBatchedBenchArgs(t *testing.T) {
	got := strings.Join(BatchedBenchArgs("m.gguf", 2, 192, 128, 64, []int{1, 4, 16}, false), " ")
	want := "-m m.gguf -t 2 -tb 2 -c 3072 -ngl 0 -npp 128 -ntg 64 -npl 1,4,16"
	if got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
}

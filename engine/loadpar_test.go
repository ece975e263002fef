package engine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestSplitRows checks splitRows' parts: whole 16-row groups but the last,
// covering [r0, r1) once and in order, at most par of them, every error
// returned.
func TestSplitRows(t *testing.T) {
	for _, c := range []struct{ r0, r1, par int }{{0, 16, 4}, {0, 160, 3}, {32, 4096, 2}, {0, 37, 8}, {16, 1000, 7}, {0, 5, 2}, {48, 64, 1}} {
		var got [][2]int
		ch := make(chan [2]int, 64)
		err := splitRows(c.r0, c.r1, c.par, func(lo, hi int) error {
			ch <- [2]int{lo, hi}
			return nil
		})
		close(ch)
		for p := range ch {
			got = append(got, p)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > c.par || len(got) == 0 {
			t.Fatalf("%+v: %d parts", c, len(got))
		}
		seen := make([]int, c.r1)
		for _, p := range got {
			if (p[0]-c.r0)%16 != 0 || (p[1] != c.r1 && (p[1]-c.r0)%16 != 0) || p[0] >= p[1] {
				t.Fatalf("%+v: part %v is not whole 16-row groups", c, p)
			}
			for r := p[0]; r < p[1]; r++ {
				seen[r]++
			}
		}
		for r := c.r0; r < c.r1; r++ {
			if seen[r] != 1 {
				t.Fatalf("%+v: row %d covered %d times (parts %v)", c, r, seen[r], got)
			}
		}
	}
	boom := errors.New("boom")
	err := splitRows(0, 64, 4, func(lo, hi int) error {
		if lo == 32 {
			return fmt.Errorf("part at %d: %w", lo, boom)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the failing part's", err)
	}
}

// TestLoadThreadsSameWeights checks that the private, repacked weights a
// load makes on 1 and 3 goroutines are the same bytes.
func TestLoadThreadsSameWeights(t *testing.T) {
	for _, typ := range []string{"q4_0", "q8_0", "f32"} {
		f := synthModelTyped(t, "tiny-llama", weightTypes[typ])
		var ref map[string][]byte
		for _, threads := range []int{1, 3} {
			m, err := Load(f, Options{Backend: "dayi", Threads: threads, KVType: "f32", Buckets: []int{16}, PrefixCacheBytes: -1, NoWarmup: true})
			if err != nil {
				t.Fatal(err)
			}
			priv, err := m.privateWeights(false)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{}
			repacked := 0
			for info, p := range priv {
				got[info.Name] = bytes.Clone(p.data)
				if p.rows16 {
					repacked++
				}
			}
			if typ != "f32" && repacked == 0 {
				t.Fatalf("%s: no weight was repacked; the test would not cover the repack", typ)
			}
			if ref == nil {
				ref = got
				continue
			}
			for name, b := range ref {
				if !bytes.Equal(got[name], b) {
					t.Fatalf("%s %s: the weights loaded on %d goroutines differ from 1's", typ, name, threads)
				}
			}
		}
	}
}

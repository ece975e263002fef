package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
)

// TestLoad32Clients is the load test: 32 concurrent streaming
// clients on the embedded model, greedy, each must get exactly the text it
// gets alone (so no stream saw another's tokens), and the server's
// goroutines and heap go back to where they were.
func TestLoad32Clients(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	const clients, nPredict = 32, 48
	s, hs := testServer(t, Config{MaxActive: clients, MaxQueued: clients})
	_ = s
	c := ollamaClient(t, hs)
	subjects := []string{"cat", "dog", "bird", "girl", "boy", "tree", "ball", "car"}
	prompts := make([]string, clients)
	for i := range prompts {
		prompts[i] = fmt.Sprintf("Once upon a time there was a %s who %s", subjects[i%len(subjects)], []string{"ran", "sang", "slept", "jumped"}[i/len(subjects)])
	}
	gen := func(ctx context.Context, p string) (string, int, error) {
		var b strings.Builder
		n := 0
		err := c.Generate(ctx, &api.GenerateRequest{Model: "dayi-tiny", Prompt: p, Raw: true, Options: greedy(nPredict)},
			func(r api.GenerateResponse) error {
				b.WriteString(r.Response)
				if r.Done {
					n = r.EvalCount
				}
				return nil
			})
		return b.String(), n, err
	}
	ctx := context.Background()
	if _, _, err := gen(ctx, "warm up"); err != nil {
		t.Fatal(err)
	}
	hs.Client().Transport.(*http.Transport).CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	baseG := runtime.NumGoroutine()

	solo := make([]string, clients)
	soloTokens := 0
	t0 := time.Now()
	for i, p := range prompts {
		text, n, err := gen(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		solo[i], soloTokens = text, soloTokens+n
	}
	soloDur := time.Since(t0)

	got := make([]string, clients)
	errs := make([]error, clients)
	tokens := make([]int, clients)
	var wg sync.WaitGroup
	t0 = time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], tokens[i], errs[i] = gen(ctx, prompts[i])
		}()
	}
	wg.Wait()
	concDur := time.Since(t0)
	concTokens := 0
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		if got[i] != solo[i] {
			t.Errorf("client %d: concurrent text differs from its solo text\n got %q\nwant %q", i, got[i], solo[i])
		}
		concTokens += tokens[i]
	}
	t.Logf("1 client:   %d requests in %v: %.1f req/s, %.0f tok/s", clients, soloDur.Round(time.Millisecond),
		float64(clients)/soloDur.Seconds(), float64(soloTokens)/soloDur.Seconds())
	t.Logf("32 clients: %d requests in %v: %.1f req/s, %.0f tok/s", clients, concDur.Round(time.Millisecond),
		float64(clients)/concDur.Seconds(), float64(concTokens)/concDur.Seconds())

	hs.Client().Transport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseG+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", baseG, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc+16<<20 {
		t.Fatalf("heap grew from %d to %d bytes", before.HeapAlloc, after.HeapAlloc)
	}
	t.Logf("goroutines %d → %d, heap %.1f → %.1f MiB", baseG, runtime.NumGoroutine(), float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20))
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"dayi/engine/sample"
)

func tinyLM(t *testing.T, opt Options) *LM {
	t.Helper()
	m, err := Load(openShared(t, "stories260K.gguf"), opt)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

// Many concurrent requests batched together each get exactly the text they
// get alone (greedy and seeded sampling).
func TestSchedulerMatchesSolo(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", Buckets: []int{8, 32}})
	ctx := context.Background()
	prompts := []string{"Once upon a time", "The little dog", "Lily and Ben went to the park", "Tom had a red ball",
		"One day, a cat", "The sun was", "Sam and Mia", "A big bird"}
	reqs := make([]*Request, len(prompts))
	want := make([]string, len(prompts))
	for i, p := range prompts {
		opt := sample.Options{} // greedy
		if i%2 == 1 {
			opt = sample.Options{Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: int64(100 + i)}
		}
		reqs[i] = &Request{Prompt: p, MaxTokens: 40 + 5*i, Sampling: opt}
		res, err := lm.Generate(ctx, reqs[i], func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res.Text
	}
	s := lm.NewScheduler(8, 8)
	defer s.Close()
	var wg sync.WaitGroup
	got := make([]string, len(prompts))
	streamed := make([]string, len(prompts))
	errs := make([]error, len(prompts))
	for i := range prompts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := s.Generate(ctx, reqs[i], func(p string) error { streamed[i] += p; return nil })
			if err != nil {
				errs[i] = err
				return
			}
			got[i] = res.Text
		}(i)
	}
	wg.Wait()
	for i := range prompts {
		if errs[i] != nil {
			t.Fatalf("%q: %v", prompts[i], errs[i])
		}
		if got[i] != want[i] || streamed[i] != want[i] {
			t.Errorf("%q: batched text differs from solo:\n got %q\nwant %q", prompts[i], got[i], want[i])
		}
	}
}

func TestSchedulerBusyAndCancel(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi"})
	s := lm.NewScheduler(1, 0)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		n := 0
		_, err := s.Generate(ctx, &Request{Prompt: "Once upon a time"}, func(string) error {
			if n++; n == 1 {
				close(started)
			}
			return nil
		})
		done <- err
	}()
	<-started
	if _, err := s.Generate(context.Background(), &Request{Prompt: "x"}, func(string) error { return nil }); !errors.Is(err, ErrBusy) {
		t.Fatalf("second request with a full queue: %v, want ErrBusy", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request returned %v", err)
	}
	_ = fmt.Sprint()
}

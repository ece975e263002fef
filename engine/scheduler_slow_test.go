package engine

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// A request whose client reads slowly leaves the batch when its output
// buffer is full, so the others decode at full speed; after the stall limit
// it ends with ErrSlowReader (issue 15, finding 6). Without the buffer every
// step waited for the slow onText, so the others took a second per token.
func TestSchedulerSlowReaderLeavesBatch(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", Buckets: []int{8, 32}})
	const stall = 300 * time.Millisecond
	s := lm.NewScheduler(8, 8, WithOutputBuffer(4, stall))
	defer s.Close()
	ctx := context.Background()
	req := func() *Request { return &Request{Prompt: "Once upon a time", MaxTokens: 60} }

	t0 := time.Now()
	want, err := s.Generate(ctx, req(), func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	solo := time.Since(t0)

	slowErr := make(chan error, 1)
	slowStarted := make(chan struct{})
	// The slow client takes one piece a second; its second write blocks
	// until the scheduler interrupts it (as an expired write deadline does).
	interrupted := make(chan struct{})
	var interruptOnce sync.Once
	ictx := WithInterrupt(ctx, func() { interruptOnce.Do(func() { close(interrupted) }) })
	go func() {
		n := 0
		_, err := s.Generate(ictx, &Request{Prompt: "The little dog", MaxTokens: 200}, func(string) error {
			if n++; n == 1 {
				close(slowStarted)
				time.Sleep(time.Second)
				return nil
			}
			<-interrupted
			return errors.New("write deadline exceeded")
		})
		slowErr <- err
	}()
	<-slowStarted
	var wg sync.WaitGroup
	texts := make([]string, 7)
	errs := make([]error, 7)
	t0 = time.Now()
	for i := range 7 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var streamed string
			res, err := s.Generate(ctx, req(), func(p string) error { streamed += p; return nil })
			if err == nil && res.Text != streamed {
				t.Errorf("request %d: streamed %q, result %q", i, streamed, res.Text)
			}
			if err == nil {
				texts[i] = res.Text
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	others := time.Since(t0)
	for i := range 7 {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if texts[i] != want.Text {
			t.Errorf("request %d: text %q, want its solo text %q", i, texts[i], want.Text)
		}
	}
	// Generous for two loaded cores; the unbuffered scheduler needs 60 s.
	if limit := 10*solo + 3*time.Second; others > limit {
		t.Fatalf("7 requests beside a slow reader took %v (solo %v, limit %v)", others, solo, limit)
	}
	select {
	case err := <-slowErr:
		if !errors.Is(err, ErrSlowReader) {
			t.Fatalf("slow reader ended with %v, want ErrSlowReader", err)
		}
	case <-time.After(stall + 5*time.Second):
		t.Fatal("slow reader was not cancelled")
	}
	if a, _ := s.Stats(); a != 0 {
		t.Fatalf("%d requests still active", a)
	}
}

// A client that fails (gone) ends its request with that error, and the text
// delivered before is exactly the generated prefix.
func TestSchedulerOutputBufferClientError(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", Buckets: []int{8, 32}})
	s := lm.NewScheduler(2, 0, WithOutputBuffer(2, time.Second))
	defer s.Close()
	gone := errors.New("client gone")
	n := 0
	_, err := s.Generate(context.Background(), &Request{Prompt: "Once upon a time", MaxTokens: 50}, func(string) error {
		if n++; n == 3 {
			return gone
		}
		return nil
	})
	if !errors.Is(err, gone) {
		t.Fatalf("got %v, want the client's error", err)
	}
	if n != 3 {
		t.Fatalf("onText called %d times after failing on the 3rd", n)
	}
}

// The estimate matches what Load allocates: the KV cache is exactly
// Model.KVBytes, and on dayi's backend the weights are the bytes of the
// private copy privateWeights makes (measured here from its result), on
// portable backends the f32 size of every bound weight.
func TestEstimateFootprintMatchesLoad(t *testing.T) {
	for _, opt := range []Options{{Backend: "dayi"}, {Backend: "dayi", ContextLength: 128, KVType: "f32"}, {Backend: "go"}} {
		f := openShared(t, "stories260K.gguf")
		fp, err := EstimateFootprint(f, opt)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(f, opt)
		if err != nil {
			t.Fatal(err)
		}
		if fp.KV != m.KVBytes() || fp.Ctx != m.Ctx {
			t.Errorf("%+v: estimated KV %d bytes for ctx %d, the model allocates %d for ctx %d", opt, fp.KV, fp.Ctx, m.KVBytes(), m.Ctx)
		}
		var want int64
		if m.portable {
			for _, w := range m.weightList {
				want += w.Info.Elements() * 4
			}
		} else {
			priv, err := m.privateWeights(true)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range priv {
				want += int64(len(p.data)+63) &^ 63
			}
		}
		if fp.Weights != want || want == 0 || fp.Mapped {
			t.Errorf("%+v: estimated weights %d bytes (mapped %v), the model holds %d", opt, fp.Weights, fp.Mapped, want)
		}
	}
}

// Closing a model stops its backend's kernel workers: a server that loads
// and unloads models must get its goroutines back.
func TestModelCloseStopsWorkers(t *testing.T) {
	runtime.GC()
	base := runtime.NumGoroutine()
	for range 3 {
		lm := tinyLM(t, Options{Backend: "dayi:threads=4"})
		if _, err := lm.Generate(context.Background(), &Request{Prompt: "Once", MaxTokens: 4}, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if runtime.NumGoroutine() < base+3 {
			t.Fatalf("a 4-thread model runs %d goroutines beside %d: no workers to stop?", runtime.NumGoroutine(), base)
		}
		lm.Close()
		lm.Close() // idempotent
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before 3 loads and closes, %d after", base, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client drives one dayi (or Ollama) server through /api/generate.
type Client struct {
	URL   string // e.g. http://127.0.0.1:41234
	Model string
	HTTP  *http.Client // nil: http.DefaultClient
}

// Stream is one client's view of one generation.
type Stream struct {
	Prompt       string        `json:"-"`
	Text         string        `json:"-"`
	PromptTokens int           `json:"prompt_tokens"` // as the server counted them
	GenTokens    int           `json:"gen_tokens"`
	DoneReason   string        `json:"done_reason"`
	Start        time.Time     `json:"-"`
	FirstToken   time.Duration `json:"ttft_ns"`  // from sending the request to the first text
	LastToken    time.Duration `json:"last_ns"`  // to the last text
	Duration     time.Duration `json:"total_ns"` // to the final message
}

// generateRequest is the Ollama /api/generate body: raw text (no template)
// and greedy options as dayi's and llama.cpp's greedy references use them.
type generateRequest struct {
	Model   string         `json:"model"`
	Prompt  string         `json:"prompt"`
	Raw     bool           `json:"raw"`
	Stream  bool           `json:"stream"`
	Options map[string]any `json:"options"`
}

type generateChunk struct {
	Response        string `json:"response"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

// Generate streams one greedy generation of up to gen tokens and times it.
// The Ollama API has no "ignore EOS": a stream that meets an end-of-
// generation token stops early, and its GenTokens says so.
func (c *Client) Generate(ctx context.Context, prompt string, gen int) (Stream, error) {
	body, err := json.Marshal(generateRequest{Model: c.Model, Prompt: prompt, Raw: true, Stream: true,
		Options: map[string]any{"temperature": 0, "repeat_penalty": 1, "num_predict": gen}})
	if err != nil {
		return Stream{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/api/generate", bytes.NewReader(body))
	if err != nil {
		return Stream{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	s := Stream{Prompt: prompt, Start: time.Now()}
	resp, err := hc.Do(req)
	if err != nil {
		return s, fmt.Errorf("generate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return s, fmt.Errorf("generate: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var ch generateChunk
		if err := json.Unmarshal(sc.Bytes(), &ch); err != nil {
			return s, fmt.Errorf("generate: stream line: %w", err)
		}
		if ch.Error != "" {
			return s, fmt.Errorf("generate: server: %s", ch.Error)
		}
		if ch.Response != "" {
			d := time.Since(s.Start)
			if s.FirstToken == 0 {
				s.FirstToken = d
			}
			s.LastToken = d
			text.WriteString(ch.Response)
		}
		if ch.Done {
			s.Duration = time.Since(s.Start)
			s.PromptTokens, s.GenTokens, s.DoneReason = ch.PromptEvalCount, ch.EvalCount, ch.DoneReason
			s.Text = text.String()
			if s.FirstToken == 0 { // no text at all: count the end as the first token
				s.FirstToken, s.LastToken = s.Duration, s.Duration
			}
			return s, nil
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("generate: reading the stream: %w", err)
	}
	return s, fmt.Errorf("generate: stream ended without a final message")
}

// Round is the result of N streams started together.
//
// Aggregates (all streams, wall-clock from the moment all were started):
//   - PrefillTPS: Σ prompt tokens / time until the last stream's first token
//     (every prompt read and answered with one token);
//   - DecodeTPS: Σ (generated − 1) tokens / the time during which at least
//     one stream was between its first and its last token (the union of
//     those intervals), so prefill before any decoding is not counted and
//     N requests decoding together count once;
//   - TotalTPS: Σ (prompt + generated) / Wall, like llama-batched-bench's
//     "S t/s".
//
// TTFT is measured by the client (request sent to first text), ITL per
// stream as (last − first text) / (generated − 1); medians over streams.
type Round struct {
	Streams      int      `json:"streams"`
	PromptTokens int      `json:"prompt_tokens"`
	GenTokens    int      `json:"gen_tokens"`
	ShortStreams int      `json:"short_streams"` // streams that stopped before the requested count
	Wall         float64  `json:"wall_s"`
	PrefillTPS   float64  `json:"prefill_tps"`
	DecodeTPS    float64  `json:"decode_tps"`
	TotalTPS     float64  `json:"total_tps"`
	TTFTMedian   float64  `json:"ttft_p50_ms"`
	TTFTP90      float64  `json:"ttft_p90_ms"`
	ITLMedian    float64  `json:"itl_p50_ms"`
	PeakActive   int      `json:"peak_active"` // most generations the server's /metrics showed running at once
	Results      []Stream `json:"-"`
}

// RunRound starts one stream per prompt at the same moment and waits for all.
// While they run it samples the server's /metrics (dayi_requests_active)
// every few milliseconds for PeakActive; a server without /metrics leaves 0.
func (c *Client) RunRound(ctx context.Context, prompts []string, gen int) (Round, error) {
	n := len(prompts)
	res := make([]Stream, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res[i], errs[i] = c.Generate(ctx, prompts[i], gen)
		}()
	}
	stop := make(chan struct{})
	peak := make(chan int, 1)
	go func() { peak <- c.samplePeak(ctx, stop) }()
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	close(stop)
	pk := <-peak
	for i, err := range errs {
		if err != nil {
			return Round{}, fmt.Errorf("stream %d of %d: %w", i+1, n, err)
		}
	}
	r := summarize(res, t0, wall, gen)
	r.PeakActive = pk
	return r, nil
}

func summarize(res []Stream, t0 time.Time, wall time.Duration, gen int) Round {
	r := Round{Streams: len(res), Wall: wall.Seconds(), Results: res}
	type span struct{ a, b time.Duration }
	var spans []span
	var lastFirst time.Duration
	var ttft, itl []float64
	decoded := 0
	for _, s := range res {
		r.PromptTokens += s.PromptTokens
		r.GenTokens += s.GenTokens
		if s.GenTokens < gen {
			r.ShortStreams++
		}
		off := s.Start.Sub(t0)
		first, last := off+s.FirstToken, off+s.LastToken
		lastFirst = max(lastFirst, first)
		ttft = append(ttft, ms(s.FirstToken))
		if s.GenTokens > 1 {
			spans = append(spans, span{first, last})
			decoded += s.GenTokens - 1
			itl = append(itl, ms(s.LastToken-s.FirstToken)/float64(s.GenTokens-1))
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return int(x.a - y.a) })
	var union, end time.Duration
	for _, sp := range spans {
		a := max(sp.a, end)
		if sp.b > a {
			union += sp.b - a
			end = sp.b
		}
	}
	if lastFirst > 0 {
		r.PrefillTPS = float64(r.PromptTokens) / lastFirst.Seconds()
	}
	if union > 0 {
		r.DecodeTPS = float64(decoded) / union.Seconds()
	}
	if wall > 0 {
		r.TotalTPS = float64(r.PromptTokens+r.GenTokens) / wall.Seconds()
	}
	r.TTFTMedian, r.TTFTP90 = quantile(ttft, 0.5), quantile(ttft, 0.9)
	r.ITLMedian = quantile(itl, 0.5)
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile is the nearest-rank quantile (q in (0,1]) of x; 0 for none.
func quantile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if q == 0.5 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// samplePeak polls /metrics until stop and returns the largest
// dayi_requests_active it saw.
func (c *Client) samplePeak(ctx context.Context, stop <-chan struct{}) int {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	peak := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return peak
		case <-ctx.Done():
			return peak
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/metrics", nil)
		if err != nil {
			return peak
		}
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		peak = max(peak, activeGauge(resp.Body))
		resp.Body.Close()
	}
}

// activeGauge finds "dayi_requests_active N" in a metrics page.
func activeGauge(r io.Reader) int {
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "dayi_requests_active "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

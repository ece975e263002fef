// Command firstprompt times the first prompt after loading a model, as
// `dayi run` meets it, in wall and process CPU seconds (CPU time survives a
// machine shared with other jobs far better than wall time; run it with one
// thread, -t 1, for that). -mode old emulates dayi before the load-time
// warm-up and the filled-bucket prefill (a model loaded with
// engine.Options.NoWarmup and the prompt as one step of the smallest bucket
// holding it, padding included); -mode new is today's (warm-up at load, the
// prompt in the largest buckets it fills plus one padded step, as
// engine's evalTail). -second also times a second prompt of similar length
// (the first-call cost is the difference), -gen N then N decode steps.
//
//	go run ./benchmarks/firstprompt -m llama-1b-q4_k_m.gguf -t 1 -mode new -second -gen 8
//
// Alternate builds or modes in one shell loop and compare medians
// (benchmarks/README.md, "First prompt and K-quants").
//go:build unix

package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dayi/engine"
	"dayi/weights"
)

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func main() {
	model := flag.String("m", "", "GGUF model file")
	threads := flag.Int("t", 1, "kernel threads")
	mode := flag.String("mode", "new", "new (warm-up, filled buckets) or old (emulated: no warm-up, one padded step)")
	second := flag.Bool("second", false, "also time a second prompt of the same length")
	gen := flag.Int("gen", 0, "decode steps to time after the prompt")
	bucketList := flag.String("buckets", "4,16,64,256", "prefill step sizes (engine.Options.Buckets; engine's default)")
	text := flag.String("text", "", "the first prompt's text instead of the default 155-token one")
	flag.Parse()
	if *mode != "old" && *mode != "new" {
		log.Fatalf("-mode %q: want old or new", *mode)
	}
	ctx := context.Background()
	f, err := weights.Open(*model)
	if err != nil {
		log.Fatal(err)
	}
	var buckets []int
	for _, b := range strings.Split(*bucketList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 1 {
			log.Fatalf("-buckets %q: want positive step sizes", *bucketList)
		}
		buckets = append(buckets, n)
	}
	slices.Sort(buckets)
	m, err := engine.Load(f, engine.Options{Threads: *threads, ContextLength: 512, PrefixCacheBytes: -1, NoWarmup: *mode == "old", Buckets: buckets})
	if err != nil {
		log.Fatal(err)
	}
	lm, err := engine.NewLM(m)
	if err != nil {
		log.Fatal(err)
	}
	prompts := []string{strings.Repeat("The patient reports chest pain and shortness of breath since yesterday. ", 11),
		strings.Repeat("The child reports belly pain and loss of appetite since last Tuesday. ", 11)}
	if *text != "" {
		prompts[0] = *text
	}
	for i, p := range prompts {
		if i == 1 && !*second {
			break
		}
		ids := lm.Tok.Encode(p, true, false)
		s, err := m.NewSession()
		if err != nil {
			log.Fatal(err)
		}
		c0, t0 := cpu(), time.Now()
		if *mode == "old" {
			_, err = s.Eval(ctx, ids)
		} else {
			rest := ids
			for len(rest) > 0 && err == nil {
				n := len(rest)
				for j := len(buckets) - 1; j >= 0; j-- {
					if buckets[j] <= n {
						n = buckets[j]
						if j == 0 && len(buckets) > 1 { // evalTail: no run of smallest-bucket steps
							n = len(rest)
						}
						break
					}
				}
				_, err = s.Eval(ctx, rest[:n])
				rest = rest[n:]
			}
		}
		if err != nil {
			log.Fatal(err)
		}
		wall, c := time.Since(t0).Seconds(), cpu()-c0
		fmt.Printf("%s prompt%d tokens=%d prefill_wall=%.3fs prefill_cpu=%.3fs tok/s_wall=%.1f tok/s_cpu=%.1f\n", *mode, i, len(ids), wall, c, float64(len(ids))/wall, float64(len(ids))/c)
		if *gen > 0 {
			c0, t0 = cpu(), time.Now()
			for j := 0; j < *gen; j++ {
				if _, err := s.Eval(ctx, []int32{int32(1000 + j)}); err != nil {
					log.Fatal(err)
				}
			}
			wall, c = time.Since(t0).Seconds(), cpu()-c0
			fmt.Printf("%s decode%d tokens=%d decode_wall=%.3fs decode_cpu=%.3fs tok/s_wall=%.2f tok/s_cpu=%.2f\n", *mode, i, *gen, wall, c, float64(*gen)/wall, float64(*gen)/c)
		}
		s.Close()
	}
}

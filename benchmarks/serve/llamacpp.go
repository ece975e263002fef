package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// BatchedRow is one row of llama-batched-bench's results: PP prompt tokens
// and TG generated tokens for each of B parallel sequences, with the time
// (s) and speed (tokens/s) of the prompt phase, the generation phase and
// the whole.
type BatchedRow struct {
	PP  int     `json:"pp"`
	TG  int     `json:"tg"`
	B   int     `json:"pl"`
	NKV int     `json:"n_kv"`
	TPP float64 `json:"t_pp"`
	SPP float64 `json:"speed_pp"`
	TTG float64 `json:"t_tg"`
	STG float64 `json:"speed_tg"`
	T   float64 `json:"t"`
	S   float64 `json:"speed"`
}

// ParseBatchedBench reads llama-batched-bench's output: the markdown table it
// prints by default ("|    PP |     TG |    B | …" rows) and the JSON lines of
// --output-format jsonl, mixed with any log lines, which it skips. The table
// is what RunBatchedBench asks for: in v0.5.0 the jsonl mode drops its last
// row when the process exits before its asynchronous logger flushes it
// (seen in testdata/batched-bench-jsonl.stdout, which should hold three
// rows), while the table is followed by a final empty line that pushes the
// last row out.
func ParseBatchedBench(r io.Reader) ([]BatchedRow, error) {
	var rows []BatchedRow
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "{") && strings.Contains(line, `"speed_tg"`):
			var row BatchedRow
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				return nil, fmt.Errorf("llama-batched-bench jsonl line %q: %w", line, err)
			}
			rows = append(rows, row)
		case strings.HasPrefix(line, "|"):
			row, ok, err := parseTableRow(line)
			if err != nil {
				return nil, err
			}
			if ok {
				rows = append(rows, row)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading llama-batched-bench output: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("llama-batched-bench output has no result rows")
	}
	return rows, nil
}

// parseTableRow parses "|  128 |  64 |  4 |  768 | 1.2 | …" (10 columns).
// The header and the separator line are not rows (ok false).
func parseTableRow(line string) (BatchedRow, bool, error) {
	cells := strings.Split(strings.Trim(line, "|"), "|")
	if len(cells) != 10 {
		return BatchedRow{}, false, nil
	}
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	if _, err := strconv.Atoi(cells[0]); err != nil {
		return BatchedRow{}, false, nil // header or separator
	}
	var ints [4]int
	var fl [6]float64
	for i := range 4 {
		v, err := strconv.Atoi(cells[i])
		if err != nil {
			return BatchedRow{}, false, fmt.Errorf("llama-batched-bench row %q, column %d: %w", line, i+1, err)
		}
		ints[i] = v
	}
	for i := range 6 {
		v, err := strconv.ParseFloat(cells[4+i], 64)
		if err != nil {
			return BatchedRow{}, false, fmt.Errorf("llama-batched-bench row %q, column %d: %w", line, i+5, err)
		}
		fl[i] = v
	}
	return BatchedRow{PP: ints[0], TG: ints[1], B: ints[2], NKV: ints[3],
		TPP: fl[0], SPP: fl[1], TTG: fl[2], STG: fl[3], T: fl[4], S: fl[5]}, true, nil
}

// BatchedBenchArgs are llama-batched-bench's arguments for the same run as
// dayi's: each of the streams sequences gets ctxPerSeq tokens of KV cache
// (llama.cpp's cache is shared by all sequences, so -c is the largest
// stream count times that; a row whose sequences do not fit is silently
// skipped by llama-batched-bench), CPU only.
func BatchedBenchArgs(model string, threads, ctxPerSeq, prompt, gen int, streams []int, sharedPrefix bool) []string {
	maxN := 1
	ns := make([]string, len(streams))
	for i, n := range streams {
		maxN = max(maxN, n)
		ns[i] = strconv.Itoa(n)
	}
	args := []string{"-m", model, "-t", strconv.Itoa(threads), "-tb", strconv.Itoa(threads),
		"-c", strconv.Itoa(maxN * ctxPerSeq), "-ngl", "0",
		"-npp", strconv.Itoa(prompt), "-ntg", strconv.Itoa(gen), "-npl", strings.Join(ns, ",")}
	if sharedPrefix {
		args = append(args, "-pps")
	}
	return args
}

// RunBatchedBench runs bin with args and parses its table.
func RunBatchedBench(ctx context.Context, bin string, args []string) ([]BatchedRow, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", bin, err, tail(errb.String(), 2000))
	}
	rows, err := ParseBatchedBench(io.MultiReader(&out, strings.NewReader("\n"), &errb))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	return rows, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// EnsureBatchedBench returns llama-batched-bench from the same CMake build
// as llamaBench (dayi bench compare's cached build: <dir>/build/bin/…),
// building that one target there when it is missing; the libraries are
// built already, so this is a link step.
func EnsureBatchedBench(ctx context.Context, llamaBench string, log io.Writer) (string, error) {
	binDir := filepath.Dir(llamaBench)
	bin := filepath.Join(binDir, "llama-batched-bench")
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() {
		return bin, nil
	}
	build := filepath.Dir(binDir)
	args := []string{"--build", build, "--config", "Release", "--target", "llama-batched-bench", "-j"}
	fmt.Fprintf(log, "$ cmake %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "cmake", args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building llama-batched-bench in %s: %w", build, err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("llama-batched-bench not found after the build: %w", err)
	}
	return bin, nil
}

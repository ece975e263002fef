package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dayi/server"
)

// addResourceFlags registers the flags that bound shared resources (issue
// 15, findings 6 and 7): the model memory budget and slow-reader handling.
func addResourceFlags(cmd *cobra.Command, cfg *server.Config) {
	f := cmd.Flags()
	f.Var((*memSize)(&cfg.MaxModelMemory), "max-model-memory",
		"memory for loaded models: a size (8GiB, 512MiB, 4G), a share of the available memory (50%), or off; "+
			"a load beyond it evicts idle models or answers 503")
	f.IntVar(&cfg.StreamBuffer, "stream-buffer", 256, "text pieces buffered per streaming request for its client")
	f.DurationVar(&cfg.SlowReaderTimeout, "slow-reader-timeout", 10*time.Second,
		"cancel a streaming request whose client leaves its buffer full this long")
	f.DurationVar(&cfg.WriteChunkTimeout, "write-chunk-timeout", 60*time.Second, "deadline for writing one streamed chunk")
}

// memSize is a byte count flag: 0 is the server's default, -1 no limit.
type memSize int64

func (m *memSize) String() string {
	switch {
	case *m == 0:
		return "80%"
	case *m < 0:
		return "off"
	}
	return strconv.FormatInt(int64(*m), 10)
}

func (m *memSize) Type() string { return "size" }

func (m *memSize) Set(s string) error {
	v, err := parseMemSize(s, server.AvailableMemory)
	if err != nil {
		return err
	}
	*m = memSize(v)
	return nil
}

// parseMemSize reads "8GiB", "8G" (binary), "8GB" (decimal), plain bytes,
// "N%" of what avail reports, "off" (-1) or "auto" (0: the default).
func parseMemSize(s string, avail func() int64) (int64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "off", "none", "unlimited", "-1":
		return -1, nil
	case "", "auto", "0":
		return 0, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		pct, err := strconv.ParseFloat(p, 64)
		if err != nil || pct <= 0 || pct > 100 {
			return 0, fmt.Errorf("memory share %q: want a percentage in (0, 100]", s)
		}
		a := avail()
		if a <= 0 {
			return 0, fmt.Errorf("memory share %q: the available memory cannot be read here; give a size such as 8GiB", s)
		}
		return int64(float64(a) * pct / 100), nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	}
	mult := map[string]float64{"": 1, "B": 1,
		"K": 1 << 10, "KI": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MI": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GI": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TI": 1 << 40, "TIB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v <= 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("memory size %q: want e.g. 8GiB, 512MiB, 50%% or off", s)
	}
	return int64(v * mult), nil
}

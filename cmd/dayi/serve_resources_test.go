package main

import "testing"

func TestParseMemSize(t *testing.T) {
	avail := func() int64 { return 10 << 30 }
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"8GiB", 8 << 30}, {"8G", 8 << 30}, {"8GB", 8e9}, {"512MiB", 512 << 20}, {"1.5g", 3 << 29}, {"4096", 4096},
		{"50%", 5 << 30}, {"off", -1}, {"auto", 0},
	} {
		got, err := parseMemSize(c.in, avail)
		if err != nil || got != c.want {
			t.Errorf("%q: %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"8XB", "-5G", "0%", "150%", "abc", "1e30", "99999999999T"} {
		if v, err := parseMemSize(bad, avail); err == nil {
			t.Errorf("%q accepted as %d", bad, v)
		}
	}
	if _, err := parseMemSize("50%", func() int64 { return 0 }); err == nil {
		t.Error("a share accepted where the available memory is unknown")
	}
}

package compare

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxRSS is a finished child's peak resident set (wait4 rusage, KiB on
// Linux). It is only a fallback: Linux keeps ru_maxrss across exec, and Go
// starts children with vfork, so a child's figure is at least the parent's
// own high-water mark at that moment (bench compare's, which holds a 1 GiB
// bandwidth buffer and quantizes models in-process): every llama.cpp peak
// RSS in the tables before 2026-12-06 10:50 UTC was that.
func maxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}

// SelfPeakRSS is this process's VmHWM (peak resident set) in bytes, 0 when
// /proc is unavailable.
func SelfPeakRSS() int64 { return vmHWM("/proc/self/status") }

// vmHWM reads VmHWM from a /proc status file, in bytes (0 if unreadable).
func vmHWM(path string) int64 {
	fd, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer fd.Close()
	sc := bufio.NewScanner(fd)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// watchPeakRSS polls the VmHWM of the running process pid (which has
// already exec'd: its own address space, unlike ru_maxrss) every 20 ms
// until stop is called, and stop returns the largest value seen. A model's
// weights stay resident for the whole run, so the last reads before exit
// are the peak.
func watchPeakRSS(pid int) (stop func() int64) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	var (
		mu   sync.Mutex
		peak int64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	poll := func() {
		if v := vmHWM(path); v > 0 {
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			poll()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

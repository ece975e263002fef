package weights

import "syscall"

// adviseHugePages asks Linux to back b with transparent huge pages: a decode
// step sweeps every weight once, and 2 MiB pages cut its TLB misses. It is
// advice: failure (THP disabled) changes nothing.
func adviseHugePages(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }

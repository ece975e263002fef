//go:build unix && !linux

package weights

// adviseHugePages is a no-op where transparent huge pages are not available.
func adviseHugePages([]byte) {}

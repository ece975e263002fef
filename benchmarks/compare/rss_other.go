//go:build !linux

package compare

import "os"

// maxRSS is not measured off Linux.
func maxRSS(*os.ProcessState) int64 { return 0 }

// SelfPeakRSS is not measured off Linux.
func SelfPeakRSS() int64 { return 0 }

// watchPeakRSS is not measured off Linux.
func watchPeakRSS(int) func() int64 { return func() int64 { return 0 } }

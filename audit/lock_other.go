//go:build !unix || solaris || aix

package audit

import "os"

// lockFile is a no-op where flock does not exist: run one server per log.
func lockFile(*os.File) error { return nil }

//go:build !unix

package auth

// lockFile is a no-op where flock does not exist: concurrent `dayi keys`
// commands there may lose one of their changes (the file is never torn).
func lockFile(path string) (unlock func(), err error) { return func() {}, nil }

//go:build !cuda || !linux || !(amd64 || arm64)

package cuda

// loadDriver: binaries built without -tags cuda never load libcuda, so the
// release binaries stay static (CGO_ENABLED=0, no dynamic loader).
func loadDriver() (*driverAPI, error) { return nil, ErrNotBuilt }

//go:build !unix

package pull

import "os"

// lockPartial is a no-op where flock is not available.
func lockPartial(*os.File) error { return nil }

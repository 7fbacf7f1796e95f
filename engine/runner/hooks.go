//go:build !wardentest

package runner

// hooks are test-only behaviours of the engine process, compiled in only
// under the wardentest build tag (hooks_wardentest.go): a production
// binary has none, whatever its environment says.
type hooks struct{}

func testHooks() hooks { return hooks{} }

func (hooks) runProbe() map[string]string { return nil }

func (hooks) afterPiece(generateMsg, int) {}

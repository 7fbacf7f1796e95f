package llamacpp

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/models/testmodel"
)

// TestAdmitWaitHoldsAFreedSlot: with AdmitWait, the step after a request
// ends waits for the next request (as a caller in another process sends
// it a few milliseconds later), and one arriving ends the wait at once.
// Without it, the other sequences go on at once. The wait (5 s) is long
// against the windows observed (300 ms), so the test does not race the
// clock.
func TestAdmitWaitHoldsAFreedSlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.gguf")
	if _, _, err := testmodel.WriteFile(path, testmodel.Demo()); err != nil {
		t.Fatal(err)
	}
	for _, wait := range []time.Duration{0, 5 * time.Second} {
		m, err := Load(context.Background(), Config{Path: path, Context: 512, Parallel: 2, Threads: 2, AdmitWait: wait})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var pieces atomic.Int64
		long := make(chan error, 1)
		started := make(chan struct{})
		go func() {
			_, err := m.Generate(ctx, engine.Request{Prompt: "the cat", IgnoreEOS: true}, func(string) error {
				if pieces.Add(1) == 1 {
					close(started)
				}
				return nil
			})
			long <- err
		}()
		<-started
		if _, _, err := generate(context.Background(), m, engine.Request{Prompt: "a dog", MaxTokens: 2, IgnoreEOS: true}); err != nil {
			t.Fatal(err)
		}
		before := pieces.Load()
		time.Sleep(300 * time.Millisecond)
		during := pieces.Load() - before
		if wait == 0 && during == 0 {
			t.Errorf("without AdmitWait the running request made no progress for 300 ms after another ended")
		}
		if wait > 0 {
			if during > 1 { // one step may already have begun
				t.Errorf("with AdmitWait the running request went on for %d pieces while the freed slot waited", during)
			}
			start := time.Now()
			if _, _, err := generate(context.Background(), m, engine.Request{Prompt: "a bird", MaxTokens: 2, IgnoreEOS: true}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > wait/2 {
				t.Errorf("the request that arrived during the wait took %s: it did not end the wait", d)
			}
		}
		cancel()
		<-long
		m.Close()
	}
}

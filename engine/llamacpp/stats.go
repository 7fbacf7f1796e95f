package llamacpp

import (
	"sync/atomic"
	"time"

	"github.com/warden-llm/warden/engine"
)

// liveStats is what Stats reports beyond the configuration. Only the
// decode loop may touch its slots and caches, so it publishes copies here
// for other goroutines to read.
type liveStats struct {
	busy     atomic.Int64 // slots holding a request
	kvUsed   atomic.Int64 // tokens whose KV cells the sequences hold
	steps    atomic.Int64 // llama_decode calls: fewer than requests when they share steps
	loadTime time.Duration
}

// publish copies the loop's state for Stats. The loop calls it before each
// admission, so what Stats shows is at most one decode step old, and
// exact while the loop waits for work.
func (l *decodeLoop) publish() {
	busy, cells := 0, 0
	for i, s := range l.slots {
		if s != nil {
			busy++
		}
		cells += len(l.cached[i])
	}
	l.m.live.busy.Store(int64(busy))
	l.m.live.kvUsed.Store(int64(cells))
}

// Stats reports the model's memory, slots and queue, for metrics and
// warden ps. KV use is counted in tokens the loop placed, one cell each:
// the pinned C API has no call for the cache's own count.
func (m *Model) Stats() engine.Stats {
	busy := int(m.live.busy.Load())
	return engine.Stats{
		Parallel: m.cfg.Parallel,
		Busy:     busy,
		// A ticket is held from admission until Generate returns, so the
		// tickets not matched by a busy slot are requests waiting for one
		// or handing their last tokens to the client. An Embed call holds
		// one ticket for up to Parallel slots, so while one runs this can
		// count fewer waiting than there are.
		Waiting:     max(0, len(m.tickets)-busy),
		QueueLimit:  m.cfg.Queue,
		KVCells:     m.cfg.Context * m.cfg.Parallel,
		KVCellsUsed: int(m.live.kvUsed.Load()),
		Memory: engine.MemoryUse{
			Weights: m.memory.Sum("model"),
			KV:      m.memory.Sum("KV", "RS"),
			Compute: m.memory.Sum("compute", "output"),
		},
		LoadTime: m.live.loadTime,
	}
}

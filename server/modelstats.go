package server

import "github.com/warden-llm/warden/engine"

// statsReporter is a model that can tell its live resource use, as
// llamacpp.Model does; other models show none.
type statsReporter interface{ Stats() engine.Stats }

// stats reports a loaded model's resource use, if it can tell.
func (r *registry) stats(name string) (engine.Stats, bool) {
	r.mu.RLock()
	m, ok := r.models[name]
	r.mu.RUnlock()
	if !ok {
		return engine.Stats{}, false
	}
	sr, ok := m.gen.(statsReporter)
	if !ok {
		return engine.Stats{}, false
	}
	return sr.Stats(), true
}

// ModelStats is a loaded model's resource use as GET /admin/models shows
// it (and warden ps reads it).
type ModelStats struct {
	Parallel    int         `json:"parallel"`
	SlotsBusy   int         `json:"slots_busy"`
	QueueDepth  int         `json:"queue_depth"`
	QueueLimit  int         `json:"queue_limit"`
	KVCells     int         `json:"kv_cache_cells"`
	KVCellsUsed int         `json:"kv_cache_cells_used"`
	Memory      MemoryBytes `json:"memory_bytes"`
	LoadSeconds float64     `json:"load_seconds"`
	// Engine is the model's engine process, when it runs in one.
	Engine *EngineProcess `json:"engine,omitempty"`
}

// EngineProcess is a model's engine process as GET /admin/models shows it.
type EngineProcess struct {
	PID      int                     `json:"pid"`
	State    string                  `json:"state"`
	Restarts int                     `json:"restarts"`
	Crashes  int                     `json:"crashes"`
	LastExit string                  `json:"last_exit,omitempty"`
	Sandbox  []engine.SandboxMeasure `json:"sandbox"`
}

// MemoryBytes is what a model allocated, on every device together.
type MemoryBytes struct {
	Weights uint64 `json:"weights"`
	KV      uint64 `json:"kv"`
	Compute uint64 `json:"compute"`
}

// statsJSON is name's ModelStats, or nil when its engine cannot tell.
func (r *registry) statsJSON(name string) *ModelStats {
	st, ok := r.stats(name)
	if !ok {
		return nil
	}
	ms := &ModelStats{
		Parallel: st.Parallel, SlotsBusy: st.Busy, QueueDepth: st.Waiting, QueueLimit: st.QueueLimit,
		KVCells: st.KVCells, KVCellsUsed: st.KVCellsUsed,
		Memory:      MemoryBytes{Weights: st.Memory.Weights, KV: st.Memory.KV, Compute: st.Memory.Compute},
		LoadSeconds: st.LoadTime.Seconds(),
	}
	if p := st.Process; p != nil {
		ms.Engine = &EngineProcess{PID: p.PID, State: p.State, Restarts: max(0, p.Starts-1), Crashes: p.Crashes,
			LastExit: p.LastExit, Sandbox: p.Sandbox}
	}
	return ms
}

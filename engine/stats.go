package engine

import "time"

// Stats is a live view of a loaded model's resources: what its memory
// holds, how busy its sequences are and how many requests wait. Generators
// that can tell offer it through a Stats() Stats method, which metrics and
// `warden ps` read; it is optional, so fakes and other engines need not.
type Stats struct {
	Parallel    int // sequences decoded together
	Busy        int // sequences running a request
	Waiting     int // requests admitted but not (or no longer) holding a sequence
	QueueLimit  int // most requests that may wait beyond Parallel
	KVCells     int // KV cache cells, all sequences together
	KVCellsUsed int // cells holding tokens, prefixes kept for reuse included

	Memory   MemoryUse
	LoadTime time.Duration // reading the weights and setting up the context

	// Process describes the separate process the engine runs in, for
	// models that run in one (engine/runner); nil for an in-process one.
	Process *Process
}

// Process is an engine's own process as its supervisor sees it.
type Process struct {
	PID      int    // of the running engine process; 0 while there is none
	State    string // ProcessRunning, ProcessRestarting, ProcessFailed or ProcessStopped
	Starts   int    // engine processes started for this model, the first included
	Crashes  int    // of them, those that died unasked
	LastExit string // how the last one to die ended, e.g. "signal: aborted"
	// Sandbox lists the confinement measures and whether each is in
	// force in the engine process (engine/sandbox).
	Sandbox []SandboxMeasure
}

// States of an engine process.
const (
	ProcessRunning    = "running"
	ProcessRestarting = "restarting"
	ProcessFailed     = "failed" // crashed too often in a row: given up
	ProcessStopped    = "stopped"
)

// SandboxMeasure is one confinement measure of an engine process.
type SandboxMeasure struct {
	Name    string `json:"name"`
	InForce bool   `json:"in_force"`
	Detail  string `json:"detail,omitempty"`
}

// MemoryUse is what a model allocated, in bytes, on every device together.
type MemoryUse struct {
	Weights uint64
	KV      uint64 // KV cache (and recurrent state)
	Compute uint64 // scratch buffers for one decode step, and the output
}

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
}

// MemoryUse is what a model allocated, in bytes, on every device together.
type MemoryUse struct {
	Weights uint64
	KV      uint64 // KV cache (and recurrent state)
	Compute uint64 // scratch buffers for one decode step, and the output
}

package llamacpp

import (
	"context"
	"testing"

	"github.com/warden-llm/warden/engine"
)

// TestStatsOfLoadedModel: the configuration, memory and load time of a
// real load, and the KV cells a finished request leaves for reuse.
func TestStatsOfLoadedModel(t *testing.T) {
	m := loadDemo(t, 1)
	st := m.Stats()
	if st.Parallel != 1 || st.KVCells != 512 || st.QueueLimit != DefaultQueue {
		t.Errorf("parallel %d, KV cells %d, queue limit %d: want 1, 512, %d", st.Parallel, st.KVCells, st.QueueLimit, DefaultQueue)
	}
	mem := m.Memory()
	if st.Memory.Weights == 0 || st.Memory.Weights != mem.Sum("model") || st.Memory.KV != mem.Sum("KV", "RS") {
		t.Errorf("memory %+v does not match the buffers llama.cpp reported: %+v", st.Memory, mem)
	}
	if st.LoadTime <= 0 {
		t.Errorf("load time %v", st.LoadTime)
	}

	// With one slot, the second request is admitted only after the first
	// released it, and the loop publishes before each admission: from then
	// on the slot holds at least the shared prompt, at most the prompt and
	// every sampled token but the last (the tokens fed to the model).
	req := engine.Request{Prompt: "the cat sat on the mat", MaxTokens: 8, IgnoreEOS: true}
	var res engine.Result
	for range 2 {
		var err error
		if _, res, err = generate(context.Background(), m, req); err != nil {
			t.Fatal(err)
		}
	}
	lo, hi := res.PromptTokens, res.PromptTokens+res.CompletionTokens-1
	if used := m.Stats().KVCellsUsed; used < lo || used > hi {
		t.Errorf("KV cells used %d: want %d to %d", used, lo, hi)
	}
}

// TestPublishCountsSlotsAndCells drives publish without llama.cpp: busy
// slots, cached tokens of free ones, and waiting tickets all show.
func TestPublishCountsSlotsAndCells(t *testing.T) {
	m := &Model{cfg: Config{Context: 100, Parallel: 3, Queue: 4}, tickets: make(chan struct{}, 7)}
	l := &decodeLoop{m: m, slots: make([]*slot, 3), cached: [][]int{{1, 2, 3}, nil, {4, 5}}}
	l.slots[2] = &slot{seq: 2}
	for range 4 {
		m.tickets <- struct{}{}
	}
	l.publish()
	st := m.Stats()
	if st.Busy != 1 || st.KVCellsUsed != 5 || st.Waiting != 3 || st.KVCells != 300 {
		t.Errorf("busy %d, cells used %d, waiting %d, cells %d: want 1, 5, 3, 300", st.Busy, st.KVCellsUsed, st.Waiting, st.KVCells)
	}
	l.slots[2] = nil
	l.cached[0] = nil
	l.publish()
	if st := m.Stats(); st.Busy != 0 || st.KVCellsUsed != 2 || st.Waiting != 4 {
		t.Errorf("after release: busy %d, cells used %d, waiting %d: want 0, 2, 4", st.Busy, st.KVCellsUsed, st.Waiting)
	}
}

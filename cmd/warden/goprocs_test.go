package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestGoProcs(t *testing.T) {
	for _, c := range []struct{ cores, threads, want int }{
		{2, 2, 1},   // the benchmark machine: llama.cpp takes both cores
		{16, 16, 1}, // never zero
		{16, 8, 8},  // --threads 8 leaves eight cores to Go
		{1, 1, 1},
		{4, 6, 1}, // more threads than cores
	} {
		if got := goProcs(c.cores, c.threads); got != c.want {
			t.Errorf("goProcs(%d cores, %d threads) = %d, want %d", c.cores, c.threads, got, c.want)
		}
	}
}

type fakeCPUModel int

func (m fakeCPUModel) CPUThreads() int { return int(m) }

// TestLimitGoProcs: a model on the CPU lowers GOMAXPROCS, one wholly on a
// GPU leaves it, and an explicit $GOMAXPROCS always wins.
func TestLimitGoProcs(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs at least 2 cores for GOMAXPROCS to be lowered")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("GOMAXPROCS", "")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	runtime.GOMAXPROCS(runtime.NumCPU())
	limitGoProcs(log, fakeCPUModel(0)) // every layer on a GPU
	if got := runtime.GOMAXPROCS(0); got != runtime.NumCPU() {
		t.Errorf("a GPU-only model changed GOMAXPROCS to %d", got)
	}

	limitGoProcs(log, fakeCPUModel(runtime.NumCPU()))
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("with llama.cpp on every core GOMAXPROCS is %d, want 1", got)
	}
	if !strings.Contains(logs.String(), "gomaxprocs=1") {
		t.Errorf("the change is not logged: %s", logs.String())
	}

	runtime.GOMAXPROCS(runtime.NumCPU())
	t.Setenv("GOMAXPROCS", "2")
	limitGoProcs(log, fakeCPUModel(runtime.NumCPU()))
	if got := runtime.GOMAXPROCS(0); got != runtime.NumCPU() {
		t.Errorf("$GOMAXPROCS was set, yet GOMAXPROCS became %d", got)
	}
}

// TestServeLeavesLlamaItsCores: serve, with the model on the CPU and
// llama.cpp on every core, runs Go on one.
func TestServeLeavesLlamaItsCores(t *testing.T) {
	if runtime.NumCPU() < 2 || os.Getenv("GOMAXPROCS") != "" {
		t.Skip("needs at least 2 cores and no $GOMAXPROCS")
	}
	w := startWarden(t, "--lock", repoLock)
	want := fmt.Sprintf("gomaxprocs=1 llama_threads=%d cores=%d", runtime.NumCPU(), runtime.NumCPU())
	if !strings.Contains(w.logs.String(), want) {
		t.Errorf("serve did not log %q:\n%s", want, w.logs.String())
	}
}

package main

import (
	"log/slog"
	"os"
	"runtime"
)

// cpuModel is a loaded model that may compute on the CPU.
type cpuModel interface {
	CPUThreads() int
}

// limitGoProcs leaves llama.cpp the cores its threads compute on. Its
// threads spin at a barrier after every operation of the graph, so a core
// taken by Go, even for microseconds (a goroutine waking to send a token,
// an idle P spinning to look for work, a GC worker), stalls the whole
// step. On the 2-core benchmark machine, in three alternating pairs of
// servers, one stream over HTTP decoded faster with GOMAXPROCS=1 than with
// 2 every time, by 0.4 to 2.0 of about 26 tok/s (docs/benchmarks.md). An
// explicit $GOMAXPROCS wins.
func limitGoProcs(log *slog.Logger, m cpuModel) {
	threads := m.CPUThreads()
	if threads == 0 || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	procs := goProcs(runtime.NumCPU(), threads)
	if procs < runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(procs)
		log.Info("Go limited to the cores llama.cpp leaves free (set GOMAXPROCS to override)",
			"gomaxprocs", procs, "llama_threads", threads, "cores", runtime.NumCPU())
	}
}

// goProcs is how many threads may run Go code at once on a machine of
// cores cores while llama.cpp computes on threads of them: what is left,
// and never fewer than one.
func goProcs(cores, threads int) int {
	return max(1, cores-threads)
}

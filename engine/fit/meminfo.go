package fit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// SystemMemory returns the machine's total memory and the memory available
// to a new process, from /proc/meminfo. ggml's CPU device reports all memory
// as free on Linux, which says nothing about what other processes use.
func SystemMemory() (total, available uint64, err error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, fmt.Errorf("system memory: %w", err)
	}
	defer f.Close()
	return parseMeminfo(f)
}

// parseMeminfo reads MemTotal and MemAvailable, which the kernel reports in
// KiB. MemAvailable counts reclaimable page cache, unlike MemFree.
func parseMeminfo(r io.Reader) (total, available uint64, err error) {
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		num, _ := strings.CutSuffix(strings.TrimSpace(rest), " kB")
		n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("meminfo %s: %q is not a number of kB", key, rest)
		}
		if key == "MemTotal" {
			total = n * KiB
		} else {
			available = n * KiB
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("meminfo: %w", err)
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("meminfo: MemTotal or MemAvailable missing")
	}
	return total, available, nil
}

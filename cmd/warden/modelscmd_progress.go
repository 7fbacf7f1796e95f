package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar reports hashing progress: a bar redrawn in place on a
// terminal, a line every few seconds otherwise (logs, pipes, CI).
type progressBar struct {
	w     io.Writer
	label string
	total int64
	term  bool
	start time.Time
	last  time.Time // of the last redraw or line
	drawn bool
}

const (
	barRedraw   = 100 * time.Millisecond
	barLogEvery = 5 * time.Second
	barWidth    = 30
)

func newProgressBar(w io.Writer, label string, total int64) *progressBar {
	now := time.Now()
	return &progressBar{w: w, label: label, total: total, term: isTerminal(w), start: now, last: now}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// update is a lockfile.HashFile progress function.
func (p *progressBar) update(done int64) {
	now := time.Now()
	switch {
	case p.term && (now.Sub(p.last) >= barRedraw || done == p.total):
		fmt.Fprintf(p.w, "\r%s", renderBar(p.label, done, p.total, now.Sub(p.start)))
		p.drawn = true
	case !p.term && now.Sub(p.last) >= barLogEvery:
		fmt.Fprintf(p.w, "%s: %d%% (%s of %s)\n", p.label, percent(done, p.total), humanBytes(done), humanBytes(p.total))
	default:
		return
	}
	p.last = now
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// renderBar draws one state of the bar, e.g.
// "hashing m.gguf [#######.......]  45%  280.0 MiB/620.0 MiB  1.9 GB/s".
func renderBar(label string, done, total int64, elapsed time.Duration) string {
	pct := percent(done, total)
	filled := min(barWidth, barWidth*pct/100)
	rate := ""
	if s := elapsed.Seconds(); s > 0 {
		rate = fmt.Sprintf("  %.1f GB/s", float64(done)/s/1e9)
	}
	return fmt.Sprintf("%s [%s%s] %3d%%  %s/%s%s", label,
		strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), pct, humanBytes(done), humanBytes(total), rate)
}

// percent is done as a whole percentage of total; an empty total is done.
func percent(done, total int64) int {
	if total <= 0 {
		return 100
	}
	return int(done * 100 / total)
}

package llamacpp

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadProgressLogsQuartersOfSlowLoads(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	clock := time.Unix(0, 0)
	progress := loadProgress(log, "m.gguf", func() time.Time { return clock })

	progress(0.10)
	progress(0.30) // a quarter, but within the quiet time: nothing
	clock = clock.Add(3 * time.Second)
	for _, p := range []float32{0.31, 0.55, 0.56, 0.80, 1.0} {
		progress(p)
	}
	got := strings.Count(buf.String(), "msg=\"loading model\"")
	if got != 3 || !strings.Contains(buf.String(), "percent=50") || !strings.Contains(buf.String(), "percent=100") ||
		strings.Contains(buf.String(), "percent=25") {
		t.Fatalf("%d lines:\n%s", got, buf.String())
	}
}

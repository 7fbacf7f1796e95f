package main

import (
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/server"
)

func TestPrintModels(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	models := []psModel{
		{Name: "big", SHA256: "0123456789abcdef0123", Context: 4096, LoadedAt: now.Add(-3 * time.Minute).Unix(),
			Stats: &server.ModelStats{Parallel: 4, SlotsBusy: 3, QueueDepth: 2, KVCells: 4000, KVCellsUsed: 1000,
				Memory: server.MemoryBytes{Weights: 3 << 30, KV: 512 << 20, Compute: 300 << 10}}},
		{Name: "plain", Context: 512, LoadedAt: now.Add(-1 * time.Second).Unix()},
	}
	var b strings.Builder
	if err := printModels(&b, models, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("want a header and two rows:\n%s", b.String())
	}
	// Columns line up: each row's fields start where the header's do.
	for _, col := range []string{"SHA256", "WEIGHTS", "CONTEXT", "LOADED"} {
		at := strings.Index(lines[0], col)
		for _, row := range lines[1:] {
			if at >= len(row) || row[at] == ' ' || row[at-1] != ' ' {
				t.Errorf("column %s does not line up in %q", col, row)
			}
		}
	}
	for _, want := range []string{"0123456789ab ", "3.00 GiB", "512.0 MiB", "300.0 KiB", " 4096 ", " 4 ", " 3 ", " 2 ", "25%", "3 minutes ago"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if strings.Contains(lines[1], "0123456789abc") {
		t.Errorf("row %q shows more than 12 hex digits of the hash", lines[1])
	}
	if got := strings.Fields(lines[2]); len(got) != 13 || got[0] != "plain" || got[1] != "-" || got[5] != "512" || got[10] != "1" {
		t.Errorf("a model without stats: %q", lines[2])
	}
}

func TestEmbeddingLine(t *testing.T) {
	loaded := []psModel{{Name: "chat"}, {Name: "embed"}}
	for _, tt := range []struct {
		list psList
		want string
	}{
		{psList{Data: loaded}, ""},
		{psList{Data: loaded, EmbeddingModel: "embed"}, "Document base embedding model: embed"},
		{psList{Data: loaded[:1], EmbeddingModel: "embed"}, "Document base embedding model: embed (NOT LOADED: indexing and search answer 503)"},
	} {
		if got := embeddingLine(tt.list); got != tt.want {
			t.Errorf("embeddingLine(%+v) = %q, want %q", tt.list, got, tt.want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for d, want := range map[time.Duration]string{
		0:                "0 seconds ago",
		-time.Minute:     "0 seconds ago", // a clock ahead of ours
		time.Second:      "1 second ago",
		90 * time.Second: "1 minute ago",
		59 * time.Minute: "59 minutes ago",
		47 * time.Hour:   "47 hours ago",
		72 * time.Hour:   "3 days ago",
	} {
		if got := ago(now.Add(-d), now); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}

package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/openai/openai-go"
)

// exportRecords reads the data directory's audit log through the CLI.
func exportRecords(t *testing.T, dataDir string) []map[string]any {
	t.Helper()
	out, err := runWarden(t, "audit", "export", "--data-dir", dataDir, "--format", "jsonl")
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func count(recs []map[string]any, field string, value any) int {
	n := 0
	for _, r := range recs {
		if r[field] == value {
			n++
		}
	}
	return n
}

// TestAuditTrailAgainstBinary: concurrent calls, answered and refused, are
// each recorded once; a SIGINT during long streams lets them finish and
// flushes every record; the chain verifies, and an edited row is caught.
func TestAuditTrailAgainstBinary(t *testing.T) {
	w := startWarden(t, "--lock", repoLock, "--parallel", "4")
	ctx := context.Background()

	const answered, refused, streams = 8, 4, 2
	var wg sync.WaitGroup
	for range answered {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.client.Chat.Completions.New(ctx, chatParams(demoName, "write to jane.doe@example.com")); err != nil {
				t.Error(err)
			}
		}()
	}
	for range refused {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := get(t, w.base+"/v1/models", "forged.token.here"); code != http.StatusUnauthorized {
				t.Errorf("forged token: %d", code)
			}
		}()
	}
	wg.Wait()

	// Long streams, then SIGINT while they run: each must still end with
	// its finish_reason, because shutdown waits for running requests.
	finished := make(chan string, streams)
	started := make(chan struct{}, streams)
	for range streams {
		go func() {
			p := chatParams(demoName, "tell a long story")
			p.MaxTokens = openai.Int(48)
			s := w.client.Chat.Completions.NewStreaming(ctx, p)
			reason, first := "", true
			for s.Next() {
				if first {
					started <- struct{}{}
					first = false
				}
				if ch := s.Current().Choices; len(ch) > 0 && ch[0].FinishReason != "" {
					reason = ch[0].FinishReason
				}
			}
			if err := s.Err(); err != nil {
				reason = "error: " + err.Error()
			}
			finished <- reason
		}()
	}
	for range streams {
		<-started
	}
	if err := w.stop(); err != nil {
		t.Fatalf("warden exit after SIGINT: %v", err)
	}
	for range streams {
		if reason := <-finished; reason != "length" && reason != "stop" {
			t.Errorf("a stream running at shutdown ended with %q", reason)
		}
	}

	out, err := runWarden(t, "audit", "verify", "--data-dir", w.dataDir)
	if err != nil || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	recs := exportRecords(t, w.dataDir)
	// The token issued by startWarden made no request; the SDK calls and
	// the forged ones did, plus the server's start and stop.
	if got := count(recs, "endpoint", "/v1/chat/completions"); got != answered+streams {
		t.Errorf("%d chat records, want %d", got, answered+streams)
	}
	if got := count(recs, "status", float64(401)); got != refused {
		t.Errorf("%d records of 401, want %d", got, refused)
	}
	if count(recs, "action", "start") != 1 || count(recs, "action", "stop") != 1 {
		t.Errorf("start/stop records missing: %d/%d", count(recs, "action", "start"), count(recs, "action", "stop"))
	}
	for _, r := range recs {
		if strings.Contains(r["prompt"].(string), "jane.doe@example.com") {
			t.Fatalf("an e-mail address was stored in clear: %v", r["prompt"])
		}
	}

	out, err = runWarden(t, "audit", "tail", "--data-dir", w.dataDir, "-n", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 2 || !strings.Contains(lines[1], `"stop"`) {
		t.Errorf("audit tail -n 2: %v\n%s", err, out)
	}
	out, err = runWarden(t, "audit", "export", "--data-dir", w.dataDir, "--format", "csv", "--status", "401")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != refused+1 || !strings.HasPrefix(lines[0], "id,") {
		t.Errorf("audit export --format csv --status 401: %v\n%s", err, out)
	}

	db, err := sql.Open("sqlite3", filepath.Join(w.dataDir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE records SET subject = 'someone-else' WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	out, err = runWarden(t, "audit", "verify", "--data-dir", w.dataDir)
	if err == nil || !strings.Contains(out, "BROKEN at row 3") {
		t.Fatalf("verify after editing row 3: %v\n%s", err, out)
	}
}

// TestAuditSurvivesKill9: a server killed outright under load leaves a
// database that passes SQLite's integrity check and a chain that verifies.
func TestAuditSurvivesKill9(t *testing.T) {
	w := startWarden(t, "--lock", repoLock, "--parallel", "2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p := chatParams(demoName, "hello")
				p.MaxTokens = openai.Int(4)
				_, _ = w.client.Chat.Completions.New(ctx, p)
			}
		}()
	}
	// Let some records be written, then kill.
	for len(exportRecords(t, w.dataDir)) < 20 {
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(w.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	_ = w.stop()

	db, err := sql.Open("sqlite3", filepath.Join(w.dataDir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check: %q, %v", integrity, err)
	}
	out, err := runWarden(t, "audit", "verify", "--data-dir", w.dataDir)
	if err != nil || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("audit verify after kill -9: %v\n%s", err, out)
	}
}

// TestUnpinnedStartIsAudited: serving a model no lockfile pins is possible
// in development, and the audit log says so.
func TestUnpinnedStartIsAudited(t *testing.T) {
	model := filepath.Join(t.TempDir(), "scratch.gguf")
	if out, err := runWarden(t, "testmodel", "--seed", "3", model); err != nil {
		t.Fatalf("testmodel: %v\n%s", err, out)
	}
	w := startWarden(t, "--lock", repoLock, "--model", model, "--allow-unpinned")
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	var start map[string]any
	for _, r := range exportRecords(t, w.dataDir) {
		if r["action"] == "start" {
			start = r
		}
	}
	if start == nil || !strings.Contains(start["detail"].(string), "unpinned=true") || start["model"] != "scratch" {
		t.Fatalf("start record: %v", start)
	}
}

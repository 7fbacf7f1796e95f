package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/audit"
	"github.com/warden-llm/warden/store/redact"
)

// auditedServer is the auth fixture's server with a real audit log.
func auditedServer(t *testing.T, f *authFixture, failOpen bool, log AuditLog) {
	t.Helper()
	srv, err := New(Config{
		Models:        []engine.Generator{&fakeModel{name: "m1", context: 512, pieces: []string{"Hi ", "there"}}},
		Auth:          mustVerifier(t, f),
		Revocations:   f.revoked,
		Audit:         log,
		AuditFailOpen: failOpen,
		Logger:        slog.New(slog.NewTextHandler(f.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
}

func openAudit(t *testing.T) (*audit.Log, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	key, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.db")
	l, err := audit.Open(context.Background(), path, audit.Options{Key: key, Redactor: redact.New(redact.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	return l, path, key
}

// TestEveryCallIsAudited sends concurrent requests of every outcome and
// finds exactly one record per request, with a chain that verifies.
func TestEveryCallIsAudited(t *testing.T) {
	f := newAuthFixture(t)
	log, path, key := openAudit(t)
	auditedServer(t, f, false, log)

	user := f.valid(nil)
	userOnly := f.valid(func(c map[string]any) { c["sub"] = "mallory" })
	chat := `{"model":"m1","messages":[{"role":"user","content":"mail me at jane.doe@example.com"}]}`
	type call struct {
		method, path, token, body string
		want                      int
	}
	kinds := []call{
		{"POST", "/v1/chat/completions", user, chat, 200},
		{"GET", "/v1/models", "", "", 401},
		{"GET", "/admin/config", userOnly, "", 403},
		{"POST", "/v1/chat/completions", user, `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404},
		{"POST", "/v1/chat/completions", user, `{"model":`, 400},
	}
	const rounds = 8
	var wg sync.WaitGroup
	for i := range rounds * len(kinds) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := kinds[i%len(kinds)]
			if resp, body := f.do(t, k.method, k.path, k.token, k.body); resp.StatusCode != k.want {
				t.Errorf("%s %s: %d, want %d: %s", k.method, k.path, resp.StatusCode, k.want, body)
			}
		}()
	}
	wg.Wait()
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	rd, err := audit.OpenReader(context.Background(), path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rep, err := rd.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("chain: %v %v", rep, err)
	}
	page, err := rd.Query(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != rounds*len(kinds) {
		t.Fatalf("%d records for %d requests", len(page.Entries), rounds*len(kinds))
	}
	byStatus := map[int][]audit.Entry{}
	for _, e := range page.Entries {
		byStatus[e.Status] = append(byStatus[e.Status], e)
	}
	for _, k := range kinds {
		if len(byStatus[k.want]) != rounds {
			t.Errorf("status %d: %d records, want %d", k.want, len(byStatus[k.want]), rounds)
		}
	}
	ok := byStatus[200][0]
	if ok.Subject != "alice" || ok.Model != "m1" || ok.CompletionTokens != 2 || ok.FinishReason != "stop" ||
		ok.Endpoint != "/v1/chat/completions" || ok.ClientAddr != "127.0.0.1" || ok.Response != "Hi there" {
		t.Errorf("answered request recorded as %+v", ok.Record)
	}
	if strings.Contains(ok.Prompt, "jane.doe@example.com") || !strings.Contains(ok.Prompt, "[EMAIL]") {
		t.Errorf("prompt stored as %q: personal data not redacted", ok.Prompt)
	}
	if e := byStatus[401][0]; e.Subject != "" || e.ErrorType != "invalid_api_key" {
		t.Errorf("401 recorded as %+v", e.Record)
	}
	if e := byStatus[403][0]; e.Subject != "mallory" || e.Kind != audit.KindAdmin || e.ErrorType != "insufficient_scope" {
		t.Errorf("403 recorded as %+v", e.Record)
	}
	// "nope" names no served model: client text, stored as a keyed hash.
	if e := byStatus[404][0]; !strings.HasPrefix(e.Model, unknownPrefix) || e.ErrorType != "model_not_found" {
		t.Errorf("404 recorded as %+v", e.Record)
	}
}

// brokenLog is an audit log whose store cannot be written.
type brokenLog struct {
	mu        sync.Mutex
	submitted int
}

func (b *brokenLog) Submit(context.Context, audit.Record) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.submitted++
	return audit.ErrUnavailable
}
func (b *brokenLog) Err() error { return fmt.Errorf("%w: disk full", audit.ErrUnavailable) }
func (b *brokenLog) Query(context.Context, audit.Filter) (audit.Page, error) {
	return audit.Page{}, errors.New("unavailable")
}

func TestUnwritableAuditLogFailsClosed(t *testing.T) {
	f := newAuthFixture(t)
	b := &brokenLog{}
	auditedServer(t, f, false, b)
	chat := `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`
	resp, body := f.do(t, "POST", "/v1/chat/completions", f.valid(nil), chat)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "audit_unavailable") {
		t.Fatalf("fail closed: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, "GET", "/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz while the audit log is down: %d", resp.StatusCode)
	}

	auditedServer(t, f, true, b)
	if resp, body := f.do(t, "POST", "/v1/chat/completions", f.valid(nil), chat); resp.StatusCode != http.StatusOK {
		t.Fatalf("fail open: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(f.logs.String(), "AUDIT RECORD LOST") {
		t.Error("fail-open loss not logged")
	}
}

func TestAuditorReadsTheLog(t *testing.T) {
	f := newAuthFixture(t)
	log, _, _ := openAudit(t)
	defer log.Close(context.Background())
	auditedServer(t, f, false, log)
	user := f.valid(nil)
	auditor := f.valid(func(c map[string]any) { c["roles"] = []string{"auditor"}; c["sub"] = "eve" })

	req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+user)
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // a claim the log must not believe
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if resp, _ := f.do(t, "GET", "/admin/audit", user, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("user reading the audit log: %d", resp.StatusCode)
	}
	if resp, body := f.do(t, "GET", "/admin/audit?colour=red", auditor, ""); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown filter: %d %s", resp.StatusCode, body)
	}
	// Records are written asynchronously; poll briefly.
	var page struct {
		Data       []auditEntry `json:"data"`
		NextCursor int64        `json:"next_cursor"`
	}
	for range 100 {
		_, body := f.do(t, "GET", "/admin/audit?subject=alice&endpoint=/v1/models", auditor, "")
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if len(page.Data) > 0 {
			break
		}
		waitABit()
	}
	if len(page.Data) != 1 || page.Data[0].ClientAddr != "127.0.0.1" || page.Data[0].Status != 200 {
		t.Fatalf("audit page: %+v", page)
	}
}

func waitABit() { time.Sleep(20 * time.Millisecond) }

// TestLockedAuditStoreFailsClosedThenRecovers takes the real audit
// database away from the writer (another connection holds an exclusive
// lock): once a write has failed, requests get 503; once the lock goes,
// the writer catches up and requests are served again, nothing lost.
func TestLockedAuditStoreFailsClosedThenRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out SQLite's 5 s busy timeout")
	}
	f := newAuthFixture(t)
	log, path, key := openAudit(t)
	auditedServer(t, f, false, log)
	user := f.valid(nil)

	blocker, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	conn, err := blocker.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}

	served := 0
	deadline := time.Now().Add(time.Minute)
	for {
		resp, body := f.do(t, "GET", "/v1/models", user, "")
		if resp.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(string(body), "audit_unavailable") {
				t.Fatalf("503 without the reason: %s", body)
			}
			break
		}
		served++
		if time.Now().After(deadline) {
			t.Fatal("requests still served a minute after the audit store was locked")
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for {
		resp, _ := f.do(t, "GET", "/v1/models", user, "")
		if resp.StatusCode == http.StatusOK {
			served++
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("requests still refused after the lock was released")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rd, err := audit.OpenReader(context.Background(), path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	page, err := rd.Query(context.Background(), audit.Filter{Status: 200, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != served {
		t.Fatalf("%d requests served, %d recorded", served, len(page.Entries))
	}
	if rep, err := rd.Verify(context.Background()); err != nil || !rep.OK() {
		t.Fatalf("chain after recovery: %v %v", rep, err)
	}
}

// queuedModel reports a fixed wait for a slot.
type queuedModel struct{ fakeModel }

func (m *queuedModel) Generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	res, err := m.fakeModel.Generate(ctx, req, emit)
	res.Queued = 7 * time.Millisecond
	return res, err
}

func TestAuditRecordsQueueWait(t *testing.T) {
	f := newAuthFixture(t)
	log, path, key := openAudit(t)
	srv, err := New(Config{
		Models: []engine.Generator{&queuedModel{fakeModel{name: "m1", context: 512, pieces: []string{"a"}}}},
		Auth:   mustVerifier(t, f), Audit: log, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	f.url = ts.URL
	f.do(t, "POST", "/v1/chat/completions", f.valid(nil), `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`)
	log.Close(context.Background())
	rd, err := audit.OpenReader(context.Background(), path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	page, err := rd.Query(context.Background(), audit.Filter{})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].Queue != 7*time.Millisecond {
		t.Fatalf("records %+v, %v; want one with a 7ms queue wait", page.Entries, err)
	}
}

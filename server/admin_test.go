package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine"
)

// closingModel is a fake model that can hold a request open and counts
// Close calls.
type closingModel struct {
	fakeModel
	hold   chan struct{} // Generate waits on it when not nil
	closed atomic.Int32
}

func (m *closingModel) Generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	if m.closed.Load() > 0 {
		return engine.Result{}, engine.ErrClosed
	}
	if m.hold != nil {
		m.got <- req
		<-m.hold
	}
	return m.fakeModel.Generate(ctx, req, emit)
}

func (m *closingModel) Close() error { m.closed.Add(1); return nil }

type fakeLoader struct {
	mu        sync.Mutex
	available map[string]*closingModel
	unpinned  map[string]string // name → reason StillPinned gives
}

func (l *fakeLoader) Load(_ context.Context, name string) (engine.Generator, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.available[name]
	if !ok {
		return nil, errors.New("not pinned in models.lock")
	}
	return m, nil
}

func (l *fakeLoader) StillPinned(_ context.Context, info engine.ModelInfo) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if reason, ok := l.unpinned[info.Name]; ok {
		return errors.New(reason)
	}
	return nil
}

func newClosingModel(name string) *closingModel {
	return &closingModel{fakeModel: fakeModel{name: name, context: 512, pieces: []string{"ok"}, got: make(chan engine.Request, 1)}}
}

func TestAdminLoadUnloadReload(t *testing.T) {
	f := newAuthFixture(t)
	first, extra := newClosingModel("m1"), newClosingModel("m2")
	loader := &fakeLoader{available: map[string]*closingModel{"m2": extra}, unpinned: map[string]string{}}
	srv, err := New(Config{Models: []engine.Generator{first}, Auth: mustVerifier(t, f), Loader: loader, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	f.url = ts.URL
	admin := f.valid(func(c map[string]any) { c["roles"] = []string{"admin"} })
	user := f.valid(nil)

	if resp, _ := f.do(t, "POST", "/admin/models/load", user, `{"model":"m2"}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("user loading a model: %d", resp.StatusCode)
	}
	if resp, body := f.do(t, "POST", "/admin/models/load", admin, `{"model":"m3"}`); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(string(body), "not pinned") {
		t.Fatalf("loading an unpinned model: %d %s", resp.StatusCode, body)
	}
	if resp, body := f.do(t, "POST", "/admin/models/load", admin, `{"model":"m2"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("load m2: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, "POST", "/admin/models/load", admin, `{"model":"m2"}`); resp.StatusCode != http.StatusConflict {
		t.Fatalf("loading m2 twice: %d", resp.StatusCode)
	}
	_, body := f.do(t, "GET", "/v1/models", user, "")
	if !strings.Contains(string(body), `"m1"`) || !strings.Contains(string(body), `"m2"`) {
		t.Fatalf("models after load: %s", body)
	}

	// Unload m1 while a request on it runs: the request finishes first.
	first.hold = make(chan struct{})
	answered := make(chan int, 1)
	go func() {
		resp, _ := f.do(t, "POST", "/v1/chat/completions", user, `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`)
		answered <- resp.StatusCode
	}()
	<-first.got
	unloaded := make(chan int, 1)
	go func() {
		resp, _ := f.do(t, "POST", "/admin/models/unload", admin, `{"model":"m1"}`)
		unloaded <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond) // give the unload time to (wrongly) close early
	if first.closed.Load() != 0 {
		t.Fatal("m1 closed while a request was running on it")
	}
	close(first.hold)
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("request running during unload: %d", code)
	}
	if code := <-unloaded; code != http.StatusOK || first.closed.Load() != 1 {
		t.Fatalf("unload: %d, closed %d times", code, first.closed.Load())
	}
	if resp, _ := f.do(t, "POST", "/v1/chat/completions", user, `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("request to an unloaded model: %d", resp.StatusCode)
	}

	// The lockfile changes: reload drops m2.
	loader.mu.Lock()
	loader.unpinned["m2"] = "sha256 changed in models.lock"
	loader.mu.Unlock()
	resp, body := f.do(t, "POST", "/admin/reload", admin, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "sha256 changed") || extra.closed.Load() != 1 {
		t.Fatalf("reload: %d %s, m2 closed %d times", resp.StatusCode, body, extra.closed.Load())
	}
	_, body = f.do(t, "GET", "/admin/models", admin, "")
	if strings.Contains(string(body), `"m2"`) {
		t.Fatalf("m2 still listed after reload: %s", body)
	}
}

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

type fakeReloader struct {
	next    Reloadable
	restart []string
	err     error
}

func (r *fakeReloader) ReloadConfig(context.Context) (Reloadable, []string, error) {
	return r.next, r.restart, r.err
}

// TestReloadAppliesGoodConfigAndRefusesBad: a reload swaps the verifier
// and limits in; an invalid configuration changes nothing.
func TestReloadAppliesGoodConfigAndRefusesBad(t *testing.T) {
	f := newAuthFixture(t)
	v := mustVerifier(t, f)
	r := &fakeReloader{}
	srv, err := New(Config{Models: []engine.Generator{newClosingModel("m1")}, Auth: v, Reloader: r,
		Settings: map[string]string{"generation": "1"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	f.url = ts.URL
	admin := f.valid(func(c map[string]any) { c["roles"] = []string{"admin"}; c["sub"] = "ops" })
	user := f.valid(nil)

	r.next = Reloadable{Auth: v, RequestsPerMinute: 1, Settings: map[string]string{"generation": "2"}, TokensPerMinute: 0}
	r.restart = []string{"server.port"}
	resp, body := f.do(t, "POST", "/admin/reload", admin, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"need_restart":["server.port"]`) {
		t.Fatalf("good reload: %d %s", resp.StatusCode, body)
	}
	if _, body := f.do(t, "GET", "/admin/config", admin, ""); !strings.Contains(string(body), `"generation":"2"`) {
		t.Fatalf("settings after reload: %s", body)
	}
	f.do(t, "GET", "/v1/models", user, "")
	if resp, _ := f.do(t, "GET", "/v1/models", user, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the reloaded limit of 1/min is not in force: %d", resp.StatusCode)
	}

	r.err = errors.New(`key "auth.keys": no such file`)
	resp, body = f.do(t, "POST", "/admin/reload", admin, "")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "old one stays") {
		t.Fatalf("bad reload: %d %s", resp.StatusCode, body)
	}
	if _, body := f.do(t, "GET", "/admin/config", admin, ""); !strings.Contains(string(body), `"generation":"2"`) {
		t.Fatalf("a refused reload changed the settings: %s", body)
	}

	// Turning authentication off takes a restart, never a reload.
	r.err, r.next = nil, Reloadable{Auth: nil}
	_, body = f.do(t, "POST", "/admin/reload", admin, "")
	if !strings.Contains(string(body), "auth.enabled") {
		t.Fatalf("auth off by reload: %s", body)
	}
	if resp, _ := f.do(t, "GET", "/admin/config", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a reload asking for auth off, no token: %d", resp.StatusCode)
	}
}

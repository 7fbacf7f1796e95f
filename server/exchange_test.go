package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/audit"
)

// A request is charged under the settings it arrived with: a reload while
// it runs installs fresh limiters, and the request's tokens must not land
// in them.
func TestRequestKeepsTheSettingsItArrivedWith(t *testing.T) {
	m := newClosingModel("m1")
	m.hold = make(chan struct{})
	r := &fakeReloader{next: Reloadable{TokensPerMinute: 10}}
	srv, err := New(Config{Models: []engine.Generator{m}, TokensPerMinute: 10, Reloader: r, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	chat := func() int {
		body := `{"model":"m1","messages":[{"role":"user","content":"` + strings.Repeat("x", 40) + `"}]}`
		resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	done := make(chan int)
	go func() { done <- chat() }()
	<-m.got // the request is generating under the first settings
	if _, err := srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(m.hold)
	if status := <-done; status != http.StatusOK {
		t.Fatalf("first request: %d", status)
	}
	m.hold = nil
	// Its 40 prompt tokens overdrew the old budget of 10, not the new one.
	if status := chat(); status != http.StatusOK {
		t.Fatalf("a request after the reload got %d: the one before was charged to the new limiter", status)
	}
	if status := chat(); status != http.StatusTooManyRequests {
		t.Fatalf("the new limiter charged nothing: %d", status)
	}
}

// leavingModel generates until its client goes away.
type leavingModel struct{ *closingModel }

func (m *leavingModel) Generate(ctx context.Context, req engine.Request, _ func(string) error) (engine.Result, error) {
	m.got <- req
	<-ctx.Done()
	return engine.Result{}, ctx.Err()
}

// capturedLog keeps the records submitted to it.
type capturedLog struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (l *capturedLog) Submit(_ context.Context, rec audit.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
	return nil
}
func (l *capturedLog) Err() error { return nil }
func (l *capturedLog) Query(context.Context, audit.Filter) (audit.Page, error) {
	return audit.Page{}, nil
}

func (l *capturedLog) records() []audit.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Record(nil), l.recs...)
}

// A client that leaves before its answer is one outcome, 499, in the audit
// record, the metrics and the request log alike: the finish step fixes it
// once for all three.
func TestClientGoneIsOneStatusEverywhere(t *testing.T) {
	m := &leavingModel{newClosingModel("m1")}
	var logs syncBuffer
	records := &capturedLog{}
	srv, err := New(Config{Models: []engine.Generator{m}, Audit: records, MetricsRole: MetricsOpen,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m1","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-m.got
	cancel()
	<-errc

	deadline := time.Now().Add(5 * time.Second)
	for (len(records.records()) == 0 || !strings.Contains(logs.String(), "msg=request")) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	recs := records.records()
	if len(recs) != 1 || recs[0].Status != statusClientGone {
		t.Fatalf("audit records %+v, want one of status 499", recs)
	}
	if !strings.Contains(logs.String(), "status=499") {
		t.Errorf("request log:\n%s", logs.String())
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `endpoint="/v1/chat/completions",model="m1",status="499"`) {
		t.Errorf("metrics have no 499 for the chat call:\n%s", body)
	}
}

package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/audit"
)

// statsModel is a fake model that reports whatever stats its test sets.
type statsModel struct {
	fakeModel
	mu sync.Mutex
	st engine.Stats
}

func (m *statsModel) Stats() engine.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

func (m *statsModel) set(st engine.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = st
}

// metricsServer points f at a server with one stats model ("m1") and a
// real audit log, whose /metrics needs role.
func metricsServer(t *testing.T, f *authFixture, role auth.Role) (*statsModel, *audit.Log) {
	t.Helper()
	m := &statsModel{fakeModel: fakeModel{name: "m1", context: 512, pieces: []string{"Hel", "lo", " world"}}}
	log, _, _ := openAudit(t)
	t.Cleanup(func() { log.Close(context.Background()) })
	srv, err := New(Config{
		Models: []engine.Generator{m}, Auth: mustVerifier(t, f), Revocations: f.revoked,
		Audit: log, MetricsRole: role, Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return m, log
}

func (f *authFixture) withRoles(roles ...string) string {
	return f.valid(func(c map[string]any) { c["roles"] = roles })
}

// samples is one scrape, parsed by Prometheus's own text parser.
type samples model.Vector

func (f *authFixture) scrape(t *testing.T, token string) samples {
	t.Helper()
	resp, body := f.do(t, http.MethodGet, "/metrics", token, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, slices.Collect(maps.Values(fams))...)
	if err != nil {
		t.Fatal(err)
	}
	return samples(vec)
}

// get sums the samples called name whose labels include the given
// name-value pairs.
func (s samples) get(name string, pairs ...string) float64 {
	var sum float64
	for _, smp := range s {
		if smp.Metric[model.MetricNameLabel] == model.LabelValue(name) && matches(smp.Metric, pairs) {
			sum += float64(smp.Value)
		}
	}
	return sum
}

func matches(m model.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if m[model.LabelName(pairs[i])] != model.LabelValue(pairs[i+1]) {
			return false
		}
	}
	return true
}

func TestMetricsNeedTheConfiguredRole(t *testing.T) {
	for _, tc := range []struct {
		role            auth.Role
		allowed, denied []string // roles of tokens that get 200, 403
	}{
		{"", []string{"admin"}, []string{"user", "auditor"}},
		{auth.RoleAuditor, []string{"auditor"}, []string{"user", "admin"}},
		{auth.RoleUser, []string{"user"}, []string{"admin"}},
	} {
		t.Run(cmp.Or(string(tc.role), "default"), func(t *testing.T) {
			f := newAuthFixture(t)
			metricsServer(t, f, tc.role)
			if resp, _ := f.do(t, http.MethodGet, "/metrics", "", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("without a token: %d, want 401", resp.StatusCode)
			}
			for _, r := range tc.allowed {
				if resp, _ := f.do(t, http.MethodGet, "/metrics", f.withRoles(r), ""); resp.StatusCode != http.StatusOK {
					t.Errorf("role %s: %d, want 200", r, resp.StatusCode)
				}
			}
			for _, r := range tc.denied {
				if resp, _ := f.do(t, http.MethodGet, "/metrics", f.withRoles(r), ""); resp.StatusCode != http.StatusForbidden {
					t.Errorf("role %s: %d, want 403", r, resp.StatusCode)
				}
			}
		})
	}

	f := newAuthFixture(t)
	metricsServer(t, f, MetricsOpen)
	f.scrape(t, "") // fails unless served without a token

	if _, err := New(Config{MetricsRole: "root"}); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("an unknown metrics role: %v, want an error naming it", err)
	}
}

// TestMetricsCountRequests makes requests of several outcomes and checks
// that each moves its counters, and that labels never carry what a client
// made up (model names, paths).
func TestMetricsCountRequests(t *testing.T) {
	f := newAuthFixture(t)
	metricsServer(t, f, "")
	admin, user := f.withRoles("admin"), f.valid(nil)
	content := "how many tokens is this?"
	chat := func(model string) int {
		resp, _ := f.do(t, http.MethodPost, "/v1/chat/completions", user,
			`{"model":"`+model+`","messages":[{"role":"user","content":"`+content+`"}]}`)
		return resp.StatusCode
	}
	parts, other := strings.Split(user, "."), strings.Split(f.valid(nil), ".")
	forged := parts[0] + "." + parts[1] + "." + other[2] // another token's signature

	before := f.scrape(t, admin)
	if code := chat("m1"); code != http.StatusOK {
		t.Fatalf("chat: %d", code)
	}
	if code := chat("made-up-model"); code != http.StatusNotFound {
		t.Fatalf("chat with an unknown model: %d", code)
	}
	if resp, _ := f.do(t, http.MethodGet, "/v1/models", forged, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged token: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, http.MethodGet, "/v1/models", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, http.MethodGet, "/v1/made-up-path", user, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	after := f.scrape(t, admin)

	moved := func(want float64, name string, pairs ...string) {
		t.Helper()
		if d := after.get(name, pairs...) - before.get(name, pairs...); d != want {
			t.Errorf("%s%v moved by %v, want %v", name, pairs, d, want)
		}
	}
	const requests = "warden_http_requests_total"
	moved(1, requests, "endpoint", "/v1/chat/completions", "status", "200", "model", "m1")
	moved(1, requests, "endpoint", "/v1/chat/completions", "status", "404", "model", "")
	moved(2, requests, "endpoint", "/v1/models", "status", "401")
	moved(1, "warden_auth_failures_total", "reason", string(auth.ReasonSignature))
	moved(1, "warden_auth_failures_total", "reason", string(auth.ReasonMissing))
	moved(float64(len(content)), "warden_prompt_tokens_total", "model", "m1") // the fake counts bytes
	moved(3, "warden_completion_tokens_total", "model", "m1")
	moved(1, "warden_time_to_first_token_seconds_count", "model", "m1")
	moved(1, "warden_time_per_output_token_seconds_count", "model", "m1")

	for _, smp := range after {
		for _, v := range smp.Metric {
			if strings.Contains(string(v), "made-up") {
				t.Errorf("a label carries what the client sent: %v", smp.Metric)
			}
		}
	}
}

// TestMetricsReadLiveState: model and audit gauges are read when scraped,
// and GET /admin/models shows the same model stats.
func TestMetricsReadLiveState(t *testing.T) {
	f := newAuthFixture(t)
	m, log := metricsServer(t, f, "")
	admin := f.withRoles("admin")
	st := engine.Stats{
		Parallel: 4, Busy: 3, Waiting: 2, QueueLimit: 8, KVCells: 4096, KVCellsUsed: 1000,
		Memory:   engine.MemoryUse{Weights: 1 << 20, KV: 2 << 20, Compute: 3 << 20},
		LoadTime: 1500 * time.Millisecond,
	}
	m.set(st)
	got := f.scrape(t, admin)
	for name, want := range map[string]float64{
		"warden_model_slots":                    4,
		"warden_model_slots_busy":               3,
		"warden_model_queue_depth":              2,
		"warden_model_queue_limit":              8,
		"warden_model_kv_cache_cells":           4096,
		"warden_model_kv_cache_cells_used":      1000,
		"warden_model_load_duration_seconds":    1.5,
		"warden_model_loaded_timestamp_seconds": float64(m.Info().Created),
	} {
		if v := got.get(name, "model", "m1"); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	for kind, want := range map[string]uint64{"weights": 1 << 20, "kv": 2 << 20, "compute": 3 << 20} {
		if v := got.get("warden_model_memory_bytes", "model", "m1", "kind", kind); v != float64(want) {
			t.Errorf("memory %s = %v, want %v", kind, v, want)
		}
	}
	if v, want := got.get("warden_audit_queue_capacity"), float64(log.Stats().QueueSize); v != want || want == 0 {
		t.Errorf("audit queue capacity %v, want %v", v, want)
	}
	if got.get("warden_audit_failing") != 0 || got.get("warden_build_info", "version", "test") != 1 {
		t.Errorf("audit failing %v, build info %v", got.get("warden_audit_failing"), got.get("warden_build_info", "version", "test"))
	}

	st.Busy, st.Waiting = 0, 0
	m.set(st)
	if got := f.scrape(t, admin); got.get("warden_model_slots_busy") != 0 || got.get("warden_model_queue_depth") != 0 {
		t.Errorf("after the model went idle: busy %v, waiting %v", got.get("warden_model_slots_busy"), got.get("warden_model_queue_depth"))
	}

	resp, body := f.do(t, http.MethodGet, "/admin/models", admin, "")
	var list struct {
		Data []struct {
			Name  string      `json:"name"`
			Stats *ModelStats `json:"stats"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != http.StatusOK || len(list.Data) != 1 || list.Data[0].Stats == nil {
		t.Fatalf("GET /admin/models: %d %s (%v)", resp.StatusCode, body, err)
	}
	want := ModelStats{Parallel: 4, QueueLimit: 8, KVCells: 4096, KVCellsUsed: 1000,
		Memory: MemoryBytes{Weights: 1 << 20, KV: 2 << 20, Compute: 3 << 20}, LoadSeconds: 1.5}
	if *list.Data[0].Stats != want {
		t.Errorf("admin stats %+v, want %+v", *list.Data[0].Stats, want)
	}
}

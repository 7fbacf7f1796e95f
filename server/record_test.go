package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/audit"
)

// Values a client chooses that no record or log line may hold.
const (
	leakEmail = "jane.roe@example.com"
	leakCard  = "4111111111111111"
)

// memAudit keeps the records submitted to it.
type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (m *memAudit) Submit(_ context.Context, rec audit.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, rec)
	return nil
}

func (m *memAudit) Err() error { return nil }

func (m *memAudit) Query(context.Context, audit.Filter) (audit.Page, error) {
	return audit.Page{}, nil
}

func (m *memAudit) records() []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Record(nil), m.recs...)
}

// recordingServer serves m1 and m2 (m2 loadable by an admin) with log as
// its audit log and its server log in f.logs.
func recordingServer(t *testing.T, f *authFixture, log AuditLog, key []byte) {
	t.Helper()
	loader := &fakeLoader{available: map[string]*closingModel{"m2": newClosingModel("m2")}, unpinned: map[string]string{}}
	srv, err := New(Config{
		Models:      []engine.Generator{&fakeModel{name: "m1", context: 512, pieces: []string{"Hi"}}},
		Auth:        mustVerifier(t, f),
		Revocations: f.revoked,
		Audit:       log,
		Loader:      loader,
		RecordKey:   key,
		MetricsRole: MetricsOpen,
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
}

// send makes a request with the given method, path, token and headers.
func (f *authFixture) send(t *testing.T, method, path, token, body string, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stringFields lists a record's text, roles included.
func stringFields(rec audit.Record) []string {
	var out []string
	v := reflect.ValueOf(rec)
	for i := range v.NumField() {
		switch fv := v.Field(i); fv.Kind() {
		case reflect.String:
			out = append(out, v.Type().Field(i).Name+"="+fv.String())
		case reflect.Slice:
			for j := range fv.Len() {
				out = append(out, v.Type().Field(i).Name+"="+fv.Index(j).String())
			}
		}
	}
	return out
}

// TestNoClientValueReachesRecordsOrLog puts personal data in every part of
// a request a client chooses, through a real audit log, and then finds it
// neither in a record's fields, nor in the database's bytes, nor in the
// server log.
func TestNoClientValueReachesRecordsOrLog(t *testing.T) {
	f := newAuthFixture(t)
	log, path, key := openAudit(t)
	recordingServer(t, f, log, DeriveRecordKey(key))
	user, admin, auditor := f.valid(nil), f.withRoles("admin"), f.withRoles("auditor")
	nosy := http.Header{
		"User-Agent":      {"curl (" + leakEmail + ")"},
		"X-Request-Id":    {leakCard},
		"X-Forwarded-For": {leakEmail},
		"X-Real-Ip":       {leakCard},
		"Referer":         {"https://example.com/" + leakCard},
		"Cookie":          {"who=" + leakEmail},
	}
	chat := func(model, user string) string {
		return `{"model":"` + model + `","user":"` + user + `","messages":[{"role":"user","content":"mail ` + leakEmail + `"}]}`
	}
	for _, c := range []struct {
		method, path, token, body string
	}{
		{"GET", "/v1/users/" + leakCard, "", ""},
		{"GET", "/v1/users/" + leakCard, user, ""},
		{"GET", "/" + url.PathEscape(leakEmail), "", ""},
		{"GET", "/admin/" + leakCard, admin, ""},
		{leakCard, "/v1/models", user, ""},
		{"GET", "/v1/models?who=" + leakEmail, user, ""},
		{"GET", "/v1/models/" + leakEmail, user, ""},
		{"GET", "/metrics?who=" + leakEmail, "", ""},
		{"POST", "/v1/chat/completions", user, chat(leakEmail, "")},
		{"POST", "/v1/chat/completions", user, chat("m1", leakEmail)},
		{"POST", "/v1/chat/completions", user, `{"model":"m1","messages":[{"role":"user","content":"` + leakCard},
		{"POST", "/v1/embeddings", user, `{"model":"` + leakEmail + `","input":"x"}`},
		{"GET", "/v1/models", leakEmail, ""},
		{"POST", "/admin/models/load", admin, `{"model":"` + leakEmail + `"}`},
		{"POST", "/admin/models/unload", admin, `{"model":"` + leakCard + `"}`},
		{"POST", "/admin/tokens/revoke", admin, `{"jti":"j1","reason":"laptop of ` + leakEmail + `"}`},
		{"GET", "/admin/audit?subject=" + url.QueryEscape(leakEmail), auditor, ""},
		{"GET", "/admin/audit?subject=" + url.QueryEscape(url.QueryEscape(leakEmail)), auditor, ""},
		{"GET", "/admin/audit?" + url.QueryEscape(leakEmail) + "=1", auditor, ""}, // an unknown filter: 400
	} {
		f.send(t, c.method, c.path, c.token, c.body, nosy)
	}
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	rd, err := audit.OpenReader(context.Background(), path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	page, err := rd.Query(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 19 {
		t.Errorf("%d records for 19 requests", len(page.Entries))
	}
	for _, e := range page.Entries {
		for _, field := range stringFields(e.Record) {
			if strings.Contains(field, leakEmail) || strings.Contains(field, leakCard) ||
				strings.Contains(field, url.QueryEscape(leakEmail)) {
				t.Errorf("record %d stores client text: %s", e.ID, field)
			}
		}
		if e.RequestID == leakCard || len(e.RequestID) != 24 || e.ClientAddr != "127.0.0.1" {
			t.Errorf("record %d: request id %q, client %q: not the server's own", e.ID, e.RequestID, e.ClientAddr)
		}
	}
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range []string{leakEmail, leakCard, url.QueryEscape(leakEmail)} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("audit.db%s holds %q", suffix, s)
			}
		}
	}
	logs := f.logs.String()
	for _, s := range []string{leakEmail, leakCard, url.QueryEscape(leakEmail), url.PathEscape(leakEmail)} {
		if strings.Contains(logs, s) {
			t.Errorf("the server log holds %q:\n%s", s, logs)
		}
	}
	f.revoked.mu.Lock()
	stored := f.revoked.ids["j1"].Reason
	f.revoked.mu.Unlock()
	if stored != "laptop of [EMAIL]" {
		t.Errorf("the Revoker was handed the reason %q, want it redacted", stored)
	}
}

// TestEndpointIsTheRouteTemplate: records and the request log line name
// the matched route, or "unmatched"; an unknown method is "OTHER".
func TestEndpointIsTheRouteTemplate(t *testing.T) {
	f := newAuthFixture(t)
	log := &memAudit{}
	recordingServer(t, f, log, nil)
	user := f.valid(nil)
	cases := []struct {
		method, path, token  string
		wantMethod, endpoint string
	}{
		{"GET", "/v1/models/m1", user, "GET", "/v1/models/:model"},
		{"GET", "/v1/models/nope", user, "GET", "/v1/models/:model"},
		{"GET", "/v1/models", "", "GET", "/v1/models"},
		{"POST", "/admin/reload", user, "POST", "/admin/reload"},
		{"GET", "/v1/nothing/here", user, "GET", "unmatched"},
		{"GET", "/v1/nothing/here", "", "GET", "unmatched"},
		{"GET", "/nothing", "", "GET", "unmatched"},
		{"DELETE", "/v1/chat/completions", user, "DELETE", "unmatched"},
		{"BREW", "/v1/models", user, "OTHER", "unmatched"},
	}
	for _, c := range cases {
		f.send(t, c.method, c.path, c.token, "", nil)
	}
	recs := log.records()
	if len(recs) != len(cases) {
		t.Fatalf("%d records for %d requests", len(recs), len(cases))
	}
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	var requestLines []string
	for _, l := range lines {
		if strings.Contains(l, "msg=request ") {
			requestLines = append(requestLines, l)
		}
	}
	for i, c := range cases { // one client, one request at a time: in order
		if r := recs[i]; r.Method != c.wantMethod || r.Endpoint != c.endpoint {
			t.Errorf("%s %s recorded as %s %s, want %s %s", c.method, c.path, r.Method, r.Endpoint, c.wantMethod, c.endpoint)
		}
		want := "method=" + c.wantMethod + " endpoint=" + c.endpoint + " "
		if i >= len(requestLines) || !strings.Contains(requestLines[i], want) {
			t.Errorf("%s %s: no log line with %q in\n%s", c.method, c.path, want, strings.Join(requestLines, "\n"))
		}
	}
}

// TestModelIsStoredOnlyWhenServed: a served model's name is stored; any
// other name becomes a hash keyed with the record key. A model an admin
// loads or unloads is named in its record either way.
func TestModelIsStoredOnlyWhenServed(t *testing.T) {
	f := newAuthFixture(t)
	log := &memAudit{}
	key := bytes.Repeat([]byte{7}, RecordKeySize)
	recordingServer(t, f, log, key)
	user, admin := f.valid(nil), f.withRoles("admin")
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	f.send(t, "POST", "/v1/chat/completions", user, chat("m1"), nil)
	f.send(t, "POST", "/v1/chat/completions", user, chat(leakEmail), nil)
	f.send(t, "POST", "/v1/chat/completions", user, chat(leakEmail), nil)
	f.send(t, "POST", "/admin/models/load", admin, `{"model":"m2"}`, nil)
	f.send(t, "POST", "/admin/models/unload", admin, `{"model":"m2"}`, nil)

	recs := log.records()
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	if recs[0].Model != "m1" {
		t.Errorf("served model recorded as %q", recs[0].Model)
	}
	tag := recs[1].Model
	if !strings.HasPrefix(tag, unknownPrefix) || len(tag) != len(unknownPrefix)+16 || recs[2].Model != tag {
		t.Errorf("unknown model recorded as %q and %q: want one stable %s<16 hex>", tag, recs[2].Model, unknownPrefix)
	}
	other := &Server{recordKey: bytes.Repeat([]byte{8}, RecordKeySize)}
	if other.unknownValue("model", leakEmail) == tag {
		t.Error("the tag does not depend on the key: a bare hash anyone can reverse by guessing")
	}
	for _, r := range recs[3:] {
		if r.Model != "m2" || r.Detail != "model=m2" {
			t.Errorf("%s recorded model %q, detail %q; want m2", r.Action, r.Model, r.Detail)
		}
	}
}

func TestQueryDetailDecodesEveryLayer(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"subject=jane%40example.com", "query subject=jane@example.com"},
		{"subject=jane%2540example.com", "query subject=jane@example.com"},
		{"subject=%2B44%2020%207946%200000", "query subject=+44 20 7946 0000"},
		{"model=m1&endpoint=%2Fv1%2Fmodels&subject=a+b", "query endpoint=/v1/models model=m1 subject=a b"},
		{"subject=100%25", "query subject=100%"},
	} {
		q, err := url.ParseQuery(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := queryDetail(q); got != c.want {
			t.Errorf("queryDetail(%s) = %q, want %q", c.raw, got, c.want)
		}
	}
}

func TestDeriveRecordKey(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	ka := DeriveRecordKey(a)
	if len(ka) != RecordKeySize || hmac.Equal(ka, a) || hmac.Equal(ka, DeriveRecordKey(b)) || !hmac.Equal(ka, DeriveRecordKey(a)) {
		t.Errorf("DeriveRecordKey: %x from %x", ka, a)
	}
}

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests send personal data where a client controls a value that
// reaches a stored record or the server's log, and then look for it in the
// raw bytes of the databases (main file, WAL, shared memory) and in the log.
// What is stored must be server-derived, token-derived or redacted.

// Values a client might send that must never be stored or logged.
const (
	leakEmail = "jane.roe@example.com"
	leakCard  = "4111111111111111" // passes the Luhn check: the redactor's CARD
)

// assertNotOnDisk fails if any of the data directory's databases holds one
// of secrets in its raw bytes.
func assertNotOnDisk(t *testing.T, dataDir string, dbs []string, secrets ...string) {
	t.Helper()
	for _, db := range dbs {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			path := filepath.Join(dataDir, db+suffix)
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if bytes.Contains(data, []byte(s)) {
					t.Errorf("%s holds %q in its raw bytes", db+suffix, s)
				}
			}
		}
	}
}

func assertNotLogged(t *testing.T, w *instance, secrets ...string) {
	t.Helper()
	log := w.logs.String()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the server log holds %q:\n%s", s, log)
		}
	}
}

func sendRaw(t *testing.T, method, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUnknownModelNameIsNotStored: a model name that names no served model
// is client text; it is stored as a keyed hash, never as sent.
func TestUnknownModelNameIsNotStored(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")

	chat := `{"model": "` + leakEmail + `", "messages": [{"role": "user", "content": "hi"}]}`
	if code, body := post(t, w.base+"/v1/chat/completions", w.token, chat); code != http.StatusNotFound {
		t.Fatalf("chat with an unknown model: %d %s", code, body)
	}
	if code, body := get(t, w.base+"/v1/models/"+leakEmail, w.token); code != http.StatusNotFound {
		t.Fatalf("GET /v1/models/<unknown>: %d %s", code, body)
	}
	if code, body := post(t, w.base+"/admin/models/load", admin, `{"model": "`+leakEmail+`"}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("admin load of an unknown model: %d %s", code, body)
	}
	if code, body := post(t, w.base+"/v1/chat/completions", w.token,
		`{"model": "`+demoName+`", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}`); code != http.StatusOK {
		t.Fatalf("chat with the served model: %d %s", code, body)
	}
	assertNotOnDisk(t, w.dataDir, []string{"audit.db"}, leakEmail)
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	assertNotOnDisk(t, w.dataDir, []string{"audit.db"}, leakEmail)
	assertNotLogged(t, w, leakEmail)

	var unknown, served int
	for _, r := range exportRecords(t, w.dataDir) {
		model, _ := r["model"].(string)
		switch {
		case strings.HasPrefix(model, "unknown:hmac-sha256:") && len(model) == len("unknown:hmac-sha256:")+16:
			unknown++
		case model == demoName && r["kind"] == "request":
			served++
		}
	}
	// The admin load's record names the model too.
	if unknown != 3 || served != 1 {
		t.Errorf("%d records with the unknown model's hash (want 3), %d with %s (want 1)", unknown, served, demoName)
	}
}

// TestUnmatchedPathIsNotStored: the path of a request no route matches is
// client text; the record, the log line and the metrics say "unmatched".
// So does a method no route knows.
func TestUnmatchedPathIsNotStored(t *testing.T) {
	w := startWarden(t, "--lock", repoLock, "--metrics-role", "none")
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/users/" + leakCard, "", http.StatusUnauthorized},
		{"GET", "/v1/users/" + leakCard, w.token, http.StatusNotFound},
		{"GET", "/" + leakCard, "", http.StatusUnauthorized},
		{"GET", "/v1/users/jane.roe%40example.com", w.token, http.StatusNotFound},
		{"GET", "/admin/" + leakCard, "", http.StatusUnauthorized},
		{leakCard, "/v1/models", w.token, 0}, // a method is any token; status whatever the router says
	} {
		if code := sendRaw(t, c.method, w.base+c.path, c.token); c.want != 0 && code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, code, c.want)
		}
	}
	code, metrics := get(t, w.base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	for _, s := range []string{leakCard, leakEmail} {
		if strings.Contains(metrics, s) {
			t.Errorf("a metrics label holds %q", s)
		}
	}
	assertNotOnDisk(t, w.dataDir, []string{"audit.db"}, leakCard, leakEmail)
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	assertNotOnDisk(t, w.dataDir, []string{"audit.db"}, leakCard, leakEmail)
	assertNotLogged(t, w, leakCard, leakEmail)
	if got := count(exportRecords(t, w.dataDir), "endpoint", "unmatched"); got != 6 {
		t.Errorf("%d records with endpoint unmatched, want 6", got)
	}
}

// TestAuditorQueryIsDecodedBeforeRedaction: an auditor's filters are
// stored in the record's detail decoded, so that the redactor sees an
// e-mail address rather than its percent-encoding.
func TestAuditorQueryIsDecodedBeforeRedaction(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	auditor := issueToken(t, w.dataDir, "--sub", "auditor", "--role", "auditor")
	for _, q := range []string{
		"subject=jane.roe%40example.com",
		"model=jane.roe%2540example.com&endpoint=%2Fv1%2Fusers%2F" + leakCard, // encoded twice, and a card in a path
	} {
		if code, body := get(t, w.base+"/admin/audit?"+q, auditor); code != http.StatusOK {
			t.Fatalf("GET /admin/audit?%s: %d %s", q, code, body)
		}
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	assertNotOnDisk(t, w.dataDir, []string{"audit.db"},
		leakEmail, "jane.roe%40example.com", "jane.roe%2540example.com", leakCard)
	assertNotLogged(t, w, leakEmail, "jane.roe%40", "jane.roe%2540", leakCard)
	redacted := 0
	for _, r := range exportRecords(t, w.dataDir) {
		if d, _ := r["detail"].(string); r["action"] == "GET /admin/audit" && strings.Contains(d, "=[EMAIL") {
			redacted++
		}
	}
	if redacted != 2 {
		t.Errorf("%d audit-query records with a redacted e-mail address in the detail, want 2", redacted)
	}
}

// TestRevocationReasonIsRedacted: a revocation's reason passes the
// redactor before it reaches revocations.db, whether it comes from
// `warden token revoke` or from POST /admin/tokens/revoke, and the audit
// records that copy it hold the redacted text.
func TestRevocationReasonIsRedacted(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	reason := "laptop of " + leakEmail + " stolen, card " + leakCard
	if out, err := runWarden(t, "token", "revoke", "--data-dir", w.dataDir, "--reason", reason, "jti-cli"); err != nil {
		t.Fatalf("warden token revoke: %v\n%s", err, out)
	}
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	body := `{"jti": "jti-admin", "reason": "` + reason + `"}`
	if code, resp := post(t, w.base+"/admin/tokens/revoke", admin, body); code != http.StatusOK {
		t.Fatalf("admin revoke: %d %s", code, resp)
	}
	deadline := time.Now().Add(10 * revocationSweep)
	for count(exportRecords(t, w.dataDir), "action", "token revoke (command line)") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the command-line revocation never reached the audit log")
		}
		time.Sleep(revocationSweep / 4)
	}
	dbs := []string{"revocations.db", "audit.db"}
	assertNotOnDisk(t, w.dataDir, dbs, leakEmail, leakCard)
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	assertNotOnDisk(t, w.dataDir, dbs, leakEmail, leakCard)
	assertNotLogged(t, w, leakEmail, leakCard)

	out, err := runWarden(t, "token", "revoked", "--data-dir", w.dataDir)
	if err != nil {
		t.Fatalf("warden token revoked: %v\n%s", err, out)
	}
	if strings.Count(out, "laptop of [EMAIL] stolen, card [CARD]") != 2 {
		t.Errorf("want both reasons stored redacted:\n%s", out)
	}
	for _, r := range exportRecords(t, w.dataDir) {
		if r["kind"] == "admin" && strings.Contains(r["detail"].(string), "revoke jti=") &&
			!strings.Contains(r["detail"].(string), `reason="laptop of [EMAIL] stolen, card [CARD]"`) {
			t.Errorf("revocation record without its redacted reason: %v", r)
		}
	}
}

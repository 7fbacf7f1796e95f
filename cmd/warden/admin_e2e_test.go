package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// copyRepoLock copies the repository's models.lock into a temporary
// folder, for a test that pins more models in it.
func copyRepoLock(t *testing.T) string {
	t.Helper()
	lock := filepath.Join(t.TempDir(), "models.lock")
	data, err := os.ReadFile(repoLock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return lock
}

// TestAdminModelLifecycle: an admin loads a model that was reviewed and
// pinned after the server started, and a reload after its pin is removed
// stops serving it. Each action is in the audit log.
func TestAdminModelLifecycle(t *testing.T) {
	lock := copyRepoLock(t)
	w := startWarden(t, "--lock", lock)
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	chat := func(model string) int {
		code, _ := post(t, w.base+"/v1/chat/completions", w.token,
			`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`)
		return code
	}

	if code, body := post(t, w.base+"/admin/models/load", admin, `{"model":"second"}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("loading a model that is not pinned: %d %s", code, body)
	}
	file := filepath.Join(w.dataDir, "models", "second.gguf")
	if out, err := runWarden(t, "testmodel", "--seed", "2", file); err != nil {
		t.Fatalf("testmodel: %v\n%s", err, out)
	}
	if err := os.Chmod(file, 0o440); err != nil {
		t.Fatal(err)
	}
	if out, err := runWarden(t, "models", "add", file, "--data-dir", w.dataDir, "--lock", lock, "--name", "second", "--license", "MIT",
		"--source", "warden testmodel --seed 2", "--publisher", "test"); err != nil {
		t.Fatalf("models add: %v\n%s", err, out)
	}
	if code, _ := post(t, w.base+"/admin/models/load", w.token, `{"model":"second"}`); code != http.StatusForbidden {
		t.Fatalf("user token loading a model: %d", code)
	}
	if code, body := post(t, w.base+"/admin/models/load", admin, `{"model":"second"}`); code != http.StatusOK {
		t.Fatalf("admin load: %d %s", code, body)
	}
	if code := chat("second"); code != http.StatusOK {
		t.Fatalf("chat with the loaded model: %d", code)
	}

	if out, err := runWarden(t, "models", "remove", "second", "--lock", lock); err != nil {
		t.Fatalf("models remove: %v\n%s", err, out)
	}
	code, body := post(t, w.base+"/admin/reload", admin, "")
	if code != http.StatusOK || !strings.Contains(body, `"model":"second"`) || !strings.Contains(body, `"kept":["warden-demo"]`) {
		t.Fatalf("reload: %d %s", code, body)
	}
	if code := chat("second"); code != http.StatusNotFound {
		t.Fatalf("chat with the unpinned model after reload: %d", code)
	}
	if code := chat(demoName); code != http.StatusOK {
		t.Fatalf("the demo model after reload: %d", code)
	}

	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	recs := exportRecords(t, w.dataDir)
	for _, action := range []string{"POST /admin/models/load", "POST /admin/reload"} {
		if count(recs, "action", action) == 0 {
			t.Errorf("no audit record of %s", action)
		}
	}
}

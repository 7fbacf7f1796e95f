package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
)

// tokenID reads the jti of a token the test itself issued.
func tokenID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" {
		t.Fatalf("no jti in %s: %v", payload, err)
	}
	return c.JTI
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestAuthAgainstBinary: tokens from `warden token issue` open the API to
// the OpenAI SDK, roles are enforced, and `warden token revoke` run beside
// the server shuts a token out at once.
func TestAuthAgainstBinary(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)

	if code, body := get(t, w.base+"/v1/models", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", code, body)
	}
	anon := openai.NewClient(option.WithBaseURL(w.base+"/v1/"), option.WithAPIKey("not-a-token"), option.WithMaxRetries(0))
	_, err := anon.Models.List(context.Background())
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("SDK with a bad key: %v", err)
	}

	chat, err := w.client.Chat.Completions.New(context.Background(), chatParams(demoName, "hello"))
	if err != nil || len(chat.Choices) != 1 {
		t.Fatalf("SDK with a token: %v", err)
	}

	if code, _ := get(t, w.base+"/admin/config", w.token); code != http.StatusForbidden {
		t.Errorf("user token on /admin/config: %d, want 403", code)
	}
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	code, body := get(t, w.base+"/admin/config", admin)
	if code != http.StatusOK || !strings.Contains(body, `"auth.enabled":{"source":"default","value":"true"}`) {
		t.Errorf("admin token on /admin/config: %d %s", code, body)
	}
	if code, _ := get(t, w.base+"/v1/models", admin); code != http.StatusForbidden {
		t.Errorf("admin-only token on /v1/models: %d, want 403", code)
	}

	scoped := issueToken(t, w.dataDir, "--sub", "bot", "--role", "user", "--model", "other-model")
	sc := openai.NewClient(option.WithBaseURL(w.base+"/v1/"), option.WithAPIKey(scoped), option.WithMaxRetries(0))
	if _, err := sc.Chat.Completions.New(context.Background(), chatParams(demoName, "hi")); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Errorf("token scoped to another model: %v", err)
	}

	if out, err := runWarden(t, "token", "revoke", "--data-dir", w.dataDir, "--reason", "test", tokenID(t, w.token)); err != nil {
		t.Fatalf("warden token revoke: %v\n%s", err, out)
	}
	if code, body := get(t, w.base+"/v1/models", w.token); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Fatalf("revoked token: %d %s", code, body)
	}
	if strings.Contains(w.logs.String(), w.token[len(w.token)-20:]) {
		t.Error("a token appears in the server log")
	}
}

func TestOpenAddressNeedsAuth(t *testing.T) {
	out, err := runWarden(t, "serve", "--host", "0.0.0.0", "--port", "0", "--auth=false", "--data-dir", t.TempDir(), "--lock", repoLock)
	if err == nil || !strings.Contains(out, "refusing to listen") || !strings.Contains(out, "authentication off") {
		t.Fatalf("0.0.0.0 with auth off: err %v, output:\n%s", err, out)
	}
}

// TestSharedSecretKeys: an HMAC secret made by `warden keys generate`
// signs tokens that a server trusting that secret accepts, and a server
// refuses a secret file others can read.
func TestSharedSecretKeys(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "team")
	if out, err := runWarden(t, "keys", "generate", "--type", "hs256", prefix); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	spec := "file=" + prefix + ".secret,alg=HS256,kid=team"
	w := startWarden(t, "--lock", repoLock, "--auth-key", spec)
	tok, err := runWarden(t, "token", "issue", "--signing-key", spec, "--sub", "carol", "--role", "user")
	if err != nil {
		t.Fatalf("token issue: %v\n%s", err, tok)
	}
	if code, body := get(t, w.base+"/v1/models", strings.TrimSpace(tok)); code != http.StatusOK {
		t.Fatalf("HS256 token: %d %s", code, body)
	}
	// The instance's default token is signed with the local key, which
	// this server does not trust once --auth-key is given.
	if code, _ := get(t, w.base+"/v1/models", w.token); code != http.StatusUnauthorized {
		t.Fatalf("local-key token on a server with --auth-key: %d", code)
	}
	if err := os.Chmod(prefix+".secret", 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runWarden(t, "serve", "--port", "0", "--data-dir", t.TempDir(), "--lock", repoLock, "--auth-key", spec)
	if err == nil || !strings.Contains(out, "readable by group or others") {
		t.Fatalf("world-readable secret: err %v\n%s", err, out)
	}
}

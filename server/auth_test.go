package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store"
)

// authFixture is a running server that trusts four keys, one of each
// kind, with the private halves kept here to forge tokens.
type authFixture struct {
	url     string
	now     time.Time
	ed      ed25519.PrivateKey
	rsa     *rsa.PrivateKey
	rsaPEM  []byte // the RSA public key as PEM: the classic HS256 confusion secret
	ec      *ecdsa.PrivateKey
	hs      []byte
	revoked *memRevocations
	logs    *syncBuffer
}

type memRevocations struct {
	mu  sync.Mutex
	ids map[string]store.Revocation
}

func (m *memRevocations) Revoked(_ context.Context, jti string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.ids[jti]
	return ok, nil
}

func (m *memRevocations) Revoke(_ context.Context, r store.Revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[r.TokenID] = r
	return nil
}

func (m *memRevocations) List(context.Context) ([]store.Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Revocation
	for _, r := range m.ids {
		out = append(out, r)
	}
	return out, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writePublicPEM(t *testing.T, dir, name string, pub crypto.PublicKey) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	dir := t.TempDir()
	f := &authFixture{now: time.Now(), revoked: &memRevocations{ids: map[string]store.Revocation{}}, logs: &syncBuffer{}}
	var err error
	_, f.ed, _ = ed25519.GenerateKey(rand.Reader)
	if f.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	f.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.hs = bytes.Repeat([]byte("k"), 32)

	edPath, _ := writePublicPEM(t, dir, "ed", f.ed.Public())
	var rsaPath string
	rsaPath, f.rsaPEM = writePublicPEM(t, dir, "rsa", f.rsa.Public())
	ecPath, _ := writePublicPEM(t, dir, "ec", f.ec.Public())
	hsPath := filepath.Join(dir, "hs.secret")
	if err := os.WriteFile(hsPath, f.hs, 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []auth.Key
	for _, spec := range []auth.KeySpec{
		{File: edPath}, {File: rsaPath, Alg: "RS256"}, {File: ecPath}, {File: hsPath, Alg: "HS256"},
	} {
		k, err := auth.LoadKeys(spec)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k...)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{
		Keys: keys, Issuer: "warden", Audience: "warden", MaxLifetime: 24 * time.Hour,
		Skew: 30 * time.Second, Revocations: f.revoked,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		Models:      []engine.Generator{&fakeModel{name: "m1", context: 512}, &fakeModel{name: "m2", context: 512}},
		Auth:        v,
		Revocations: f.revoked,
		Settings:    map[string]any{"auth": "on"},
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

func b64(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

// claims returns a valid payload for role user; edit adjusts it.
func (f *authFixture) claims(edit func(map[string]any)) string {
	c := map[string]any{
		"iss": "warden", "aud": "warden", "sub": "alice", "jti": rand.Text(),
		"iat": f.now.Unix(), "exp": f.now.Add(time.Hour).Unix(), "roles": []string{"user"},
	}
	if edit != nil {
		edit(c)
	}
	data, _ := json.Marshal(c)
	return string(data)
}

// sign makes a compact JWS from raw header and payload JSON, signing with
// the key the named algorithm belongs to in this fixture.
func (f *authFixture) sign(header, payload string) string {
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	var h struct{ Alg, Kid string }
	_ = json.Unmarshal([]byte(header), &h)
	return input + "." + b64(f.signature(h.Alg, []byte(input)))
}

func (f *authFixture) signature(alg string, input []byte) []byte {
	sum := sha256.Sum256(input)
	switch alg {
	case "EdDSA":
		return ed25519.Sign(f.ed, input)
	case "RS256":
		sig, _ := rsa.SignPKCS1v15(rand.Reader, f.rsa, crypto.SHA256, sum[:])
		return sig
	case "ES256":
		r, s, _ := ecdsa.Sign(rand.Reader, f.ec, sum[:])
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	default: // HS256 with the fixture's secret
		m := hmac.New(sha256.New, f.hs)
		m.Write(input)
		return m.Sum(nil)
	}
}

func (f *authFixture) valid(edit func(map[string]any)) string {
	return f.sign(`{"alg":"EdDSA","kid":"ed","typ":"JWT"}`, f.claims(edit))
}

func (f *authFixture) do(t *testing.T, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp, buf.Bytes()
}

// TestAdversarialTokens tries each known attack on bearer tokens against
// the running server. Every one must get 401 and leave the server sound.
func TestAdversarialTokens(t *testing.T) {
	f := newAuthFixture(t)
	ed := `{"alg":"EdDSA","kid":"ed"}`
	valid := f.claims(nil)
	forged := func(header string) string { // signed with the ed25519 key regardless of what alg says
		input := b64([]byte(header)) + "." + b64([]byte(valid))
		return input + "." + b64(ed25519.Sign(f.ed, []byte(input)))
	}
	withClaims := func(edit func(map[string]any)) string { return f.sign(ed, f.claims(edit)) }
	hsWith := func(secret []byte, header, payload string) string {
		input := b64([]byte(header)) + "." + b64([]byte(payload))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + b64(m.Sum(nil))
	}
	good := f.valid(nil)
	parts := strings.Split(good, ".")
	revokedJTI := "revoked-token-id"
	f.revoked.Revoke(context.Background(), store.Revocation{TokenID: revokedJTI})

	cases := map[string]string{
		"alg none":                  b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(valid)) + ".",
		"alg None with signature":   forged(`{"alg":"None","kid":"ed"}`),
		"alg NONE":                  forged(`{"alg":"NONE","kid":"ed"}`),
		"alg nOnE":                  forged(`{"alg":"nOnE","kid":"ed"}`),
		"HS256 keyed with RSA PEM":  hsWith(f.rsaPEM, `{"alg":"HS256","kid":"rsa"}`, valid),
		"HS256 header on RS256 key": hsWith(f.hs, `{"alg":"HS256","kid":"rsa"}`, valid),
		"alg differs from pinned":   hsWith(f.hs, `{"alg":"HS384","kid":"hs"}`, valid),
		"alg missing":               forged(`{"kid":"ed"}`),
		"alg not a string":          forged(`{"alg":["EdDSA"],"kid":"ed"}`),
		"unknown kid":               forged(`{"alg":"EdDSA","kid":"nobody"}`),
		"no kid, several keys":      forged(`{"alg":"EdDSA"}`),
		"embedded jwk":              forged(`{"alg":"EdDSA","kid":"ed","jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}}`),
		"jku":                       forged(`{"alg":"EdDSA","kid":"ed","jku":"https://evil.example/keys"}`),
		"x5u":                       forged(`{"alg":"EdDSA","kid":"ed","x5u":"https://evil.example/cert"}`),
		"x5c":                       forged(`{"alg":"EdDSA","kid":"ed","x5c":["MIIB"]}`),
		"unknown crit":              forged(`{"alg":"EdDSA","kid":"ed","crit":["exp"],"exp":1}`),
		"duplicate header alg":      forged(`{"alg":"HS256","alg":"EdDSA","kid":"ed"}`),
		"kid path traversal":        forged(`{"alg":"EdDSA","kid":"../../dev/null"}`),
		"kid SQL quote":             forged(`{"alg":"EdDSA","kid":"ed' OR '1'='1"}`),
		"kid NUL":                   forged(`{"alg":"EdDSA","kid":"ed\u0000"}`),
		"kid 10 KB":                 forged(`{"alg":"EdDSA","kid":"` + strings.Repeat("a", 10<<10) + `"}`),
		"typ not JWT":               forged(`{"alg":"EdDSA","kid":"ed","typ":"JOSE+JSON"}`),
		"expired":                   withClaims(func(c map[string]any) { c["exp"] = f.now.Add(-time.Hour).Unix() }),
		"nbf in the future":         withClaims(func(c map[string]any) { c["nbf"] = f.now.Add(time.Hour).Unix() }),
		"iat far in the future": withClaims(func(c map[string]any) {
			c["iat"] = f.now.Add(10 * time.Hour).Unix()
			c["exp"] = f.now.Add(11 * time.Hour).Unix()
		}),
		"missing exp":              withClaims(func(c map[string]any) { delete(c, "exp") }),
		"missing sub":              withClaims(func(c map[string]any) { delete(c, "sub") }),
		"missing aud":              withClaims(func(c map[string]any) { delete(c, "aud") }),
		"missing iss":              withClaims(func(c map[string]any) { delete(c, "iss") }),
		"missing jti":              withClaims(func(c map[string]any) { delete(c, "jti") }),
		"missing roles":            withClaims(func(c map[string]any) { delete(c, "roles") }),
		"wrong aud":                withClaims(func(c map[string]any) { c["aud"] = "someone-else" }),
		"wrong iss":                withClaims(func(c map[string]any) { c["iss"] = "evil" }),
		"unknown role":             withClaims(func(c map[string]any) { c["roles"] = []string{"root"} }),
		"roles as object":          withClaims(func(c map[string]any) { c["roles"] = map[string]any{"admin": true} }),
		"sub as number":            withClaims(func(c map[string]any) { c["sub"] = 42 }),
		"exp as string":            withClaims(func(c map[string]any) { c["exp"] = fmt.Sprint(f.now.Add(time.Hour).Unix()) }),
		"exp as float":             withClaims(func(c map[string]any) { c["exp"] = float64(f.now.Add(time.Hour).Unix()) + 0.5 }),
		"exp 1e300":                f.sign(ed, strings.Replace(valid, `"exp":`, `"exp":1e300,"x":`, 1)),
		"lifetime beyond maximum":  withClaims(func(c map[string]any) { c["exp"] = f.now.Add(48 * time.Hour).Unix() }),
		"revoked jti":              withClaims(func(c map[string]any) { c["jti"] = revokedJTI }),
		"duplicate claim role":     f.sign(ed, strings.Replace(valid, `"roles":["user"]`, `"roles":["user"],"roles":["admin"]`, 1)),
		"tampered payload":         parts[0] + "." + b64([]byte(strings.Replace(valid, `"user"`, `"admin"`, 1))) + "." + parts[2],
		"stripped signature":       parts[0] + "." + parts[1] + ".",
		"signature from other key": parts[0] + "." + parts[1] + "." + b64(f.signature("HS256", []byte(parts[0]+"."+parts[1]))),
		"truncated":                good[:len(good)-10],
		"two parts":                parts[0] + "." + parts[1],
		"padded base64":            parts[0] + "=." + parts[1] + "." + parts[2],
		"standard alphabet":        strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
		"whitespace inside":        parts[0] + ".\t" + parts[1] + "." + parts[2],
		"1 MB token":               strings.Repeat("A", 1<<20) + "." + parts[1] + "." + parts[2],
		"JWS JSON serialization":   fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, parts[1], parts[0], parts[2]),
		"ECDSA r=s=0":              b64([]byte(`{"alg":"ES256","kid":"ec"}`)) + "." + b64([]byte(valid)) + "." + b64(make([]byte, 64)),
		"payload not JSON":         f.sign(ed, "not json"),
		"payload trailing data":    f.sign(ed, valid+"{}"),
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := f.do(t, "GET", "/v1/models", token, "")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", resp.StatusCode, body)
			}
			if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer realm="warden", error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q", ch)
			}
			var e errorBody
			if json.Unmarshal(body, &e) != nil || e.Error == nil || e.Error.Code == nil || *e.Error.Code != "invalid_api_key" {
				t.Errorf("body is not an OpenAI error: %s", body)
			}
		})
	}

	// The server is still sound, and the good token still works.
	assertHealthy(t, f.url)
	if resp, body := f.do(t, "GET", "/v1/models", good, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid token after the attacks: %d %s", resp.StatusCode, body)
	}
	// Tokens never reach the log, not even malformed ones.
	logs := f.logs.String()
	for name, token := range cases {
		if len(token) > 40 && strings.Contains(logs, token[len(token)-40:]) {
			t.Errorf("the log contains the %q token", name)
		}
	}
}

func TestEveryKindOfKeyVerifies(t *testing.T) {
	f := newAuthFixture(t)
	for _, h := range []string{
		`{"alg":"EdDSA","kid":"ed"}`, `{"alg":"RS256","kid":"rsa"}`,
		`{"alg":"ES256","kid":"ec"}`, `{"alg":"HS256","kid":"hs","typ":"JWT"}`,
	} {
		if resp, body := f.do(t, "GET", "/v1/models", f.sign(h, f.claims(nil)), ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d %s", h, resp.StatusCode, body)
		}
	}
}

func TestBearerHeaderForms(t *testing.T) {
	f := newAuthFixture(t)
	good := f.valid(nil)
	for name, edit := range map[string]func(*http.Request){
		"missing":      func(r *http.Request) {},
		"basic scheme": func(r *http.Request) { r.Header.Set("Authorization", "Basic "+good) },
		"two headers": func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+good)
			r.Header.Add("Authorization", "Bearer "+good)
		},
		"query parameter": func(r *http.Request) { r.URL.RawQuery = "access_token=" + good },
		"empty bearer":    func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") },
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
			edit(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
	req.Header.Set("Authorization", "bearer "+good) // the scheme is case-insensitive (RFC 7235)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("lower-case scheme: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

// TestRolesAndScopes: each role reaches its endpoints and no others.
func TestRolesAndScopes(t *testing.T) {
	f := newAuthFixture(t)
	token := func(roles ...string) string {
		return f.valid(func(c map[string]any) { c["roles"] = roles })
	}
	user, admin, auditor := token("user"), token("admin"), token("auditor")
	chat := `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"user chats", "POST", "/v1/chat/completions", user, chat, 200},
		{"admin cannot chat", "POST", "/v1/chat/completions", admin, chat, 403},
		{"auditor cannot chat", "POST", "/v1/chat/completions", auditor, chat, 403},
		{"user reads config", "GET", "/admin/config", user, "", 403},
		{"user revokes", "POST", "/admin/tokens/revoke", user, `{"jti":"x"}`, 403},
		{"auditor revokes", "POST", "/admin/tokens/revoke", auditor, `{"jti":"x"}`, 403},
		{"admin reads config", "GET", "/admin/config", admin, "", 200},
		{"several roles", "GET", "/admin/config", token("user", "admin"), "", 200},
		{"healthz needs nothing", "GET", "/healthz", "", "", 200},
		{"unknown path without token", "GET", "/v1/nothing-here", "", "", 401},
		{"unknown admin path without token", "GET", "/admin/secret", "", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, tc.method, tc.path, tc.token, tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 403 {
				if e := decodeError(t, body); e.Code == nil || *e.Code != "insufficient_scope" {
					t.Errorf("403 body: %s", body)
				}
			}
		})
	}

	scoped := f.valid(func(c map[string]any) { c["models"] = []string{"m2"} })
	resp, body := f.do(t, "POST", "/v1/chat/completions", scoped, chat)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "model_not_allowed") {
		t.Fatalf("model outside scope: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, "POST", "/v1/chat/completions", scoped, strings.Replace(chat, "m1", "m2", 1)); resp.StatusCode != 200 {
		t.Fatalf("model inside scope: %d", resp.StatusCode)
	}
	_, body = f.do(t, "GET", "/v1/models", scoped, "")
	if strings.Contains(string(body), `"m1"`) || !strings.Contains(string(body), `"m2"`) {
		t.Fatalf("/v1/models for a token scoped to m2: %s", body)
	}
	if resp, _ := f.do(t, "GET", "/v1/models/m1", scoped, ""); resp.StatusCode != 403 {
		t.Fatalf("GET /v1/models/m1 outside scope: %d", resp.StatusCode)
	}
}

// TestRevocationAppliesToTheNextRequest revokes through the admin endpoint.
func TestRevocationAppliesToTheNextRequest(t *testing.T) {
	f := newAuthFixture(t)
	jti := "to-be-revoked"
	victim := f.valid(func(c map[string]any) { c["jti"] = jti })
	admin := f.valid(func(c map[string]any) { c["roles"] = []string{"admin"}; c["sub"] = "root" })
	if resp, _ := f.do(t, "GET", "/v1/models", victim, ""); resp.StatusCode != 200 {
		t.Fatalf("before revocation: %d", resp.StatusCode)
	}
	if resp, body := f.do(t, "POST", "/admin/tokens/revoke", admin, `{"jti":"`+jti+`","reason":"test"}`); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, "GET", "/v1/models", victim, ""); resp.StatusCode != 401 {
		t.Fatalf("after revocation: %d, want 401", resp.StatusCode)
	}
	_, body := f.do(t, "GET", "/admin/tokens/revoked", admin, "")
	if !strings.Contains(string(body), `"revoked_by":"root"`) {
		t.Fatalf("revocation list: %s", body)
	}
}

func TestRateLimitPerSubject(t *testing.T) {
	f := newAuthFixture(t)
	srv, err := New(Config{
		Models: []engine.Generator{&fakeModel{name: "m1", context: 512}}, Auth: mustVerifier(t, f), RequestsPerMinute: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	f.url = ts.URL
	alice, bob := f.valid(nil), f.valid(func(c map[string]any) { c["sub"] = "bob" })
	for i := range 3 {
		if resp, _ := f.do(t, "GET", "/v1/models", alice, ""); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := f.do(t, "GET", "/v1/models", alice, "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "rate_limit_exceeded") {
		t.Fatalf("fourth request: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, _ := f.do(t, "GET", "/v1/models", bob, ""); resp.StatusCode != 200 {
		t.Fatalf("another subject is limited too: %d", resp.StatusCode)
	}
}

func mustVerifier(t *testing.T, f *authFixture) *auth.Verifier {
	t.Helper()
	dir := t.TempDir()
	path, _ := writePublicPEM(t, dir, "ed", f.ed.Public())
	keys, err := auth.LoadKeys(auth.KeySpec{File: path})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{
		Keys: keys, Issuer: "warden", Audience: "warden", MaxLifetime: time.Hour * 24, Revocations: f.revoked,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/models/trust"
	"github.com/warden-llm/warden/server"
	"github.com/warden-llm/warden/store/audit"
)

// TestValidateParsesTypedOptions: validate is where the options with
// types of their own are parsed, from flags, the environment or the
// file alike, and it leaves the typed values in the options.
func TestValidateParsesTypedOptions(t *testing.T) {
	t.Run("flags", func(t *testing.T) {
		_, o := testServe(t, "--kv-type", "Q8_0", "--metrics-role", "none", "--audit-text", "full",
			"--auth-key", "file=/a.pem,alg=RS256", "--auth-key", "kid=b, file=/b.pem")
		if err := o.validate(); err != nil {
			t.Fatal(err)
		}
		wantKeys := []auth.KeySpec{{File: "/a.pem", Alg: "RS256"}, {File: "/b.pem", ID: "b"}}
		if o.kvType != fit.CacheQ8_0 || o.metricsRole != server.MetricsOpen || o.audit.text != audit.TextFull || !slices.Equal(o.auth.specs, wantKeys) {
			t.Errorf("parsed kv %q, metrics %q, audit text %q, keys %+v", o.kvType, o.metricsRole, o.audit.text, o.auth.specs)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		_, o := testServe(t)
		if err := o.validate(); err != nil {
			t.Fatal(err)
		}
		if o.kvType != fit.CacheF16 || o.metricsRole != auth.RoleAdmin || o.audit.text != audit.TextRedacted || o.auth.specs != nil {
			t.Errorf("parsed kv %q, metrics %q, audit text %q, keys %+v", o.kvType, o.metricsRole, o.audit.text, o.auth.specs)
		}
	})
	t.Run("file and environment", func(t *testing.T) {
		t.Setenv("WARDEN_METRICS_ROLE", "auditor")
		cmd, o := testServe(t)
		cfg, err := loadConfig(writeConfig(t, "models:\n  kv_type: q4_0\naudit:\n  text: none\nauth:\n  keys: [\"file=/c.pem\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.apply(cmd); err != nil {
			t.Fatal(err)
		}
		if err := o.validate(); err != nil {
			t.Fatal(err)
		}
		if o.kvType != fit.CacheQ4_0 || o.metricsRole != auth.RoleAuditor || o.audit.text != audit.TextNone || !slices.Equal(o.auth.specs, []auth.KeySpec{{File: "/c.pem"}}) {
			t.Errorf("parsed kv %q, metrics %q, audit text %q, keys %+v", o.kvType, o.metricsRole, o.audit.text, o.auth.specs)
		}
	})
}

// TestValidateRefusals keeps the messages serve and config check give
// for each typed option.
func TestValidateRefusals(t *testing.T) {
	for _, tc := range []struct{ flag, value, want string }{
		{"--kv-type", "q5_1", `--kv-type: KV cache type "q5_1": want f16, q8_0 or q4_0`},
		{"--metrics-role", "root", `--metrics-role: metrics role "root": want admin, auditor, user or none`},
		{"--audit-text", "Full", `--audit-text: audit text policy "Full": want none, redacted or full`},
		{"--auth-key", "path=/a.pem", `--auth-key: key "path=/a.pem": unknown field "path"`},
	} {
		_, o := testServe(t, tc.flag, tc.value)
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %q", tc.flag, tc.value, err, tc.want)
		}
	}
}

// TestConfigValuesAreWhatValidateAccepts: a key with a closed set of
// values accepts from the file exactly what validate then parses, each
// value to itself.
func TestConfigValuesAreWhatValidateAccepts(t *testing.T) {
	typed := map[string]func(o *serveOptions) string{
		"models.kv_type": func(o *serveOptions) string { return string(o.kvType) },
		"audit.text":     func(o *serveOptions) string { return string(o.audit.text) },
		"metrics.role":   func(o *serveOptions) string { return string(o.metricsRole) },
	}
	for _, k := range configKeys() {
		get, ok := typed[k.key]
		if !ok {
			continue
		}
		if len(k.values) == 0 {
			t.Errorf("%s lists no allowed values", k.key)
		}
		for _, v := range k.values {
			t.Setenv(envName(k.key), v)
			cmd, o := testServe(t)
			cfg, err := loadConfig(writeConfig(t, ""))
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.apply(cmd); err != nil {
				t.Fatalf("%s=%s: %v", envName(k.key), v, err)
			}
			if err := o.validate(); err != nil {
				t.Fatalf("%s=%s: %v", envName(k.key), v, err)
			}
			if got := get(o); got != v {
				t.Errorf("%s=%s parsed to %q", envName(k.key), v, got)
			}
		}
		delete(typed, k.key)
	}
	for key := range typed {
		t.Errorf("no config key %s", key)
	}
}

// TestLoaderTakesTypedKVType: the model loader hands llama.cpp the cache
// type validate parsed, normalized, with no text left to parse again.
func TestLoaderTakesTypedKVType(t *testing.T) {
	_, o := testServe(t, "--kv-type", " Q4_0 ", "--parallel", "2")
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	cfg := newEngineLoad(&trust.Choice{Name: "m", Path: "/models/m.gguf", SHA256: "abc"}, *o).config("/models/m.gguf", 7, nil)
	if cfg.KVType != fit.CacheQ4_0 || cfg.Parallel != 2 || cfg.GPULayers != 7 || cfg.Name != "m" || cfg.Path != "/models/m.gguf" {
		t.Errorf("llama.cpp config %+v", cfg)
	}
}

type noRevocations struct{}

func (noRevocations) Revoked(context.Context, string) (bool, error) { return false, nil }

// TestReloadParsesKeysOnce: a reload reads the configuration through the
// same validate, and the keys it parsed are what the new verifier trusts.
func TestReloadParsesKeysOnce(t *testing.T) {
	keys := t.TempDir()
	if _, err := auth.GenerateKey("ed25519", filepath.Join(keys, "idp")); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, "")
	started, _ := testServe(t)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.apply(started); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{config: path, cfg: cfg}
	content := "auth:\n  keys: [\"file=" + filepath.Join(keys, "idp.pub.pem") + ",kid=idp\"]\nmetrics:\n  role: none\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &configReloader{jwks: newJWKSSources(t.Context()), g: g, started: started, revs: noRevocations{}}
	rel, restart, err := r.ReloadConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(restart, []string{"metrics.role"}) {
		t.Errorf("keys needing a restart: %v, want metrics.role", restart)
	}
	signer, err := auth.LoadSigner(auth.KeySpec{File: filepath.Join(keys, "idp.pem"), ID: "idp"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Issue(auth.TokenRequest{Issuer: auth.DefaultIssuer, Audience: auth.DefaultAudience,
		Subject: "s", Roles: []auth.Role{auth.RoleUser}, TTL: time.Minute}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rel.Auth == nil {
		t.Fatal("no verifier after the reload")
	}
	if _, err := rel.Auth.Verify(t.Context(), tok); err != nil {
		t.Errorf("a token signed with the reloaded key: %v", err)
	}
}

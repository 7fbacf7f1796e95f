package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warden.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testServe is a serve command bound to fresh options, with the global
// flags, as the root command would give it.
func testServe(t *testing.T, args ...string) (*cobra.Command, *serveOptions) {
	t.Helper()
	g := &globalOptions{}
	root := newRootCommand()
	var o serveOptions
	cmd := serveCommand(g, &o)
	cmd.Flags().AddFlagSet(root.PersistentFlags())
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return cmd, &o
}

// TestConfigPrecedence: flags beat WARDEN_* variables, which beat the
// file, which beats the defaults.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `
server:
  port: 9000
  host: "::1"
limits:
  requests_per_minute: 10
  tokens_per_minute: 20
auth:
  keys: ["file=/a.pem", "file=/b.pem,alg=RS256"]
logging:
  level: warn
`)
	t.Setenv("WARDEN_LIMITS_REQUESTS_PER_MINUTE", "30")
	t.Setenv("WARDEN_MODELS_PARALLEL", "3")
	cmd, o := testServe(t, "--port", "7000")
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.apply(cmd); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		got, want  any
		wantSource string
		key        string
	}{
		{"flag beats file", o.port, 7000, "flag --port", "server.port"},
		{"file beats default", o.host, "::1", "file", "server.host"},
		{"env beats file", o.rateRequests, 30, "env WARDEN_LIMITS_REQUESTS_PER_MINUTE", "limits.requests_per_minute"},
		{"env beats default", o.parallel, 3, "env WARDEN_MODELS_PARALLEL", "models.parallel"},
		{"file list", strings.Join(o.auth.keys, " "), "file=/a.pem file=/b.pem,alg=RS256", "file", "auth.keys"},
		{"default", o.batch, 512, "default", "models.batch"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
		if got := sourceOf(cfg, cmd, tc.key); got != tc.wantSource {
			t.Errorf("%s: source %q, want %q", tc.name, got, tc.wantSource)
		}
	}
}

func sourceOf(cfg *config, cmd *cobra.Command, key string) string {
	for _, e := range cfg.effective(cmd) {
		if e.Key == key {
			return e.Source
		}
	}
	return "missing"
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, content, env, want string
	}{
		{"unknown key", "server:\n  prot: 9000\n", "", `unknown key "server.prot"; known keys there: server.host, server.port`},
		{"unknown section", "sever:\n  port: 9000\n", "", `unknown key "sever.port"; sections are`},
		{"section as value", "server: 9000\n", "", `unknown key "server"`},
		{"value as section", "server:\n  port:\n    value: 1\n", "", `server.port.value`},
		{"wrong type", "server:\n  port: lots\n", "", `key "server.port"`},
		{"not in the allowed set", "models:\n  kv_type: q5_1\n", "", `want one of f16, q8_0, q4_0`},
		{"env wrong type", "", "WARDEN_SERVER_GRACE=soon", `WARDEN_SERVER_GRACE`},
		{"env not allowed", "", "WARDEN_LOGGING_FORMAT=xml", `WARDEN_LOGGING_FORMAT (want one of text, json)`},
		{"not YAML", "server: [\n", "", "warden.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				name, value, _ := strings.Cut(tc.env, "=")
				t.Setenv(name, value)
			}
			cmd, _ := testServe(t)
			cfg, err := loadConfig(writeConfig(t, tc.content))
			if err == nil {
				err = cfg.apply(cmd)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigRedactsURLCredentials(t *testing.T) {
	cmd, _ := testServe(t, "--auth-jwks-url", "https://user:hunter2@idp.example.com/keys")
	cfg, err := loadConfig(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cfg.effective(cmd) {
		if strings.Contains(e.Value, "hunter2") {
			t.Fatalf("%s shows a password: %s", e.Key, e.Value)
		}
	}
}

// TestEveryKeyHasItsFlag keeps the schema and the flags in step: a key
// whose flag was renamed would silently stop working.
func TestEveryKeyHasItsFlag(t *testing.T) {
	serve, _ := testServe(t)
	root := newRootCommand()
	issue, _, err := root.Find([]string{"token", "issue"})
	if err != nil {
		t.Fatal(err)
	}
	pull, _, err := root.Find([]string{"models", "pull"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range configKeys() {
		found := false
		for _, name := range k.flags {
			if serve.Flags().Lookup(name) != nil || issue.Flags().Lookup(name) != nil || pull.Flags().Lookup(name) != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("config key %s sets no flag of serve, token issue or models pull (flags %v)", k.key, k.flags)
		}
	}
}

// TestConfigAgainstBinary: serve and token issue read the same file, so a
// token issued with only --config is trusted by a server started with it;
// config check refuses a bad file, naming the key.
func TestConfigAgainstBinary(t *testing.T) {
	data := t.TempDir()
	path := writeConfig(t, "data_dir: "+data+"\nmodels:\n  lock: "+repoLock+"\n  parallel: 2\n")
	w := startWarden(t, "--config", path, "--data-dir", data)
	tok, err := runWarden(t, "token", "issue", "--config", path, "--sub", "cfg", "--role", "user")
	if err != nil {
		t.Fatalf("token issue: %v\n%s", err, tok)
	}
	if code, body := get(t, w.base+"/v1/models", strings.TrimSpace(tok)); code != 200 {
		t.Fatalf("token issued through the config file's data_dir: %d %s", code, body)
	}
	out, err := runWarden(t, "config", "check", "--config", path)
	if err != nil || !strings.Contains(out, "models.parallel") || !strings.Contains(out, "file") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	bad := writeConfig(t, "audit:\n  text: everything\n")
	out, err = runWarden(t, "config", "check", "--config", bad)
	if err == nil || !strings.Contains(out, `"audit.text"`) || !strings.Contains(out, "none, redacted, full") {
		t.Fatalf("config check on a bad file: %v\n%s", err, out)
	}
}

// TestExampleConfigIsComplete keeps deploy/warden.yaml, the documented
// example, in step with the schema: every key present, and valid.
func TestExampleConfigIsComplete(t *testing.T) {
	cfg, err := loadConfig("../../deploy/warden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range configKeys() {
		if !cfg.v.InConfig(k.key) {
			t.Errorf("deploy/warden.yaml lacks %s", k.key)
		}
	}
	cmd, o := testServe(t)
	if err := cfg.apply(cmd); err != nil {
		t.Fatal(err)
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/server"
	"github.com/warden-llm/warden/store/audit"
)

// configKey is one setting of the configuration file: a dotted key in the
// YAML file, the WARDEN_* variable derived from it, and the flags it sets
// (a setting may apply to several commands under different flag names).
type configKey struct {
	key    string
	flags  []string
	values []string // for keys with a closed set of values, those values (valueNames)
}

// configKeys is the whole configuration schema. Every key maps onto a
// command-line flag: flags given on the command line win over WARDEN_*
// variables, which win over the file, which wins over the defaults.
func configKeys() []configKey {
	return []configKey{
		{key: "data_dir", flags: []string{"data-dir"}},
		{key: "server.host", flags: []string{"host"}},
		{key: "server.port", flags: []string{"port"}},
		{key: "server.max_body", flags: []string{"max-body"}},
		{key: "server.grace", flags: []string{"grace"}},
		{key: "tls.cert", flags: []string{"tls-cert"}},
		{key: "tls.key", flags: []string{"tls-key"}},
		{key: "auth.enabled", flags: []string{"auth"}},
		{key: "auth.keys", flags: []string{"auth-key"}},
		{key: "auth.jwks_url", flags: []string{"auth-jwks-url"}},
		{key: "auth.issuer", flags: []string{"auth-issuer", "issuer"}},
		{key: "auth.audience", flags: []string{"auth-audience", "audience"}},
		{key: "auth.max_ttl", flags: []string{"auth-max-ttl"}},
		{key: "auth.skew", flags: []string{"auth-skew"}},
		{key: "limits.requests_per_minute", flags: []string{"rate-requests"}},
		{key: "limits.tokens_per_minute", flags: []string{"rate-tokens"}},
		{key: "limits.queue", flags: []string{"queue"}},
		{key: "limits.queue_timeout", flags: []string{"queue-timeout"}},
		{key: "models.lock", flags: []string{"lock"}},
		{key: "models.model", flags: []string{"model"}},
		{key: "models.context", flags: []string{"ctx"}},
		{key: "models.parallel", flags: []string{"parallel"}},
		{key: "models.batch", flags: []string{"batch"}},
		{key: "models.threads", flags: []string{"threads"}},
		{key: "models.gpu_layers", flags: []string{"gpu-layers"}},
		{key: "models.kv_type", flags: []string{"kv-type"}, values: valueNames(fit.CacheTypes())},
		{key: "models.require_full_gpu", flags: []string{"require-full-gpu"}},
		{key: "models.allow_unpinned", flags: []string{"allow-unpinned"}},
		{key: "models.reverify", flags: []string{"reverify"}},
		{key: "models.require", flags: []string{"models-require"}},
		{key: "models.sources", flags: []string{"allow-source"}},
		{key: "models.hub", flags: []string{"hub"}},
		{key: "models.hub_hosts", flags: []string{"hub-host"}},
		{key: "engine.isolation", flags: []string{"engine"}, values: []string{isolationProcess, isolationInProcess}},
		{key: "engine.sandbox", flags: []string{"engine-sandbox"}},
		{key: "engine.address_space", flags: []string{"engine-address-space"}},
		{key: "engine.max_crashes", flags: []string{"engine-max-crashes"}},
		{key: "docbase.embedding_model", flags: []string{"embedding-model"}},
		{key: "docbase.max_upload_bytes", flags: []string{"max-upload-bytes"}},
		{key: "guard.system_prompt_file", flags: []string{"system-prompt-file"}},
		{key: "guard.system_policy", flags: []string{"system-policy"}, values: valueNames(server.SystemPolicies())},
		{key: "guard.spotlight", flags: []string{"spotlight"}, values: []string{"datamark", "delimit", "off"}},
		{key: "guard.invisible", flags: []string{"invisible-text"}, values: []string{"strip", "reject", "off"}},
		{key: "guard.injection", flags: []string{"injection"}, values: []string{"flag", "block", "off"}},
		{key: "guard.leak", flags: []string{"leak"}, values: []string{"block", "flag", "off"}},
		{key: "guard.canary", flags: []string{"canary"}},
		{key: "guard.secrets_file", flags: []string{"secrets-file"}},
		{key: "audit.text", flags: []string{"audit-text"}, values: valueNames(audit.TextPolicies())},
		{key: "audit.fail_open", flags: []string{"audit-fail-open"}},
		{key: "audit.retention", flags: []string{"audit-retention"}},
		{key: "audit.key", flags: []string{"audit-key"}},
		{key: "audit.pseudonym_key", flags: []string{"audit-pseudonym-key"}},
		{key: "redact.patterns", flags: []string{"redact-pattern"}},
		{key: "redact.words", flags: []string{"redact-words"}},
		{key: "metrics.role", flags: []string{"metrics-role"}, values: valueNames(server.MetricsRoles())},
		{key: "logging.level", flags: []string{"log-level"}, values: []string{"debug", "info", "warn", "error"}},
		{key: "logging.format", flags: []string{"log-format"}, values: []string{"text", "json"}},
	}
}

// valueNames is the allowed values of a key whose flag is parsed into a
// type of its own, taken from the list that type's parser accepts, so
// that a value is added in one place.
func valueNames[T ~string](values []T) []string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return names
}

// envName is the variable that sets key: WARDEN_ and the key in capitals
// with dots as underscores, e.g. WARDEN_SERVER_PORT.
func envName(key string) string {
	return "WARDEN_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// listSeparator splits list values given in one WARDEN_* variable; a
// comma cannot, since key specs and redaction patterns contain commas.
const listSeparator = ";"

// configSearchPath is where a configuration file is looked for when
// neither --config nor WARDEN_CONFIG names one; the first found is used.
func configSearchPath() []string {
	paths := []string{"warden.yaml"}
	if dir, err := os.UserConfigDir(); err == nil {
		paths = append(paths, filepath.Join(dir, "warden", "warden.yaml"))
	}
	return append(paths, "/etc/warden/warden.yaml")
}

// config is the configuration file and environment, read once per run.
type config struct {
	v       *viper.Viper
	path    string          // the file read, or "" when none
	cmdline map[string]bool // flags given on the command line, by name
}

// loadConfig reads path (or the file WARDEN_CONFIG names, or the first
// file on the search path) and checks that it holds only known keys.
func loadConfig(path string) (*config, error) {
	v := viper.New()
	v.SetEnvPrefix("WARDEN")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path == "" {
		path = os.Getenv("WARDEN_CONFIG")
	}
	if path == "" {
		for _, p := range configSearchPath() {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	c := &config{v: v, path: path}
	if path == "" {
		return c, nil
	}
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.checkKeys(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// checkKeys refuses keys the schema does not know, so a typo never passes
// silently, and says which keys exist.
func (c *config) checkKeys() error {
	known := map[string]bool{}
	for _, k := range configKeys() {
		known[k.key] = true
	}
	for _, key := range c.v.AllKeys() {
		if known[key] {
			continue
		}
		section, _, _ := strings.Cut(key, ".")
		var siblings []string
		for _, k := range configKeys() {
			if s, _, nested := strings.Cut(k.key, "."); nested && s == section || k.key == section {
				siblings = append(siblings, k.key)
			}
		}
		if len(siblings) == 0 {
			return fmt.Errorf("unknown key %q; sections are data_dir, server, tls, auth, limits, models, docbase, audit, redact, metrics, logging", key)
		}
		return fmt.Errorf("unknown key %q; known keys there: %s", key, strings.Join(siblings, ", "))
	}
	return nil
}

// source says where a setting's value comes from.
func (c *config) source(cmd *cobra.Command, k configKey) string {
	for _, name := range k.flags {
		if c.cmdline[name] {
			return "flag --" + name
		}
	}
	if _, ok := os.LookupEnv(envName(k.key)); ok {
		return "env " + envName(k.key)
	}
	if c.v.InConfig(k.key) {
		return "file"
	}
	return "default"
}

// apply sets every flag of cmd that the command line left alone from the
// environment or the file.
func (c *config) apply(cmd *cobra.Command) error {
	flags := cmd.Flags()
	if c.cmdline == nil {
		c.cmdline = map[string]bool{}
	}
	flags.Visit(func(f *pflag.Flag) { c.cmdline[f.Name] = true })
	for _, k := range configKeys() {
		env, fromEnv := os.LookupEnv(envName(k.key))
		if !fromEnv && !c.v.InConfig(k.key) {
			continue
		}
		if k.values != nil {
			v := env
			if !fromEnv {
				v = fmt.Sprint(c.v.Get(k.key))
			}
			if !slices.Contains(k.values, v) {
				return fmt.Errorf("%s: %q is not allowed", c.describe(k, fromEnv), v)
			}
		}
		for _, name := range k.flags {
			f := flags.Lookup(name)
			if f == nil || f.Changed {
				continue
			}
			var err error
			if fromEnv {
				err = setFlag(flags, f, envValue(f, env))
			} else {
				err = setFlag(flags, f, c.v.Get(k.key))
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.describe(k, fromEnv), err)
			}
		}
	}
	return nil
}

func (c *config) describe(k configKey, fromEnv bool) string {
	where := fmt.Sprintf("key %q in %s", k.key, c.path)
	if fromEnv {
		where = envName(k.key)
	}
	if k.values != nil {
		return fmt.Sprintf("%s (want one of %s)", where, strings.Join(k.values, ", "))
	}
	return where
}

// envValue turns a variable into what setFlag takes: lists split on ";".
func envValue(f *pflag.Flag, s string) any {
	if !isList(f) {
		return s
	}
	var items []any
	for _, item := range strings.Split(s, listSeparator) {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func isList(f *pflag.Flag) bool {
	t := f.Value.Type()
	return strings.HasSuffix(t, "Array") || strings.HasSuffix(t, "Slice")
}

func setFlag(flags *pflag.FlagSet, f *pflag.Flag, v any) error {
	switch v := v.(type) {
	case []any:
		if !isList(f) {
			return errors.New("want a single value, got a list")
		}
		for _, item := range v {
			if err := setFlag(flags, f, item); err != nil {
				return err
			}
		}
		return nil
	case []string:
		items := make([]any, len(v))
		for i, s := range v {
			items[i] = s
		}
		return setFlag(flags, f, items)
	case map[string]any:
		return fmt.Errorf("want a value, got a section (%d keys)", len(v))
	case nil:
		return errors.New("no value")
	default:
		return flags.Set(f.Name, fmt.Sprint(v))
	}
}

// effective is the configuration a command runs with, by key, each value
// with its source. Values that could carry credentials are redacted.
type effective struct {
	Key, Value, Source string
}

func (c *config) effective(cmd *cobra.Command) []effective {
	var out []effective
	for _, k := range configKeys() {
		f := cmd.Flags().Lookup(k.flags[0])
		if f == nil {
			continue
		}
		value := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			value = strings.Join(sv.GetSlice(), listSeparator)
		}
		out = append(out, effective{Key: k.key, Value: redactValue(value), Source: c.source(cmd, k)})
	}
	slices.SortStableFunc(out, func(a, b effective) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// redactValue hides credentials a URL might carry. Keys and secrets are
// never configuration values themselves, only the files holding them.
func redactValue(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	}
	return v
}

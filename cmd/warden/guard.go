package main

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/warden-llm/warden/server"
	"github.com/warden-llm/warden/server/guard"
)

// guardOptions configure the guard stage every generation request passes
// (docs/guard.md): the operator's system prompt and what becomes of a
// caller's, spotlighting, invisible text, injection heuristics and leak
// detection.
type guardOptions struct {
	systemPromptFile string
	systemPolicy     string
	spotlight        string
	invisible        string
	injection        string
	leak             string
	canary           bool
	secretsFile      string

	parsed server.Guard // what parse made of the above, files read
}

func (g *guardOptions) register(f *pflag.FlagSet) {
	f.StringVar(&g.systemPromptFile, "system-prompt-file", "", "file holding the operator's system prompt, which leads every chat request (its SHA-256 is in each audit record)")
	f.StringVar(&g.systemPolicy, "system-policy", string(server.SystemAppend), "a caller's system/developer messages when a system prompt is pinned: allow, append (kept below it, marked lower priority) or reject (400)")
	f.StringVar(&g.spotlight, "spotlight", string(guard.SpotlightDatamark), "how retrieved chunks and tool results are marked as data: datamark, delimit or off")
	f.StringVar(&g.invisible, "invisible-text", string(guard.InvisibleStrip), "Unicode tag, zero-width and bidi characters in inputs and chunks: strip, reject (400) or off")
	f.StringVar(&g.injection, "injection", string(guard.InjectionFlag), "known prompt-injection phrasings in user messages and chunks: flag (audited), block (400) or off")
	f.StringVar(&g.leak, "leak", string(guard.ActionBlock), "a reply leaking the canary, the system prompt or a secret: block (cut, finish_reason content_filter), flag (audited) or off")
	f.BoolVar(&g.canary, "canary", true, "add a random canary to each request's system prompt and watch the reply for it")
	f.StringVar(&g.secretsFile, "secrets-file", "", "file of strings no reply may contain, one a line")
}

// parse checks the options and reads the files they name, once, into
// g.parsed.
func (g *guardOptions) parse() error {
	var err error
	g.parsed, err = g.build()
	return err
}

// build checks the options and reads the files they name.
func (g *guardOptions) build() (server.Guard, error) {
	out := server.Guard{Canary: g.canary}
	var err error
	if out.SystemPolicy, err = oneOf("--system-policy (guard.system_policy)", g.systemPolicy, server.SystemPolicies()); err != nil {
		return out, err
	}
	if out.Spotlight, err = guard.ParseSpotlightMode(g.spotlight); err != nil {
		return out, fmt.Errorf("--spotlight (guard.spotlight): %w", err)
	}
	if out.Invisible, err = guard.ParseInvisibleMode(g.invisible); err != nil {
		return out, fmt.Errorf("--invisible-text (guard.invisible): %w", err)
	}
	if out.Injection, err = guard.ParseInjectionMode(g.injection); err != nil {
		return out, fmt.Errorf("--injection (guard.injection): %w", err)
	}
	if out.Leak, err = actionOrOff("--leak (guard.leak)", g.leak); err != nil {
		return out, err
	}
	if g.systemPromptFile != "" {
		data, err := os.ReadFile(g.systemPromptFile)
		if err != nil {
			return out, fmt.Errorf("--system-prompt-file (guard.system_prompt_file): %w", err)
		}
		out.SystemPrompt = strings.TrimSpace(string(data))
		if out.SystemPrompt == "" {
			return out, fmt.Errorf("--system-prompt-file %s is empty", g.systemPromptFile)
		}
	}
	if g.secretsFile != "" {
		if out.Secrets, err = readLines(g.secretsFile); err != nil {
			return out, fmt.Errorf("--secrets-file (guard.secrets_file): %w", err)
		}
	}
	return out, nil
}

func oneOf[T ~string](what, v string, allowed []T) (T, error) {
	if slices.Contains(allowed, T(v)) {
		return T(v), nil
	}
	return "", fmt.Errorf("%s %q: want one of %v", what, v, allowed)
}

// actionOrOff reads flag, block or off; off is the empty Action.
func actionOrOff(what, v string) (guard.Action, error) {
	switch v {
	case "off":
		return "", nil
	case string(guard.ActionFlag), string(guard.ActionBlock):
		return guard.Action(v), nil
	}
	return "", fmt.Errorf("%s %q: want flag, block or off", what, v)
}

// readLines reads a file of one value a line; blank lines and lines
// starting with # are skipped.
func readLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// logGuard says at start which defences are on, so an operator reading the
// log knows what the audit records will show.
func logGuard(log *slog.Logger, g server.Guard) {
	sha := ""
	if g.SystemPrompt != "" {
		sum := sha256.Sum256([]byte(g.SystemPrompt))
		sha = hex.EncodeToString(sum[:])
	}
	log.Info("guard", "system_prompt_sha256", sha, "system_policy", g.SystemPolicy, "spotlight", g.Spotlight,
		"invisible", g.Invisible, "injection", g.Injection, "leak", cmp.Or(string(g.Leak), "off"),
		"canary", g.Canary, "secrets", len(g.Secrets))
}

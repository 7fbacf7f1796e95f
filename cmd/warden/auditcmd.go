package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/warden-llm/warden/store"
	"github.com/warden-llm/warden/store/audit"
	"github.com/warden-llm/warden/store/redact"
)

// auditOptions configure the audit log; serve and the audit commands
// share where it lives.
type auditOptions struct {
	keyFile      string
	textArg      string           // --audit-text as given
	text         audit.TextPolicy // parsed from textArg by parse
	failOpen     bool
	retention    time.Duration
	pseudonymKey string
	patterns     patternsFlag // the operator's redaction patterns
	words        wordsFlag    // the operator's word list
}

func (a *auditOptions) registerLocation(f *pflag.FlagSet) {
	f.StringVar(&a.keyFile, "audit-key", "", "HMAC key of the audit log's hash chain, 32 bytes, mode 0600; created if missing (default <data-dir>/keys/audit.key; keep it off the database's disk for stronger tamper evidence)")
}

func (a *auditOptions) register(f *pflag.FlagSet) {
	a.registerLocation(f)
	f.StringVar(&a.textArg, "audit-text", string(audit.TextRedacted), "what the audit log keeps of prompts and answers: none, redacted (personal data replaced by [EMAIL], [PHONE]…) or full")
	f.BoolVar(&a.failOpen, "audit-fail-open", false, "keep serving when the audit log cannot be written, dropping records (default: refuse requests with 503)")
	f.DurationVar(&a.retention, "audit-retention", audit.DefaultRetention, "delete audit records older than this (default 183 days: the EU AI Act's six months); 0 keeps everything")
	f.StringVar(&a.pseudonymKey, "audit-pseudonym-key", "", "key file: redacted values become stable pseudonyms such as [EMAIL:3f9a1c2b] (HMAC), so equal values can be correlated")
	registerRedactRules(f, &a.patterns, &a.words)
}

// reasonRedactor is what revocation reasons pass before revocations.db
// stores them: the operator's patterns and words with the built-in rules,
// or nil for the built-in rules alone when there are none.
func (a *auditOptions) reasonRedactor() *redact.Redactor {
	return reasonRedactor(a.patterns, a.words)
}

func reasonRedactor(patterns patternsFlag, words wordsFlag) *redact.Redactor {
	if len(patterns.patterns) == 0 && len(words.words) == 0 {
		return nil
	}
	return redact.New(redact.Options{Patterns: patterns.patterns, Words: words.words})
}

// registerRedactRules adds --redact-pattern and --redact-words to a command
// that stores text without opening the audit log (token revoke), so that
// it applies the same rules, from the same configuration keys.
func registerRedactRules(f *pflag.FlagSet, patterns *patternsFlag, words *wordsFlag) {
	f.Var(patterns, "redact-pattern", "NAME=regexp (Go RE2 syntax): text matching it is redacted as [NAME]; repeatable")
	f.Var(words, "redact-words", "file of names and other terms, one a line (# comments), redacted as [NAME] wherever they stand as whole words, in any case")
}

// patternsFlag is --redact-pattern. Each value is compiled as it is set,
// so that a bad expression stops serve, and config check, naming it.
type patternsFlag struct {
	specs    []string
	patterns []redact.Pattern
}

func (f *patternsFlag) Set(spec string) error {
	p, err := redact.ParsePattern(spec)
	if err != nil {
		return err
	}
	f.specs = append(f.specs, spec)
	f.patterns = append(f.patterns, p)
	return nil
}

func (f *patternsFlag) String() string { return "[" + strings.Join(f.specs, ",") + "]" }

// Type names the flag a list, so that the configuration file and
// WARDEN_REDACT_PATTERNS may give several.
func (f *patternsFlag) Type() string { return "stringArray" }

func (f *patternsFlag) GetSlice() []string { return slices.Clone(f.specs) }

func (f *patternsFlag) Append(spec string) error { return f.Set(spec) }

func (f *patternsFlag) Replace(specs []string) error {
	*f = patternsFlag{}
	for _, spec := range specs {
		if err := f.Set(spec); err != nil {
			return err
		}
	}
	return nil
}

// wordsFlag is --redact-words: the file is read and checked as the flag
// is set, for the same reason.
type wordsFlag struct {
	path  string
	words []string
}

func (f *wordsFlag) Set(path string) error {
	if path == "" {
		*f = wordsFlag{}
		return nil
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	words, err := redact.ParseWords(file)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	*f = wordsFlag{path: path, words: words}
	return nil
}

func (f *wordsFlag) String() string { return f.path }

func (f *wordsFlag) Type() string { return "string" }

func auditPath(dir store.Dir) string { return filepath.Join(dir.Path(), "audit.db") }

func (a *auditOptions) key(dir store.Dir) ([]byte, error) {
	path := a.keyFile
	if path == "" {
		keys, err := dir.Keys()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(keys, "audit.key")
	}
	return audit.LoadOrCreateKey(path)
}

// parse reads --audit-text into a.text; serveOptions.validate runs it.
func (a *auditOptions) parse() error {
	text, err := audit.ParseTextPolicy(a.textArg)
	if err != nil {
		return fmt.Errorf("--audit-text: %w", err)
	}
	a.text = text
	return nil
}

// open opens the data directory's audit log for writing, under the text
// policy parse read.
func (a *auditOptions) open(ctx context.Context, dir store.Dir, log *slog.Logger) (*audit.Log, error) {
	if a.retention < 0 {
		return nil, fmt.Errorf("--audit-retention must be 0 or positive")
	}
	key, err := a.key(dir)
	if err != nil {
		return nil, err
	}
	var pseudonyms []byte
	if a.pseudonymKey != "" {
		if pseudonyms, err = audit.LoadOrCreateKey(a.pseudonymKey); err != nil {
			return nil, fmt.Errorf("--audit-pseudonym-key: %w", err)
		}
	}
	l, err := audit.Open(ctx, auditPath(dir), audit.Options{
		Key: key, TextPolicy: a.text,
		Redactor: redact.New(redact.Options{Key: pseudonyms, Patterns: a.patterns.patterns, Words: a.words.words}),
		FailOpen: a.failOpen, Logger: log,
	})
	if errors.Is(err, audit.ErrHead) {
		return nil, fmt.Errorf("audit log: %w\n%s", err, reanchorHint)
	}
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if a.failOpen {
		log.Warn("AUDIT FAIL-OPEN (--audit-fail-open): requests are served even when they cannot be recorded")
	}
	return l, nil
}

// purgeEvery runs the retention purge now and then daily until ctx ends.
// Each run records itself in the log.
func purgeEvery(ctx context.Context, l *audit.Log, retention time.Duration, log *slog.Logger) {
	if retention == 0 {
		return
	}
	for {
		res, err := l.Purge(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("audit retention purge failed", "err", err)
		case err == nil && res.Deleted > 0:
			log.Info("audit retention purge", "deleted", res.Deleted, "first_id", res.FirstID, "last_id", res.LastID)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}

func newAuditCommand(g *globalOptions) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and check the audit log (safe while the server runs)",
	}
	o.registerLocation(cmd.PersistentFlags())
	open := func(ctx context.Context, needKey bool) (*audit.Reader, error) {
		dir, err := g.openDataDir()
		if err != nil {
			return nil, err
		}
		var key []byte
		if needKey {
			if key, err = o.key(dir); err != nil {
				return nil, err
			}
		}
		return audit.OpenReader(ctx, auditPath(dir), key)
	}

	var headCopies []string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole hash chain and its head file; exit status 1 and the first problem if it fails",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rd, err := open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer rd.Close()
			rep, err := rd.VerifyWith(cmd.Context(), headCopies...)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), rep.String())
			return verifyError(rep)
		},
	}
	verify.Flags().StringArrayVar(&headCopies, "head", nil, "also check against this copy of audit.head kept elsewhere (repeatable): catches an old head put back with the log cut to match")

	var f auditFilterFlags
	var format string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write matching records to stdout as JSON lines or CSV",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.filter()
			if err != nil {
				return err
			}
			rd, err := open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer rd.Close()
			switch format {
			case "jsonl":
				return rd.ExportJSONL(cmd.Context(), cmd.OutOrStdout(), filter)
			case "csv":
				return rd.ExportCSV(cmd.Context(), cmd.OutOrStdout(), filter)
			}
			return fmt.Errorf("--format %q: want jsonl or csv", format)
		},
	}
	f.register(export.Flags())
	export.Flags().StringVar(&format, "format", "jsonl", "jsonl or csv")

	var n int
	var follow, guardOnly bool
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the last records as JSON lines; --follow keeps printing new ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rd, err := open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer rd.Close()
			return tailLog(cmd.Context(), rd, audit.Filter{Guard: guardOnly}, n, follow, cmd.OutOrStdout())
		},
	}
	tail.Flags().IntVarP(&n, "lines", "n", 10, "how many of the last records to print")
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing records as they are written")
	tail.Flags().BoolVar(&guardOnly, "guard", false, "only records with guard events (injection, invisible text, leaks, system messages)")

	cmd.AddCommand(verify, export, tail, newReanchorCommand(g, &o))
	return cmd
}

// tailLog prints the last n records matching f, then with follow polls
// for more.
func tailLog(ctx context.Context, rd *audit.Reader, f audit.Filter, n int, follow bool, w io.Writer) error {
	var last []audit.Entry
	var after int64
	for {
		f.After, f.Limit = after, 1000
		page, err := rd.Query(ctx, f)
		if err != nil {
			return err
		}
		last = append(last, page.Entries...)
		if len(last) > n {
			last = last[len(last)-n:]
		}
		if len(page.Entries) > 0 {
			after = page.Entries[len(page.Entries)-1].ID
		}
		if page.NextCursor == 0 {
			break
		}
	}
	enc := json.NewEncoder(w)
	for _, e := range last {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	for follow {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		f.After, f.Limit = after, 1000
		page, err := rd.Query(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
			after = e.ID
		}
	}
	return nil
}

type auditFilterFlags struct {
	since, until, subject, model, endpoint, kind string
	status                                       int
	guard                                        bool
}

func (f *auditFilterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.since, "since", "", "records at or after this time (RFC 3339) or this long ago (e.g. 24h)")
	fs.StringVar(&f.until, "until", "", "records before this time (RFC 3339) or this long ago")
	fs.StringVar(&f.subject, "subject", "", "only this token subject")
	fs.StringVar(&f.model, "model", "", "only this model")
	fs.StringVar(&f.endpoint, "endpoint", "", "only this endpoint path, e.g. /v1/chat/completions")
	fs.StringVar(&f.kind, "kind", "", "only request, admin or system records")
	fs.IntVar(&f.status, "status", 0, "only this HTTP status")
	fs.BoolVar(&f.guard, "guard", false, "only records with guard events (injection, invisible text, leaks, system messages)")
}

func (f *auditFilterFlags) filter() (audit.Filter, error) {
	since, err := parseWhen(f.since)
	if err != nil {
		return audit.Filter{}, fmt.Errorf("--since: %w", err)
	}
	until, err := parseWhen(f.until)
	if err != nil {
		return audit.Filter{}, fmt.Errorf("--until: %w", err)
	}
	return audit.Filter{Since: since, Until: until, Subject: f.subject, Model: f.model,
		Endpoint: f.endpoint, Kind: audit.Kind(f.kind), Status: f.status, Guard: f.guard}, nil
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

// Package audit is Warden's tamper-evident audit log: one record per HTTP
// call (rejected ones included) and per administrative or system event,
// kept in SQLite and chained with HMAC-SHA256 under a key held outside the
// database, so that editing, deleting or reordering rows shows in Verify.
//
// A Log is the writing side, owned by the server: Submit hands records to
// one writer goroutine that batches them into transactions. A Reader opens
// the same file read-only for CLI commands run while the server is up.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-llm/warden/store"
)

// Kind says what a record is about.
type Kind string

const (
	KindRequest Kind = "request" // one HTTP call, answered or rejected
	KindAdmin   Kind = "admin"   // an administrator's action (keys, config)
	KindSystem  Kind = "system"  // the server's own events: start, purge
)

// TextPolicy says what is kept of prompt and response texts.
type TextPolicy string

const (
	TextNone     TextPolicy = "none"     // texts are not stored at all
	TextRedacted TextPolicy = "redacted" // texts pass through the Redactor first
	TextFull     TextPolicy = "full"     // texts are stored as given
)

// TextPolicies lists every TextPolicy: the one list that parsing,
// validation and the configuration's allowed values come from.
func TextPolicies() []TextPolicy { return []TextPolicy{TextNone, TextRedacted, TextFull} }

// ParseTextPolicy reads a policy name as given on a command line or in a
// configuration file. Parse a setting once, where it is read, and pass
// the TextPolicy on.
func ParseTextPolicy(s string) (TextPolicy, error) {
	p := TextPolicy(s)
	if err := p.Check(); err != nil {
		return "", err
	}
	return p, nil
}

// Check reports whether p is one of TextPolicies.
func (p TextPolicy) Check() error {
	if slices.Contains(TextPolicies(), p) {
		return nil
	}
	all := TextPolicies()
	names := make([]string, len(all))
	for i, q := range all {
		names[i] = string(q)
	}
	return fmt.Errorf("audit text policy %q: want %s or %s", string(p), strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// Redactor removes secrets and personal data from free text.
type Redactor interface{ Redact(string) string }

// DefaultRetention is how long records are kept before Purge may delete
// them: six months, the minimum the EU AI Act (Art. 26(6)) asks of
// deployers of high-risk systems for their logs.
const DefaultRetention = 183 * 24 * time.Hour

var (
	// ErrUnavailable means a record could not be accepted: the store
	// cannot be written or the queue stayed full. Servers answer 503.
	ErrUnavailable = errors.New("audit log unavailable")
	// ErrClosed is returned after Close; it is also an ErrUnavailable.
	ErrClosed = fmt.Errorf("%w: closed", ErrUnavailable)
)

// Record is one audited event. Fields that do not apply stay zero.
// Times and durations are stored with microsecond precision.
type Record struct {
	Time             time.Time // when the event happened; zero means now
	Kind             Kind      // zero means KindRequest
	RequestID        string
	Subject          string // who: the authenticated key's subject
	Roles            []string
	ClientAddr       string
	Method           string
	Endpoint         string
	Model            string
	ModelSHA256      string // the model file's hash as pinned in models.lock
	Status           int    // HTTP status answered
	ErrorType        string // OpenAI error type or code, when Status is an error
	PromptTokens     int
	CompletionTokens int
	Queue            time.Duration // waiting for a slot
	TTFT             time.Duration // until the first token was sent
	Total            time.Duration
	FinishReason     string
	Action           string // admin, system and document events: what was done
	Detail           string // admin, system and document events: free text, redacted
	Prompt           string // kept according to the text policy
	Response         string // kept according to the text policy
}

// Options configure a Log. Key is required; the rest have defaults.
type Options struct {
	// Key is the HMAC key of the chain, at least 32 bytes, kept outside
	// the database (see LoadOrCreateKey).
	Key []byte
	// TextPolicy defaults to TextRedacted, which requires Redactor.
	TextPolicy TextPolicy
	// Redactor is applied to texts under TextRedacted, and to Detail
	// under every policy when set.
	Redactor Redactor
	// FailOpen accepts records while the store cannot be written and
	// drops them, counted in Dropped. By default the log fails closed:
	// Submit returns ErrUnavailable.
	FailOpen bool
	// QueueSize bounds the records waiting for the writer (default 1024).
	QueueSize int
	// BatchSize bounds the records written per transaction (default 64).
	BatchSize int
	// SubmitTimeout bounds how long Submit waits for room in a full
	// queue (default 1s).
	SubmitTimeout time.Duration
	// RetryInterval is how often a failed write is tried again
	// (default 1s).
	RetryInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// sync is store.SyncFull outside the benchmark comparing it.
	sync store.Sync
	// purgeChunk is defaultPurgeChunk outside tests.
	purgeChunk int
}

func (o *Options) setDefaults() error {
	if len(o.Key) < 32 {
		return fmt.Errorf("audit key must be at least 32 bytes, got %d", len(o.Key))
	}
	if o.TextPolicy == "" {
		o.TextPolicy = TextRedacted
	}
	if err := o.TextPolicy.Check(); err != nil {
		return err
	}
	if o.TextPolicy == TextRedacted && o.Redactor == nil {
		return errors.New("audit text policy redacted needs a redactor")
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.SubmitTimeout <= 0 {
		o.SubmitTimeout = time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.sync == "" {
		o.sync = store.SyncFull
	}
	if o.purgeChunk <= 0 {
		o.purgeChunk = defaultPurgeChunk
	}
	return nil
}

// Log appends records to the audit database. Its methods are safe for
// concurrent use.
type Log struct {
	opts   Options
	path   string
	wdb    *sql.DB // one connection, used by the writer goroutine only
	reader *Reader

	queue  chan *row
	purges chan purgeRequest
	abort  chan struct{} // closed when Close gives up waiting
	done   chan struct{} // closed when the writer has returned

	mu     sync.RWMutex // held for reading while sending on queue
	closed bool

	failMu  sync.Mutex
	failErr error

	dropped atomic.Int64
	lost    int64 // records the writer gave up on; read after done

	headPath string
	known    link  // the chain's tail as this log last committed it; the writer's own
	headErr  error // the last head write's failure; the writer's own, read after done

	writeErrors atomic.Int64 // failed write transactions, retries included
}

// Open opens (creating if needed) the audit database at path, brings its
// schema up to date, checks that key matches the chain already there and
// that the chain still reaches its head file (HeadPath; an error wrapping
// ErrHead if not, see Reanchor), and starts the writer. Close it to flush
// what is queued.
func Open(ctx context.Context, path string, opts Options) (*Log, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	db, err := store.OpenSQLite(ctx, path, opts.sync, migrations)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	// One connection: the writer is the only one to write, and connection
	// settings (pragmas) then apply to every write.
	db.SetMaxOpenConns(1)
	if err := checkKey(ctx, db, opts.Key); err != nil {
		db.Close()
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	headPath := HeadPath(path)
	known, err := anchorAtOpen(ctx, db, headPath, &opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	reader, err := OpenReader(ctx, path, opts.Key)
	if err != nil {
		db.Close()
		return nil, err
	}
	l := &Log{
		opts:     opts,
		path:     path,
		wdb:      db,
		reader:   reader,
		queue:    make(chan *row, opts.QueueSize),
		purges:   make(chan purgeRequest),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
		headPath: headPath,
		known:    known,
	}
	go l.run()
	return l, nil
}

// Submit applies the text policy to rec and queues it for writing. It
// fails (wrapping ErrUnavailable) when the log is failing closed, or when
// the queue stays full for SubmitTimeout; it never drops a record silently.
func (l *Log) Submit(ctx context.Context, rec Record) error {
	r, err := l.prepare(rec)
	if err != nil {
		return err
	}
	failed := l.Err()
	if failed != nil && !l.opts.FailOpen {
		return failed
	}

	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if failed != nil {
		// Failing open: keep what fits in the queue for the retry, but
		// do not make the caller wait on a store that is not writing.
		select {
		case l.queue <- r:
		default:
			l.drop(rec, failed)
		}
		return nil
	}
	timer := time.NewTimer(l.opts.SubmitTimeout)
	defer timer.Stop()
	select {
	case l.queue <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("submit audit record: %w", ctx.Err())
	case <-timer.C:
		err := fmt.Errorf("%w: queue full for %v", ErrUnavailable, l.opts.SubmitTimeout)
		if l.opts.FailOpen {
			l.drop(rec, err)
			return nil
		}
		return err
	}
}

func (l *Log) drop(rec Record, why error) {
	n := l.dropped.Add(1)
	l.opts.Logger.Error("audit record dropped (fail-open)",
		"request_id", rec.RequestID, "kind", rec.Kind, "endpoint", rec.Endpoint,
		"dropped_total", n, "err", why)
}

// Err says why the store cannot be written, wrapping ErrUnavailable, or
// returns nil while writes succeed.
func (l *Log) Err() error {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	return l.failErr
}

func (l *Log) setFailed(err error) {
	l.failMu.Lock()
	was := l.failErr
	if err != nil {
		l.failErr = fmt.Errorf("%w: %w", ErrUnavailable, err)
	} else {
		l.failErr = nil
	}
	l.failMu.Unlock()
	switch {
	case err != nil && was == nil:
		l.opts.Logger.Error("audit log cannot be written", "path", l.path, "fail_open", l.opts.FailOpen, "err", err)
	case err == nil && was != nil:
		l.opts.Logger.Warn("audit log writable again", "path", l.path, "dropped_total", l.dropped.Load())
	}
}

// Dropped counts the records dropped while failing open.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Close stops accepting records and waits until every queued record is
// written. If ctx ends first (the store still failing), it stops trying
// and reports how many records were lost.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()

	var err error
	select {
	case <-l.done:
	case <-ctx.Done():
		close(l.abort)
		<-l.done
	}
	if l.lost > 0 {
		err = fmt.Errorf("close audit log %s: %d records not written: %w", l.path, l.lost, l.Err())
	}
	var headErr error
	if l.headErr != nil {
		headErr = fmt.Errorf("close audit log %s: the head file lags the log: %w", l.path, l.headErr)
	}
	return errors.Join(err, headErr, l.wdb.Close(), l.reader.Close())
}

// Query, Verify and the exports read through a read-only connection, so
// that a long read does not hold up the writer.

// Query returns the records matching f; see Reader.Query.
func (l *Log) Query(ctx context.Context, f Filter) (Page, error) { return l.reader.Query(ctx, f) }

// Verify checks the whole chain; see Reader.Verify.
func (l *Log) Verify(ctx context.Context) (Report, error) { return l.reader.Verify(ctx) }

// ExportJSONL writes the records matching f as JSON lines; see Reader.ExportJSONL.
func (l *Log) ExportJSONL(ctx context.Context, w io.Writer, f Filter) error {
	return l.reader.ExportJSONL(ctx, w, f)
}

// ExportCSV writes the records matching f as CSV; see Reader.ExportCSV.
func (l *Log) ExportCSV(ctx context.Context, w io.Writer, f Filter) error {
	return l.reader.ExportCSV(ctx, w, f)
}

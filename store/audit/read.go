package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/warden-llm/warden/store"
)

// Reader reads an audit log through a read-only connection; CLI commands
// can use one while the server writes the log.
type Reader struct {
	db       *sql.DB
	key      []byte
	headPath string
}

// OpenReader opens the audit database at path read-only. key is needed by
// Verify only and may be nil otherwise. The database must exist and have
// the schema this binary writes.
func OpenReader(ctx context.Context, path string, key []byte) (*Reader, error) {
	// mode=ro would fail too, but with a vaguer message.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "5000")
	db, err := sql.Open("sqlite3", store.SQLiteURI(path, q))
	if err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	var version int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	if version != len(migrations) {
		db.Close()
		return nil, fmt.Errorf("open audit log %s: schema version %d, this binary reads version %d (opening it with warden serve upgrades an older one)",
			path, version, len(migrations))
	}
	return &Reader{db: db, key: key, headPath: HeadPath(path)}, nil
}

// Close closes the database.
func (rd *Reader) Close() error { return rd.db.Close() }

// Verify walks the whole chain, streaming, and reports the first row
// where it breaks, then compares the chain's end with the head file
// (HeadPath): a tail shorter than the head records is ProblemTruncated.
// A broken chain is a Report with Broken set, not an error; errors mean
// the log could not be read.
func (rd *Reader) Verify(ctx context.Context) (Report, error) {
	return verify(ctx, rd.db, rd.key, rd.headPath, nil)
}

// VerifyWith is Verify that also compares the chain with copies of the
// head file taken earlier and kept off the machine. Whoever can write the
// data directory can put back an old head together with a log cut to
// match it, which Verify alone accepts; a later copy kept elsewhere shows
// the cut. A copy that is missing or does not verify is an error.
func (rd *Reader) VerifyWith(ctx context.Context, copies ...string) (Report, error) {
	heads := make([]headCopy, 0, len(copies))
	for _, path := range copies {
		h, broken, err := loadHead(path, rd.key)
		if err == nil && h == nil {
			err = fmt.Errorf("%s: %w", path, fs.ErrNotExist)
		}
		if err == nil && broken != nil {
			err = errors.New(broken.Detail)
		}
		if err != nil {
			return Report{}, fmt.Errorf("verify audit log: head copy: %w", err)
		}
		heads = append(heads, headCopy{path: path, head: h})
	}
	return verify(ctx, rd.db, rd.key, rd.headPath, heads)
}

// Filter selects records. Zero fields select everything.
type Filter struct {
	Since    time.Time // records at or after
	Until    time.Time // records before
	Subject  string
	Model    string
	Endpoint string
	Kind     Kind
	Status   int // HTTP status; 0 means any
	// Guard selects records with guard events (their detail has a
	// "guard=[" field, which the server writes and redaction leaves).
	Guard bool
	// Limit bounds the records returned: by Query 100 by default and
	// 1000 at most; by the exports, nothing by default.
	Limit int
	After int64 // cursor: records with id > After
}

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

func (f Filter) where() (string, []any) {
	conds := []string{"id > ?"}
	args := []any{f.After}
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("time_us >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("time_us < ?", f.Until.UnixMicro())
	}
	if f.Subject != "" {
		add("subject = ?", f.Subject)
	}
	if f.Model != "" {
		add("model = ?", f.Model)
	}
	if f.Endpoint != "" {
		add("endpoint = ?", f.Endpoint)
	}
	if f.Kind != "" {
		add("kind = ?", string(f.Kind))
	}
	if f.Status != 0 {
		add("status = ?", f.Status)
	}
	if f.Guard {
		add("instr(detail, ?) > 0", "guard=[")
	}
	return strings.Join(conds, " AND "), args
}

// each calls fn for the records matching f in id order, at most limit of
// them (no bound when limit <= 0), streaming.
func (rd *Reader) each(ctx context.Context, f Filter, limit int, fn func(Entry) error) error {
	where, args := f.where()
	query := `SELECT ` + columns + ` FROM records WHERE ` + where + ` ORDER BY id`
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := rd.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("query audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		if err := rows.Scan(r.fields()...); err != nil {
			return fmt.Errorf("query audit log: %w", err)
		}
		e, err := r.entry()
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query audit log: %w", err)
	}
	return nil
}

// Page is one page of Query results.
type Page struct {
	Entries []Entry
	// NextCursor, passed as Filter.After, continues after this page;
	// 0 when there is nothing more.
	NextCursor int64
}

// Query returns the records matching f in id order, a page at a time.
func (rd *Reader) Query(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	var p Page
	// One more than asked says whether there is a next page.
	err := rd.each(ctx, f, limit+1, func(e Entry) error {
		p.Entries = append(p.Entries, e)
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	if len(p.Entries) > limit {
		p.Entries = p.Entries[:limit]
		p.NextCursor = p.Entries[limit-1].ID
	}
	return p, nil
}

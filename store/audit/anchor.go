package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warden-llm/warden/store"
)

// anchorAtOpen compares the database with its head file before the log
// takes a record, and refuses (ErrHead) a log that does not match: a
// server that went on appending after a cut tail would write a head over
// it and erase the evidence. It returns the chain's tail, with the head
// file brought up to it.
func anchorAtOpen(ctx context.Context, db *sql.DB, headPath string, opts *Options) (link, error) {
	if err := removeHeadTemps(headPath); err != nil {
		return link{}, err
	}
	end, err := tail(ctx, db)
	if err != nil {
		return link{}, err
	}
	h, broken, err := loadHead(headPath, opts.Key)
	if err != nil {
		return link{}, err
	}
	pending, err := unanchored(ctx, db)
	if err != nil {
		return link{}, err
	}
	switch {
	case broken != nil:
	case h != nil:
		// A head left by a crash lags the database; the rows after it
		// are checked like any other by Verify.
		broken, err = compareHead(ctx, db, h, ownHead, end)
	case !pending:
		broken = noHead(headPath, false)
	}
	if err != nil {
		return link{}, err
	}
	if broken != nil {
		return link{}, fmt.Errorf("%w: %s: %s", ErrHead, broken.Problem, broken.Detail)
	}
	if pending {
		if end, err = firstAnchor(ctx, db, headPath, opts, end); err != nil {
			return link{}, err
		}
	}
	// Also done when the head matched: after a crash it lags, and a data
	// directory that cannot take the head shows now, not at the first
	// request.
	if _, err := writeHead(headPath, opts.Key, end, time.Now()); err != nil {
		return link{}, err
	}
	return end, nil
}

// firstAnchor gives a head to a log that predates head files and clears
// its mark. The head is written before the mark is cleared, so that a
// crash in between leaves the mark (and the next Open anchors again) or a
// head, never a log with neither, which Open would refuse. A log with
// rows gets a system record saying from where its tail is anchored.
func firstAnchor(ctx context.Context, db *sql.DB, headPath string, opts *Options, end link) (link, error) {
	if _, err := writeHead(headPath, opts.Key, end, time.Now()); err != nil {
		return link{}, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return link{}, fmt.Errorf("anchor audit log: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	if end, err = tail(ctx, tx); err != nil {
		return link{}, err
	}
	if end.id > 0 {
		detail := fmt.Sprintf("head file %s created at row %d: the log was written before head files existed, "+
			"so a truncation of its tail before this record cannot be detected", filepath.Base(headPath), end.id)
		if end, err = appendSystem(ctx, tx, opts, end, "anchor", "", detail); err != nil {
			return link{}, err
		}
		opts.Logger.Info("audit log written before head files: its tail is anchored from now on",
			"head", headPath, "row", end.id)
	}
	if err := markAnchored(ctx, tx); err != nil {
		return link{}, err
	}
	if err := tx.Commit(); err != nil {
		return link{}, fmt.Errorf("anchor audit log: %w", err)
	}
	return end, nil
}

func markAnchored(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM unanchored`); err != nil {
		return fmt.Errorf("clear audit anchor mark: %w", err)
	}
	return nil
}

// appendSystem appends one system record after end, its detail written
// here and so not redacted.
func appendSystem(ctx context.Context, tx *sql.Tx, opts *Options, end link, action, subject, detail string) (link, error) {
	r, err := newRow(opts, Record{Kind: KindSystem, Action: action, Subject: subject})
	if err != nil {
		return link{}, err
	}
	r.detail = detail
	return appendRows(ctx, tx, opts.Key, end, []*row{r})
}

// Reanchored says what Reanchor found and did.
type Reanchored struct {
	Before Report // Verify's report before re-anchoring
	ID     int64  // the reanchor record
	Head   *Head  // the head file written over it
}

// Reanchor accepts the log at path as it now is, for an operator who has
// looked into why it does not match its head file (Verify says how) and
// must start the server again. It appends a system record, action
// "reanchor", naming who (by), why (reason) and what Verify found, then
// writes a new head over that record. The record is chained like any
// other, so the acknowledgment cannot be hidden later without the key.
//
// Stop the server first: a running one compares each commit with the tail
// it committed last, and keeps refusing to write after a cut.
func Reanchor(ctx context.Context, path string, key []byte, by, reason string) (Reanchored, error) {
	if strings.TrimSpace(reason) == "" {
		return Reanchored{}, errors.New("reanchor audit log: a reason is required; it is recorded in the log")
	}
	opts := Options{Key: key, TextPolicy: TextNone}
	if err := opts.setDefaults(); err != nil {
		return Reanchored{}, fmt.Errorf("reanchor audit log: %w", err)
	}
	// OpenSQLite would create a missing database: a new, empty log is
	// not what an operator re-anchoring an existing one means.
	if _, err := os.Stat(path); err != nil {
		return Reanchored{}, fmt.Errorf("reanchor audit log: %w", err)
	}
	db, err := store.OpenSQLite(ctx, path, store.SyncFull, migrations)
	if err != nil {
		return Reanchored{}, fmt.Errorf("reanchor audit log: %w", err)
	}
	defer db.Close()
	// A head written under the wrong key would verify under no key.
	if err := checkKey(ctx, db, key); err != nil {
		return Reanchored{}, fmt.Errorf("reanchor audit log %s: %w", path, err)
	}
	headPath := HeadPath(path)
	before, err := verify(ctx, db, key, headPath, nil)
	if err != nil {
		return Reanchored{}, err
	}
	end, err := appendReanchor(ctx, db, &opts, by, before, reason)
	if err != nil {
		return Reanchored{}, fmt.Errorf("reanchor audit log %s: %w", path, err)
	}
	h, err := writeHead(headPath, key, end, time.Now())
	if err != nil {
		return Reanchored{}, fmt.Errorf("reanchor audit log %s: the reanchor record %d is written, the head is not: %w", path, end.id, err)
	}
	return Reanchored{Before: before, ID: end.id, Head: h}, nil
}

func appendReanchor(ctx context.Context, db *sql.DB, opts *Options, by string, before Report, reason string) (link, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return link{}, err
	}
	defer tx.Rollback() // after Commit, a no-op
	end, err := tail(ctx, tx)
	if err != nil {
		return link{}, err
	}
	detail := reanchorDetail(end.id, before, reason)
	if end, err = appendSystem(ctx, tx, opts, end, "reanchor", by, detail); err != nil {
		return link{}, err
	}
	if err := markAnchored(ctx, tx); err != nil {
		return link{}, err
	}
	if err := tx.Commit(); err != nil {
		return link{}, fmt.Errorf("write reanchor record: %w", err)
	}
	return end, nil
}

// reanchorDetail says what was accepted: the log ended at row at, and
// what Verify found.
func reanchorDetail(at int64, before Report, reason string) string {
	found := "the log matched its head file"
	if b := before.Broken; b != nil {
		found = fmt.Sprintf("%s at row %d: %s", b.Problem, b.ID, b.Detail)
	}
	return fmt.Sprintf("head file re-anchored by the operator after row %d; verify found: %s; reason: %s",
		at, found, reason)
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Revocations is the list of revoked token ids. The server and the
// `warden token revoke` command share it through SQLite, so a revocation
// made from the command line applies to the very next request.
type Revocations struct{ db *sql.DB }

var revocationsSchema = []string{`
CREATE TABLE revoked_tokens (
	jti        TEXT PRIMARY KEY,
	revoked_at INTEGER NOT NULL, -- unix seconds
	revoked_by TEXT NOT NULL,
	reason     TEXT NOT NULL
) STRICT;`,
	// audited: whether the audit log has a record of the revocation. The
	// admin endpoint's own record covers its revocations; the command line
	// cannot write the audit log (its hash chain has one writer, the
	// server), so the server records those rows for it.
	`ALTER TABLE revoked_tokens ADD COLUMN audited INTEGER NOT NULL DEFAULT 0;
UPDATE revoked_tokens SET audited = 1 WHERE revoked_by NOT LIKE 'cli:%';
CREATE INDEX revoked_tokens_unaudited ON revoked_tokens (revoked_at) WHERE audited = 0;`,
}

// OpenRevocations opens the data directory's revocation list.
func (d Dir) OpenRevocations(ctx context.Context) (*Revocations, error) {
	db, err := OpenSQLite(ctx, filepath.Join(d.path, "revocations.db"), SyncFull, revocationsSchema)
	if err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	return &Revocations{db: db}, nil
}

// Revocation is one entry of the list.
type Revocation struct {
	TokenID   string
	RevokedAt time.Time
	RevokedBy string
	Reason    string
	Audited   bool // the audit log already has a record of it
}

// Revoke adds jti to the list. Revoking twice keeps the first entry and
// is not an error: the token is revoked either way.
func (r *Revocations) Revoke(ctx context.Context, rev Revocation) error {
	if rev.TokenID == "" {
		return errors.New("revoke: a token id (jti) is required")
	}
	_, err := r.db.ExecContext(ctx,
		`INSERT INTO revoked_tokens (jti, revoked_at, revoked_by, reason, audited) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (jti) DO NOTHING`,
		rev.TokenID, rev.RevokedAt.Unix(), rev.RevokedBy, rev.Reason, rev.Audited)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", rev.TokenID, err)
	}
	return nil
}

// Revoked reports whether jti is on the list.
func (r *Revocations) Revoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := r.db.QueryRowContext(ctx, `SELECT 1 FROM revoked_tokens WHERE jti = ?`, jti).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check revocation: %w", err)
	}
	return true, nil
}

// List returns every revocation, oldest first.
func (r *Revocations) List(ctx context.Context) ([]Revocation, error) {
	return r.list(ctx, "")
}

// Unaudited returns the revocations the audit log has no record of yet,
// oldest first.
func (r *Revocations) Unaudited(ctx context.Context) ([]Revocation, error) {
	return r.list(ctx, "WHERE audited = 0")
}

// MarkAudited notes that the audit log holds a record of jti's revocation.
func (r *Revocations) MarkAudited(ctx context.Context, jti string) error {
	if _, err := r.db.ExecContext(ctx, `UPDATE revoked_tokens SET audited = 1 WHERE jti = ?`, jti); err != nil {
		return fmt.Errorf("mark revocation of %s audited: %w", jti, err)
	}
	return nil
}

func (r *Revocations) list(ctx context.Context, where string) ([]Revocation, error) {
	rows, err := r.db.QueryContext(ctx,
		`SELECT jti, revoked_at, revoked_by, reason, audited FROM revoked_tokens `+where+` ORDER BY revoked_at, jti`)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var rev Revocation
		var at int64
		if err := rows.Scan(&rev.TokenID, &at, &rev.RevokedBy, &rev.Reason, &rev.Audited); err != nil {
			return nil, fmt.Errorf("list revocations: %w", err)
		}
		rev.RevokedAt = time.Unix(at, 0).UTC()
		out = append(out, rev)
	}
	return out, rows.Err()
}

// Close closes the database.
func (r *Revocations) Close() error { return r.db.Close() }

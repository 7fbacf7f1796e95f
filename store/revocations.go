package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/warden-llm/warden/store/redact"
)

// Revocations is the list of revoked token ids. The server and the
// `warden token revoke` command share it through SQLite, so a revocation
// made from the command line applies to the very next request.
type Revocations struct {
	db      *sql.DB
	reasons *redact.Redactor // what a reason passes before it is stored
}

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

// OpenRevocations opens the data directory's revocation list. reasons
// redacts revocation reasons before they are stored: the operator's own
// patterns and words with the built-in rules; nil means the built-in
// rules alone (RedactReason).
func (d Dir) OpenRevocations(ctx context.Context, reasons *redact.Redactor) (*Revocations, error) {
	db, err := OpenSQLite(ctx, filepath.Join(d.path, "revocations.db"), SyncFull, revocationsSchema)
	if err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	if reasons == nil {
		reasons = builtinReasons
	}
	r := &Revocations{db: db, reasons: reasons}
	if err := r.redactStoredReasons(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// builtinReasons redacts revocation reasons with the built-in rules. It
// has no pseudonym key: the command line, which revokes too, does not hold
// the server's. It is never modified.
var builtinReasons = redact.New(redact.Options{})

// RedactReason is what the list keeps of a revocation's reason: free text,
// typed by an administrator who may well name the person whose laptop was
// lost, so personal data and secrets are replaced by placeholders such as
// [EMAIL] before it is stored.
func RedactReason(reason string) string { return builtinReasons.Redact(reason) }

// redactStoredReasons redacts the reasons stored before reasons were
// redacted on the way in. The list is small and redacting is idempotent,
// so every open does it rather than a one-off migration, which SQL alone
// could not express.
func (r *Revocations) redactStoredReasons(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT jti, reason FROM revoked_tokens WHERE reason != ''`)
	if err != nil {
		return fmt.Errorf("revocation list: read reasons: %w", err)
	}
	stale := map[string]string{}
	for rows.Next() {
		var jti, reason string
		if err := rows.Scan(&jti, &reason); err != nil {
			rows.Close()
			return fmt.Errorf("revocation list: read reasons: %w", err)
		}
		if red := r.reasons.Redact(reason); red != reason {
			stale[jti] = red
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("revocation list: read reasons: %w", err)
	}
	if len(stale) == 0 {
		return nil
	}
	// secure_delete zeroes the space the longer old text leaves free, so
	// the clear text does not linger in the file. It is a setting of the
	// connection, hence one connection for the pragma and the updates.
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	for jti, red := range stale {
		if _, err := conn.ExecContext(ctx, `UPDATE revoked_tokens SET reason = ? WHERE jti = ?`, red, jti); err != nil {
			return fmt.Errorf("revocation list: redact the reason of %s: %w", jti, err)
		}
	}
	return nil
}

// Revocation is one entry of the list.
type Revocation struct {
	TokenID   string
	RevokedAt time.Time
	RevokedBy string
	Reason    string
	Audited   bool // the audit log already has a record of it
}

// Revoke adds jti to the list, its reason redacted.
// Revoking twice keeps the first entry and is not an error: the token is
// revoked either way.
func (r *Revocations) Revoke(ctx context.Context, rev Revocation) error {
	if rev.TokenID == "" {
		return errors.New("revoke: a token id (jti) is required")
	}
	_, err := r.db.ExecContext(ctx,
		`INSERT INTO revoked_tokens (jti, revoked_at, revoked_by, reason, audited) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (jti) DO NOTHING`,
		rev.TokenID, rev.RevokedAt.Unix(), rev.RevokedBy, r.reasons.Redact(rev.Reason), rev.Audited)
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

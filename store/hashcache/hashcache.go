// Package hashcache remembers the SHA-256 of model files Warden has hashed,
// so that a restart need not read many gigabytes again. An entry is keyed
// by the file's identity: device, inode, size, and modification and change
// times in nanoseconds. Rewriting a file changes its mtime and ctime, and
// replacing it changes its inode, so either misses the cache; the ctime
// cannot be set back by anyone but root.
package hashcache

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/warden-llm/warden/store"
)

// FileName is the cache's file in the data directory.
const FileName = "hashes.db"

// racyWindow is how recent a file's timestamps may be for its hash to be
// cached. A write within the same timestamp tick as the hash (coarse
// filesystem clocks tick in milliseconds, some in seconds) could leave the
// identity unchanged, so such files are hashed again next time instead.
const racyWindow = 2 * time.Second

var migrations = []string{`
CREATE TABLE verified (
	dev       INTEGER NOT NULL,
	ino       INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	mtime_ns  INTEGER NOT NULL,
	ctime_ns  INTEGER NOT NULL,
	sha256    TEXT    NOT NULL CHECK (length(sha256) = 64),
	hashed_at INTEGER NOT NULL, -- Unix seconds, for people reading the table
	PRIMARY KEY (dev, ino)
) STRICT`,
}

// Identity is what must be unchanged for a cached hash to stand.
type Identity struct {
	Dev, Ino         uint64
	Size             int64
	MtimeNS, CtimeNS int64
}

// Cache is an open hash cache.
type Cache struct {
	db  *sql.DB
	now func() time.Time
}

// Open opens the cache at path, creating it if needed (mode 0600). The
// cache can always be rebuilt, so commits are not synced to disk.
func Open(ctx context.Context, path string) (*Cache, error) {
	db, err := store.OpenSQLite(ctx, path, store.SyncNormal, migrations)
	if err != nil {
		return nil, fmt.Errorf("hash cache: %w", err)
	}
	return &Cache{db: db, now: time.Now}, nil
}

// Close closes the database.
func (c *Cache) Close() error { return c.db.Close() }

// HashFunc computes the SHA-256 of an open file, in hex.
type HashFunc func(ctx context.Context, f *os.File) (string, error)

// Result is a file's hash and where it came from.
type Result struct {
	SHA256   string
	Identity Identity // of the file that was hashed
	Cached   bool     // the hash came from the cache
}

// Sum returns the SHA-256 of f: from the cache if f's identity is the one
// recorded, else from hash, whose result it records. With reverify it
// always hashes. A file whose identity changes while it is hashed is an
// error: the hash would describe neither version.
func (c *Cache) Sum(ctx context.Context, f *os.File, hash HashFunc, reverify bool) (Result, error) {
	id, err := IdentityOf(f)
	if err != nil {
		return Result{}, err
	}
	if !reverify {
		sum, ok, err := c.lookup(ctx, id)
		if err != nil {
			return Result{}, err
		}
		if ok {
			return Result{SHA256: sum, Identity: id, Cached: true}, nil
		}
	}
	start := c.now()
	sum, err := hash(ctx, f)
	if err != nil {
		return Result{}, err
	}
	after, err := IdentityOf(f)
	if err != nil {
		return Result{}, err
	}
	if after != id {
		return Result{}, fmt.Errorf("%s changed while it was being hashed (size %d → %d, mtime %d → %d)",
			f.Name(), id.Size, after.Size, id.MtimeNS, after.MtimeNS)
	}
	if racy(id, start) {
		return Result{SHA256: sum, Identity: id}, nil
	}
	if err := c.store(ctx, id, sum, start); err != nil {
		return Result{}, err
	}
	return Result{SHA256: sum, Identity: id}, nil
}

// racy reports whether the file changed so shortly before hashing began
// that a later change might not show in its timestamps.
func racy(id Identity, start time.Time) bool {
	limit := start.Add(-racyWindow).UnixNano()
	return id.MtimeNS >= limit || id.CtimeNS >= limit
}

func (c *Cache) lookup(ctx context.Context, id Identity) (string, bool, error) {
	var sum string
	err := c.db.QueryRowContext(ctx,
		`SELECT sha256 FROM verified WHERE dev = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?`,
		int64(id.Dev), int64(id.Ino), id.Size, id.MtimeNS, id.CtimeNS).Scan(&sum)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("hash cache: look up: %w", err)
	}
	return sum, true, nil
}

// store records sum for id, replacing what was known about that inode.
// Device and inode numbers are stored bit for bit as SQLite's signed
// integers.
func (c *Cache) store(ctx context.Context, id Identity, sum string, at time.Time) error {
	_, err := c.db.ExecContext(ctx,
		`INSERT INTO verified (dev, ino, size, mtime_ns, ctime_ns, sha256, hashed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (dev, ino) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
		   ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256, hashed_at = excluded.hashed_at`,
		int64(id.Dev), int64(id.Ino), id.Size, id.MtimeNS, id.CtimeNS, sum, at.Unix())
	if err != nil {
		return fmt.Errorf("hash cache: record: %w", err)
	}
	return nil
}

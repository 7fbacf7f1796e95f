package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" database/sql driver
)

// Sync is SQLite's synchronous setting for a database in WAL mode.
type Sync string

const (
	// SyncFull syncs the WAL on every commit: a committed transaction
	// survives power loss. The audit log needs this.
	SyncFull Sync = "FULL"
	// SyncNormal may lose the last commits on power loss but never
	// corrupts the database; fine for state that can be rebuilt.
	SyncNormal Sync = "NORMAL"
)

// OpenSQLite opens (creating if needed, mode 0600) the SQLite database at
// path in WAL mode with foreign keys on and a busy timeout, and brings its
// schema up to date with migrations: migrations[i] takes the schema from
// version i to i+1, recorded in PRAGMA user_version. A database newer than
// the migrations known here is refused rather than written to blindly.
func OpenSQLite(ctx context.Context, path string, sync Sync, migrations []string) (*sql.DB, error) {
	return openSQLite(ctx, path, sync, migrations, 0)
}

// OpenSQLiteMmap is OpenSQLite with every connection reading the file
// through a memory map of up to mmapSize bytes (PRAGMA mmap_size), for a
// database read far more than written whose scans would otherwise copy
// each page through a read system call. SQLite's caveat applies: an I/O
// error on the mapped file (a failing disk) is a signal, not an error.
func OpenSQLiteMmap(ctx context.Context, path string, sync Sync, migrations []string, mmapSize int64) (*sql.DB, error) {
	if mmapSize <= 0 {
		return nil, fmt.Errorf("open %s: mmap size %d: want more than 0", path, mmapSize)
	}
	return openSQLite(ctx, path, sync, migrations, mmapSize)
}

func openSQLite(ctx context.Context, path string, sync Sync, migrations []string, mmapSize int64) (*sql.DB, error) {
	if sync != SyncFull && sync != SyncNormal {
		return nil, fmt.Errorf("open %s: synchronous must be FULL or NORMAL, not %q", path, sync)
	}
	// Create the file ourselves so that it never exists with a looser mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()

	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", string(sync))
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	var db *sql.DB
	if mmapSize == 0 {
		db, err = sql.Open("sqlite3", SQLiteURI(path, q))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	} else {
		// A driver of our own, not a registered name: the pragma is set
		// on each new connection, and nothing global changes.
		drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(fmt.Sprintf("PRAGMA mmap_size = %d", mmapSize), nil)
			return err
		}}
		db = sql.OpenDB(connector{dsn: SQLiteURI(path, q), drv: drv})
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return db, nil
}

// connector opens connections of drv to dsn, for sql.OpenDB.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// SQLiteURI is the driver's "file:" URI for path with query q. SQLite
// percent-decodes the path, so a name holding '?', '#' or '%' must be
// escaped or it would be cut short or misread.
func SQLiteURI(path string, q url.Values) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// migrate applies the migrations the database has not seen yet, each in
// its own transaction together with the version bump.
func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): was the database written by a newer Warden?",
			version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return errors.Join(fmt.Errorf("schema version %d: %w", v+1, err), tx.Rollback())
		}
		// PRAGMA takes no bound parameters; v is an int we control.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			return errors.Join(fmt.Errorf("schema version %d: %w", v+1, err), tx.Rollback())
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("schema version %d: %w", v+1, err)
		}
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

func TestOpenSQLiteMmap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := OpenSQLiteMmap(ctx, path, SyncFull, []string{"CREATE TABLE t (x INTEGER)"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Two connections at once: the pragma must be set on each.
	c1, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, c := range []interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}{c1, c2} {
		var n int64
		var journal string
		if err := c.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
			t.Fatal(err)
		}
		if n != 1<<20 || journal != "wal" {
			t.Fatalf("connection has mmap_size %d, journal %s; want %d, wal", n, journal, 1<<20)
		}
	}
	if _, err := OpenSQLiteMmap(ctx, path, SyncFull, nil, 0); err == nil {
		t.Fatal("mmap size 0 accepted")
	}
}

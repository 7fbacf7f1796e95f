package docbase

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	sqlite_vec "github.com/asg017/sqlite-vec-go-bindings/cgo"

	"github.com/warden-llm/warden/store"
)

// FileName is the database's name in the data directory.
const FileName = "docbase.db"

var (
	// ErrNotFound is the answer for a missing id and for an id outside
	// the caller's compartment alike.
	ErrNotFound = errors.New("docbase: not found")
	// ErrInvalid wraps every validation error (the server answers 400).
	ErrInvalid = errors.New("docbase: invalid request")
	// ErrConflict: the file is already attached to the store.
	ErrConflict = errors.New("docbase: conflict")
	// ErrDimensions: Open was given other dimensions than the database
	// was created with, i.e. another embedding model; the caller says
	// what to do about it.
	ErrDimensions = errors.New("docbase: embedding dimensions differ")
)

// Options configure a DB.
type Options struct {
	// Dimensions of every embedding; fixed when the database is created
	// and checked at each open (another embedding model needs a new
	// database, as its vectors are not comparable).
	Dimensions int
	// Now defaults to time.Now.
	Now func() time.Time
}

// DB is an opened document base. Its methods are safe for concurrent use.
type DB struct {
	db   *sql.DB
	dims int
	now  func() time.Time
}

// vecChunkSize is vec0's chunk_size: vectors per storage chunk. vec0
// allocates a whole chunk per partition, so the default (1024 vectors, 1.5
// MiB at 384 dimensions) would cost that much for every small personal
// compartment; 256 keeps that at a quarter while a KNN still reads large
// contiguous blobs.
const vecChunkSize = 256

// mmapSize maps up to 2 GiB of the database (SQLite's default cap):
// a KNN query reads every vector of its compartment, and through the
// memory map those pages are read in place instead of being copied by a
// read system call each, which halved search time in BenchmarkSearch.
const mmapSize = 2 << 30

// migrations for a database of dims dimensions: the vec0 table's shape
// depends on it, hence a function. STRICT tables, so that a wrongly typed
// value cannot slip in. Chunks, store files and their parents reference
// each other without ON DELETE CASCADE on purpose: the virtual tables
// (vectors, words) cannot cascade, so every delete goes through
// deleteChunks, and a forgotten one fails on the foreign key instead of
// leaving vectors that search would still find.
func migrations(dims int) []string {
	return []string{fmt.Sprintf(`
CREATE TABLE settings (
	one        INTEGER PRIMARY KEY CHECK (one = 1),
	dimensions INTEGER NOT NULL
) STRICT;
INSERT INTO settings (one, dimensions) VALUES (1, %[1]d);
CREATE TABLE files (
	seq         INTEGER PRIMARY KEY, -- internal order for pagination, never shown
	id          TEXT    NOT NULL UNIQUE,
	compartment TEXT    NOT NULL,
	filename    TEXT    NOT NULL,    -- opaque metadata, never a path
	purpose     TEXT    NOT NULL,
	media_type  TEXT    NOT NULL,    -- the format extraction found, e.g. application/pdf
	bytes       INTEGER NOT NULL,
	sha256      TEXT    NOT NULL,
	created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX files_compartment ON files (compartment, seq);
CREATE TABLE file_contents (
	file_seq INTEGER PRIMARY KEY REFERENCES files (seq),
	data     BLOB    NOT NULL
) STRICT;
CREATE TABLE stores (
	seq            INTEGER PRIMARY KEY,
	id             TEXT    NOT NULL UNIQUE,
	compartment    TEXT    NOT NULL,
	name           TEXT    NOT NULL,
	metadata       TEXT    NOT NULL, -- JSON object of strings
	created_at     INTEGER NOT NULL,
	last_active_at INTEGER NOT NULL
) STRICT;
CREATE INDEX stores_compartment ON stores (compartment, seq);
CREATE TABLE store_files (
	seq                INTEGER PRIMARY KEY, -- also the vec0 store_file metadata value
	store_seq          INTEGER NOT NULL REFERENCES stores (seq),
	file_seq           INTEGER NOT NULL REFERENCES files (seq),
	status             TEXT    NOT NULL CHECK (status IN ('in_progress', 'completed', 'failed', 'cancelled')),
	last_error_code    TEXT    NOT NULL DEFAULT '',
	last_error_message TEXT    NOT NULL DEFAULT '',
	attributes         TEXT    NOT NULL, -- JSON object of strings, numbers, booleans
	chunking           TEXT    NOT NULL, -- JSON ChunkingStrategy
	usage_bytes        INTEGER NOT NULL DEFAULT 0,
	created_at         INTEGER NOT NULL,
	UNIQUE (store_seq, file_seq)
) STRICT;
CREATE INDEX store_files_file ON store_files (file_seq);
CREATE TABLE chunks (
	id         INTEGER PRIMARY KEY, -- random, shown as chunk_<hex>
	store_file INTEGER NOT NULL REFERENCES store_files (seq),
	idx        INTEGER NOT NULL,
	text       TEXT    NOT NULL,
	tokens     INTEGER NOT NULL
) STRICT;
CREATE INDEX chunks_store_file ON chunks (store_file, idx);
-- The word indexes are per compartment, made on first use: see ftsTable.
-- Embeddings are stored at unit length (vectorBlob), so vec0's default
-- L2 distance ranks them as the cosine distance would.
CREATE VIRTUAL TABLE chunk_vec USING vec0(
	chunk_id    INTEGER PRIMARY KEY,
	compartment TEXT PARTITION KEY,
	store       INTEGER, -- stores.seq
	store_file  INTEGER, -- store_files.seq
	embedding   FLOAT[%[1]d],
	chunk_size=%[2]d);
`, dims, vecChunkSize)}
}

// Open opens (creating if needed) dir/docbase.db. The file is created
// owner-only and refused if group or others can access it, as it holds
// every team's documents. Indexing that a previous run left in_progress
// (the process stopped midway) is marked failed: nothing else would ever
// finish it, and pollers must not wait forever.
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	if !fts5Built {
		return nil, errors.New("open document base: this binary's SQLite lacks FTS5; build with -tags sqlite_fts5 (the Makefile sets it)")
	}
	if opts.Dimensions < 1 || opts.Dimensions > 8192 {
		return nil, fmt.Errorf("open document base: embedding dimensions %d: want 1 to 8192", opts.Dimensions)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	path := filepath.Join(dir, FileName)
	if err := checkPrivate(path); err != nil {
		return nil, fmt.Errorf("open document base: %w", err)
	}
	// Registers sqlite-vec for every connection opened from now on. SQLite
	// keeps one registration however often this runs, so it needs no
	// package state of ours.
	sqlite_vec.Auto()
	db, err := store.OpenSQLiteMmap(ctx, path, store.SyncFull, migrations(opts.Dimensions), mmapSize)
	if err != nil {
		return nil, fmt.Errorf("open document base: %w", err)
	}
	d := &DB{db: db, dims: opts.Dimensions, now: opts.Now}
	if err := d.checkDimensions(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open document base %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE store_files SET status = 'failed',
		last_error_code = 'server_error', last_error_message = 'indexing was interrupted'
		WHERE status = 'in_progress'`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open document base %s: fail interrupted indexing: %w", path, err)
	}
	return d, nil
}

// checkPrivate refuses an existing database that is not a regular file or
// that group or others may access; a missing one is created 0600 later.
func checkPrivate(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is accessible by group or others (mode %v); run: chmod 600 %s", path, perm, path)
	}
	return nil
}

func (d *DB) checkDimensions(ctx context.Context) error {
	var dims int
	if err := d.db.QueryRowContext(ctx, `SELECT dimensions FROM settings`).Scan(&dims); err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	if dims != d.dims {
		return fmt.Errorf("%w: it holds %d-dimension embeddings, not %d", ErrDimensions, dims, d.dims)
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Dimensions is the length every embedding must have.
func (d *DB) Dimensions() int { return d.dims }

func (d *DB) unix() int64 { return d.now().Unix() }

// newID is prefix + 128 random bits in hex: unguessable, and unordered
// so that ids reveal nothing of other compartments' activity.
func newID(prefix string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// newChunkRowID is a random positive 63-bit row id, for the same reason.
func newChunkRowID() (int64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("random chunk id: %w", err)
	}
	id := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	if id == 0 {
		id = 1
	}
	return id, nil
}

func chunkID(rowid int64) string { return fmt.Sprintf("chunk_%016x", rowid) }

// vectorBlob checks v and encodes it, scaled to unit length, as
// sqlite-vec's float32 BLOB. On unit vectors the L2 distance orders
// neighbours exactly as the cosine distance does (|a-b|² = 2 - 2 cos),
// and sqlite-vec has an AVX kernel for L2 (built with
// -DSQLITE_VEC_ENABLE_AVX, as the Makefile does) but only a scalar loop
// with three dependent sums for cosine: about twice as fast a scan.
func (d *DB) vectorBlob(v []float32) ([]byte, error) {
	if len(v) != d.dims {
		return nil, fmt.Errorf("%w: embedding has %d dimensions, want %d", ErrInvalid, len(v), d.dims)
	}
	var norm float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%w: embedding value %d is not finite", ErrInvalid, i)
		}
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		return nil, fmt.Errorf("%w: embedding is all zeros", ErrInvalid)
	}
	scale := 1 / math.Sqrt(norm)
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(float64(x)*scale)))
	}
	return b, nil
}

// inTx runs fn in a transaction, committing if it returns nil.
func (d *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// notFound turns sql.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

//go:build sqlite_fts5 || fts5

package docbase

// fts5Built: go-sqlite3 compiles SQLite with FTS5 only under these tags.
const fts5Built = true

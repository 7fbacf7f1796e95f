//go:build !(sqlite_fts5 || fts5)

package docbase

// fts5Built: without the sqlite_fts5 tag go-sqlite3 leaves FTS5 out, and
// Open says so instead of failing on "no such module: fts5".
const fts5Built = false

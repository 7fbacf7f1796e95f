package docbase

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// File is an uploaded file, as OpenAI's file object plus its hash.
type File struct {
	ID        string
	Filename  string // as uploaded: opaque metadata, never used as a path
	Purpose   string
	MediaType string // the document's format as extraction found it, e.g. text/html
	Bytes     int64
	SHA256    string // hex
	CreatedAt int64  // Unix seconds
}

// Purposes a document file may be uploaded with.
const (
	PurposeAssistants = "assistants"
	PurposeUserData   = "user_data"
)

// maxFilenameBytes bounds the stored name; longer is refused, not cut.
const maxFilenameBytes = 1024

// CreateFile stores content in compartment c and returns its record.
// mediaType is the format the caller found the content to have, which
// reading it again later relies on.
func (d *DB) CreateFile(ctx context.Context, c Compartment, filename, purpose, mediaType string, content []byte) (File, error) {
	sc, err := c.scope()
	if err != nil {
		return File{}, err
	}
	if purpose != PurposeAssistants && purpose != PurposeUserData {
		return File{}, fmt.Errorf("%w: purpose %q: want assistants or user_data", ErrInvalid, purpose)
	}
	if filename == "" || len(filename) > maxFilenameBytes || !utf8.ValidString(filename) {
		return File{}, fmt.Errorf("%w: filename must be 1 to %d bytes of UTF-8", ErrInvalid, maxFilenameBytes)
	}
	id, err := newID("file-")
	if err != nil {
		return File{}, err
	}
	sum := sha256.Sum256(content)
	f := File{ID: id, Filename: filename, Purpose: purpose, MediaType: mediaType, Bytes: int64(len(content)),
		SHA256: hex.EncodeToString(sum[:]), CreatedAt: d.unix()}
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO files (id, compartment, filename, purpose, media_type, bytes, sha256, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, f.ID, sc.key, f.Filename, f.Purpose, f.MediaType, f.Bytes, f.SHA256, f.CreatedAt)
		if err != nil {
			return err
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO file_contents (file_seq, data) VALUES (?, ?)`, seq, content)
		return err
	})
	if err != nil {
		return File{}, fmt.Errorf("create file: %w", err)
	}
	return f, nil
}

const fileCols = `f.id, f.filename, f.purpose, f.media_type, f.bytes, f.sha256, f.created_at`

func scanFile(s interface{ Scan(...any) error }) (File, error) {
	var f File
	err := s.Scan(&f.ID, &f.Filename, &f.Purpose, &f.MediaType, &f.Bytes, &f.SHA256, &f.CreatedAt)
	return f, err
}

// GetFile returns file id of compartment c.
func (d *DB) GetFile(ctx context.Context, c Compartment, id string) (File, error) {
	sc, err := c.scope()
	if err != nil {
		return File{}, err
	}
	f, err := scanFile(d.db.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files f
		WHERE f.id = ? AND f.compartment = ?`, id, sc.key))
	if err != nil {
		return File{}, fmt.Errorf("get file: %w", notFound(err))
	}
	return f, nil
}

// FileContent returns the bytes of file id of compartment c.
func (d *DB) FileContent(ctx context.Context, c Compartment, id string) ([]byte, error) {
	sc, err := c.scope()
	if err != nil {
		return nil, err
	}
	var data []byte
	err = d.db.QueryRowContext(ctx, `SELECT fc.data FROM files f JOIN file_contents fc ON fc.file_seq = f.seq
		WHERE f.id = ? AND f.compartment = ?`, id, sc.key).Scan(&data)
	if err != nil {
		return nil, fmt.Errorf("file content: %w", notFound(err))
	}
	return data, nil
}

// ListFiles lists compartment c's files; purpose, if set, selects one.
func (d *DB) ListFiles(ctx context.Context, c Compartment, purpose string, p ListParams) (Page[File], error) {
	sc, err := c.scope()
	if err != nil {
		return Page[File]{}, err
	}
	q := listQuery{cols: fileCols, from: `FROM files f WHERE f.compartment = ?`,
		args: []any{sc.key}, seq: "f.seq", idCol: "f.id"}
	if purpose != "" {
		q.from += ` AND f.purpose = ?`
		q.args = append(q.args, purpose)
	}
	page, err := listPage(ctx, d.db, q, p, func(r *sql.Rows) (File, string, error) {
		f, err := scanFile(r)
		return f, f.ID, err
	})
	if err != nil {
		return Page[File]{}, fmt.Errorf("list files: %w", err)
	}
	return page, nil
}

// DeleteFile deletes file id of compartment c, detaching it from every
// store first: its chunks, vectors and words go in the same transaction.
func (d *DB) DeleteFile(ctx context.Context, c Compartment, id string) error {
	sc, err := c.scope()
	if err != nil {
		return err
	}
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM files WHERE id = ? AND compartment = ?`,
			id, sc.key).Scan(&seq); err != nil {
			return notFound(err)
		}
		if err := deleteStoreFiles(ctx, tx, sc, `file_seq = ?`, seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM file_contents WHERE file_seq = ?`, seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM files WHERE seq = ?`, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete file: %w", err)
	}
	return nil
}

// deleteStoreFiles deletes the store-file rows matching where (on
// store_files columns, all in compartment sc) with their chunks from all
// three indexes.
func deleteStoreFiles(ctx context.Context, tx *sql.Tx, sc scope, where string, args ...any) error {
	rows, err := tx.QueryContext(ctx, `SELECT c.id FROM chunks c WHERE c.store_file IN
		(SELECT seq FROM store_files WHERE `+where+`)`, args...)
	if err != nil {
		return fmt.Errorf("find chunks: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("find chunks: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find chunks: %w", err)
	}
	if err := deleteChunks(ctx, tx, sc, ids); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM store_files WHERE `+where, args...); err != nil {
		return fmt.Errorf("delete store files: %w", err)
	}
	return nil
}

// deleteChunks removes chunks of compartment sc by row id from the
// vector index, the word index and the chunks table. One point delete
// each: vec0 and a contentless FTS5 table delete by rowid.
func deleteChunks(ctx context.Context, tx *sql.Tx, sc scope, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	for _, q := range []string{
		`DELETE FROM chunk_vec WHERE chunk_id = ?`,
		`DELETE FROM ` + sc.ftsTable() + ` WHERE rowid = ?`,
		`DELETE FROM chunks WHERE id = ?`,
	} {
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("delete chunks: %w", err)
		}
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, id); err != nil {
				stmt.Close()
				return fmt.Errorf("delete chunk %d: %w", id, err)
			}
		}
		stmt.Close()
	}
	return nil
}

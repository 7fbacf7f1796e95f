package docbase

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Store-file statuses, as OpenAI's.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
)

// StoreFile is a file attached to a store (OpenAI's vector_store.file).
type StoreFile struct {
	ID         string // the file's id, as OpenAI shows it
	StoreID    string
	Status     string
	LastError  *FileError // set when Status is failed
	Attributes Attributes
	Chunking   ChunkingStrategy
	UsageBytes int64
	CreatedAt  int64
}

// FileError is OpenAI's last_error.
type FileError struct {
	Code    string // server_error, unsupported_file, invalid_file
	Message string
}

// ChunkInput is one chunk to index: its text, its token count and its
// embedding (Dimensions long).
type ChunkInput struct {
	Text      string
	Tokens    int
	Embedding []float32
}

// AddFile attaches file fileID to store storeID, both of compartment c,
// with status in_progress and no chunks yet; IndexFile or FailFile ends
// it. A file attached already is ErrConflict.
func (d *DB) AddFile(ctx context.Context, c Compartment, storeID, fileID string, attrs Attributes, cs ChunkingStrategy) (StoreFile, error) {
	sc, err := c.scope()
	if err != nil {
		return StoreFile{}, err
	}
	attrs, err = attrs.normalize()
	if err != nil {
		return StoreFile{}, err
	}
	cs, err = cs.Normalize()
	if err != nil {
		return StoreFile{}, err
	}
	attrJSON, err := json.Marshal(attrs)
	if err != nil {
		return StoreFile{}, fmt.Errorf("add file: %w", err)
	}
	csJSON, err := json.Marshal(cs)
	if err != nil {
		return StoreFile{}, fmt.Errorf("add file: %w", err)
	}
	now := d.unix()
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		var storeSeq, fileSeq int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM stores WHERE id = ? AND compartment = ?`,
			storeID, sc.key).Scan(&storeSeq); err != nil {
			return notFound(err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM files WHERE id = ? AND compartment = ?`,
			fileID, sc.key).Scan(&fileSeq); err != nil {
			return notFound(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM store_files WHERE store_seq = ? AND file_seq = ?`,
			storeSeq, fileSeq).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: file %s is attached to store %s already", ErrConflict, fileID, storeID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO store_files (store_seq, file_seq, status, attributes, chunking, created_at)
			VALUES (?, ?, 'in_progress', ?, ?, ?)`, storeSeq, fileSeq, string(attrJSON), string(csJSON), now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE stores SET last_active_at = ? WHERE seq = ?`, now, storeSeq)
		return err
	})
	if err != nil {
		return StoreFile{}, fmt.Errorf("add file: %w", err)
	}
	return StoreFile{ID: fileID, StoreID: storeID, Status: StatusInProgress, Attributes: attrs,
		Chunking: cs, CreatedAt: now}, nil
}

// IndexFile stores the chunks of an in_progress store file and marks it
// completed, all in one transaction: a crash midway leaves it in_progress
// with no chunks (Open then marks it failed), never completed and half
// indexed. If indexing fails, the file is marked failed with the error
// as last_error, and the error is returned.
func (d *DB) IndexFile(ctx context.Context, c Compartment, storeID, fileID string, chunks []ChunkInput) (StoreFile, error) {
	sc, err := c.scope()
	if err != nil {
		return StoreFile{}, err
	}
	err = d.inTx(ctx, func(tx *sql.Tx) error { return d.indexTx(ctx, tx, sc, storeID, fileID, chunks) })
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return StoreFile{}, fmt.Errorf("index file: %w", err)
		}
		code := "server_error"
		if errors.Is(err, ErrInvalid) {
			code = "invalid_file"
		}
		// The failure is recorded with a context of its own: a cancelled
		// request must still leave the row failed, not in_progress.
		failErr := d.FailFile(context.WithoutCancel(ctx), c, storeID, fileID, code, err.Error())
		return StoreFile{}, errors.Join(fmt.Errorf("index file: %w", err), failErr)
	}
	return d.GetStoreFile(ctx, c, storeID, fileID)
}

// storeFileSeq finds the store-file row of storeID and fileID in sc.
const storeFileSeq = `SELECT sf.seq, sf.status, sf.store_seq FROM store_files sf
	JOIN stores s ON s.seq = sf.store_seq JOIN files f ON f.seq = sf.file_seq
	WHERE s.id = ? AND f.id = ? AND s.compartment = ?`

// findStoreFile returns the store-file row of storeID and fileID in sc:
// its seq, its store's seq and its status.
func findStoreFile(ctx context.Context, tx *sql.Tx, sc scope, storeID, fileID string) (seq, storeSeq int64, status string, err error) {
	if err := tx.QueryRowContext(ctx, storeFileSeq, storeID, fileID, sc.key).Scan(&seq, &status, &storeSeq); err != nil {
		return 0, 0, "", notFound(err)
	}
	return seq, storeSeq, status, nil
}

// findIndexing is findStoreFile for a file still being indexed: any other
// status is a conflict.
func findIndexing(ctx context.Context, tx *sql.Tx, sc scope, storeID, fileID string) (seq, storeSeq int64, err error) {
	seq, storeSeq, status, err := findStoreFile(ctx, tx, sc, storeID, fileID)
	if err == nil && status != StatusInProgress {
		err = fmt.Errorf("%w: file %s in store %s is %s, not in_progress", ErrConflict, fileID, storeID, status)
	}
	return seq, storeSeq, err
}

func (d *DB) indexTx(ctx context.Context, tx *sql.Tx, sc scope, storeID, fileID string, chunks []ChunkInput) error {
	seq, storeSeq, err := findIndexing(ctx, tx, sc, storeID, fileID)
	if err != nil {
		return err
	}
	// Schema first: creating the word index would invalidate statements
	// prepared before it.
	if err := ensureFTS(ctx, tx, sc); err != nil {
		return err
	}
	insChunk, err := tx.PrepareContext(ctx, `INSERT INTO chunks (id, store_file, idx, text, tokens) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insChunk.Close()
	insFTS, err := tx.PrepareContext(ctx, `INSERT INTO `+sc.ftsTable()+` (rowid, text) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer insFTS.Close()
	insVec, err := tx.PrepareContext(ctx, `INSERT INTO chunk_vec (chunk_id, compartment, store, store_file, embedding) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insVec.Close()
	var usage int64
	for i, ch := range chunks {
		if strings.TrimSpace(ch.Text) == "" {
			return fmt.Errorf("%w: chunk %d is empty", ErrInvalid, i)
		}
		if ch.Tokens < 0 {
			return fmt.Errorf("%w: chunk %d has %d tokens", ErrInvalid, i, ch.Tokens)
		}
		blob, err := d.vectorBlob(ch.Embedding)
		if err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		id, err := newChunkRowID()
		if err != nil {
			return err
		}
		if _, err := insChunk.ExecContext(ctx, id, seq, i, ch.Text, ch.Tokens); err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		if _, err := insFTS.ExecContext(ctx, id, ch.Text); err != nil {
			return fmt.Errorf("chunk %d words: %w", i, err)
		}
		if _, err := insVec.ExecContext(ctx, id, sc.hash, storeSeq, seq, blob); err != nil {
			return fmt.Errorf("chunk %d vector: %w", i, err)
		}
		usage += int64(len(ch.Text) + len(blob))
	}
	_, err = tx.ExecContext(ctx, `UPDATE store_files SET status = 'completed', usage_bytes = ?,
		last_error_code = '', last_error_message = '' WHERE seq = ?`, usage, seq)
	return err
}

// FailFile marks an in_progress store file failed with last_error
// code and message, and drops any chunks it has.
func (d *DB) FailFile(ctx context.Context, c Compartment, storeID, fileID, code, message string) error {
	sc, err := c.scope()
	if err != nil {
		return err
	}
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		seq, _, err := findIndexing(ctx, tx, sc, storeID, fileID)
		if err != nil {
			return err
		}
		ids, err := chunkIDs(ctx, tx, seq)
		if err != nil {
			return err
		}
		if err := deleteChunks(ctx, tx, sc, ids); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE store_files SET status = 'failed', usage_bytes = 0,
			last_error_code = ?, last_error_message = ? WHERE seq = ?`, code, message, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("fail file: %w", err)
	}
	return nil
}

func chunkIDs(ctx context.Context, tx *sql.Tx, storeFile int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM chunks WHERE store_file = ?`, storeFile)
	if err != nil {
		return nil, fmt.Errorf("find chunks: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find chunks: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// AttachFile is AddFile then IndexFile, for callers that have the chunks
// and embeddings at hand.
func (d *DB) AttachFile(ctx context.Context, c Compartment, storeID, fileID string, attrs Attributes,
	cs ChunkingStrategy, chunks []ChunkInput) (StoreFile, error) {
	if _, err := d.AddFile(ctx, c, storeID, fileID, attrs, cs); err != nil {
		return StoreFile{}, err
	}
	return d.IndexFile(ctx, c, storeID, fileID, chunks)
}

const storeFileCols = `f.id, s.id, sf.status, sf.last_error_code, sf.last_error_message,
	sf.attributes, sf.chunking, sf.usage_bytes, sf.created_at`

const storeFileFrom = `FROM store_files sf JOIN stores s ON s.seq = sf.store_seq JOIN files f ON f.seq = sf.file_seq`

func scanStoreFile(r interface{ Scan(...any) error }) (StoreFile, error) {
	var sf StoreFile
	var code, msg, attrs, cs string
	if err := r.Scan(&sf.ID, &sf.StoreID, &sf.Status, &code, &msg, &attrs, &cs, &sf.UsageBytes, &sf.CreatedAt); err != nil {
		return StoreFile{}, err
	}
	if code != "" || msg != "" {
		sf.LastError = &FileError{Code: code, Message: msg}
	}
	if err := json.Unmarshal([]byte(attrs), &sf.Attributes); err != nil {
		return StoreFile{}, fmt.Errorf("file %s attributes: %w", sf.ID, err)
	}
	if err := json.Unmarshal([]byte(cs), &sf.Chunking); err != nil {
		return StoreFile{}, fmt.Errorf("file %s chunking: %w", sf.ID, err)
	}
	return sf, nil
}

// GetStoreFile returns file fileID as attached to store storeID.
func (d *DB) GetStoreFile(ctx context.Context, c Compartment, storeID, fileID string) (StoreFile, error) {
	sc, err := c.scope()
	if err != nil {
		return StoreFile{}, err
	}
	sf, err := scanStoreFile(d.db.QueryRowContext(ctx, `SELECT `+storeFileCols+` `+storeFileFrom+`
		WHERE s.id = ? AND f.id = ? AND s.compartment = ?`, storeID, fileID, sc.key))
	if err != nil {
		return StoreFile{}, fmt.Errorf("get store file: %w", notFound(err))
	}
	return sf, nil
}

// ListStoreFiles lists the files of store storeID; status, if set,
// selects those with that status.
func (d *DB) ListStoreFiles(ctx context.Context, c Compartment, storeID, status string, p ListParams) (Page[StoreFile], error) {
	sc, err := c.scope()
	if err != nil {
		return Page[StoreFile]{}, err
	}
	// A missing store must not look like an empty one.
	var one int
	if err := d.db.QueryRowContext(ctx, `SELECT 1 FROM stores WHERE id = ? AND compartment = ?`,
		storeID, sc.key).Scan(&one); err != nil {
		return Page[StoreFile]{}, fmt.Errorf("list store files: %w", notFound(err))
	}
	q := listQuery{cols: storeFileCols, from: storeFileFrom + ` WHERE s.id = ? AND s.compartment = ?`,
		args: []any{storeID, sc.key}, seq: "sf.seq", idCol: "f.id"}
	if status != "" {
		switch status {
		case StatusInProgress, StatusCompleted, StatusFailed, StatusCancelled:
		default:
			return Page[StoreFile]{}, fmt.Errorf("%w: status filter %q", ErrInvalid, status)
		}
		q.from += ` AND sf.status = ?`
		q.args = append(q.args, status)
	}
	page, err := listPage(ctx, d.db, q, p, func(r *sql.Rows) (StoreFile, string, error) {
		sf, err := scanStoreFile(r)
		return sf, sf.ID, err
	})
	if err != nil {
		return Page[StoreFile]{}, fmt.Errorf("list store files: %w", err)
	}
	return page, nil
}

// DetachFile removes file fileID from store storeID with its chunks; the
// file itself stays.
func (d *DB) DetachFile(ctx context.Context, c Compartment, storeID, fileID string) error {
	sc, err := c.scope()
	if err != nil {
		return err
	}
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		seq, _, _, err := findStoreFile(ctx, tx, sc, storeID, fileID)
		if err != nil {
			return err
		}
		return deleteStoreFiles(ctx, tx, sc, `seq = ?`, seq)
	})
	if err != nil {
		return fmt.Errorf("detach file: %w", err)
	}
	return nil
}

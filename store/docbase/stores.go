package docbase

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Store is a vector store, as OpenAI's vector_store object.
type Store struct {
	ID           string
	Name         string
	Metadata     map[string]string
	Status       string // "in_progress" while a file is being indexed, else "completed"
	FileCounts   FileCounts
	UsageBytes   int64
	CreatedAt    int64
	LastActiveAt int64
}

// FileCounts counts a store's files by status.
type FileCounts struct {
	InProgress, Completed, Failed, Cancelled, Total int64
}

// AdminStore is a store's metadata with its compartment, for clean-up by
// an administrator; it carries nothing of the documents' content.
type AdminStore struct {
	Compartment Compartment
	Store
}

// OpenAI's limits on metadata, reused for attributes.
const (
	maxPairs       = 16
	maxKeyChars    = 64
	maxValueChars  = 512
	maxStoreName   = 256
	storeStatusRun = "in_progress"
)

func checkMetadata(m map[string]string) error {
	if len(m) > maxPairs {
		return fmt.Errorf("%w: metadata has %d pairs, at most %d", ErrInvalid, len(m), maxPairs)
	}
	for k, v := range m {
		if k == "" || utf8.RuneCountInString(k) > maxKeyChars || !utf8.ValidString(k) {
			return fmt.Errorf("%w: metadata key must be 1 to %d characters", ErrInvalid, maxKeyChars)
		}
		if utf8.RuneCountInString(v) > maxValueChars || !utf8.ValidString(v) {
			return fmt.Errorf("%w: metadata %q: value longer than %d characters", ErrInvalid, k, maxValueChars)
		}
	}
	return nil
}

func checkName(name string) error {
	if utf8.RuneCountInString(name) > maxStoreName || !utf8.ValidString(name) {
		return fmt.Errorf("%w: name must be at most %d characters", ErrInvalid, maxStoreName)
	}
	return nil
}

// CreateStore creates an empty vector store in compartment c; attach
// files with AttachFile.
func (d *DB) CreateStore(ctx context.Context, c Compartment, name string, metadata map[string]string) (Store, error) {
	sc, err := c.scope()
	if err != nil {
		return Store{}, err
	}
	if err := checkName(name); err != nil {
		return Store{}, err
	}
	if err := checkMetadata(metadata); err != nil {
		return Store{}, err
	}
	if metadata == nil {
		metadata = map[string]string{}
	}
	meta, err := json.Marshal(metadata)
	if err != nil {
		return Store{}, fmt.Errorf("create store: %w", err)
	}
	id, err := newID("vs_")
	if err != nil {
		return Store{}, err
	}
	now := d.unix()
	if _, err := d.db.ExecContext(ctx, `INSERT INTO stores (id, compartment, name, metadata, created_at, last_active_at)
		VALUES (?, ?, ?, ?, ?, ?)`, id, sc.key, name, string(meta), now, now); err != nil {
		return Store{}, fmt.Errorf("create store: %w", err)
	}
	return Store{ID: id, Name: name, Metadata: metadata, Status: "completed", CreatedAt: now, LastActiveAt: now}, nil
}

// storeCols selects a store with its counts, for scanStore; s is stores.
const storeCols = `s.id, s.name, s.metadata, s.created_at, s.last_active_at, s.compartment,
	(SELECT count(*) FILTER (WHERE status = 'in_progress') FROM store_files WHERE store_seq = s.seq),
	(SELECT count(*) FILTER (WHERE status = 'completed') FROM store_files WHERE store_seq = s.seq),
	(SELECT count(*) FILTER (WHERE status = 'failed') FROM store_files WHERE store_seq = s.seq),
	(SELECT count(*) FILTER (WHERE status = 'cancelled') FROM store_files WHERE store_seq = s.seq),
	(SELECT coalesce(sum(usage_bytes), 0) FROM store_files WHERE store_seq = s.seq)`

func scanStore(r interface{ Scan(...any) error }) (AdminStore, error) {
	var s AdminStore
	var meta, comp string
	fc := &s.FileCounts
	if err := r.Scan(&s.ID, &s.Name, &meta, &s.CreatedAt, &s.LastActiveAt, &comp,
		&fc.InProgress, &fc.Completed, &fc.Failed, &fc.Cancelled, &s.UsageBytes); err != nil {
		return AdminStore{}, err
	}
	fc.Total = fc.InProgress + fc.Completed + fc.Failed + fc.Cancelled
	s.Status = "completed"
	if fc.InProgress > 0 {
		s.Status = storeStatusRun
	}
	if err := json.Unmarshal([]byte(meta), &s.Metadata); err != nil {
		return AdminStore{}, fmt.Errorf("store %s metadata: %w", s.ID, err)
	}
	c, err := parseCompartment(comp)
	if err != nil {
		return AdminStore{}, err
	}
	s.Compartment = c
	return s, nil
}

// GetStore returns store id of compartment c.
func (d *DB) GetStore(ctx context.Context, c Compartment, id string) (Store, error) {
	sc, err := c.scope()
	if err != nil {
		return Store{}, err
	}
	s, err := scanStore(d.db.QueryRowContext(ctx, `SELECT `+storeCols+` FROM stores s
		WHERE s.id = ? AND s.compartment = ?`, id, sc.key))
	if err != nil {
		return Store{}, fmt.Errorf("get store: %w", notFound(err))
	}
	return s.Store, nil
}

// ListStores lists compartment c's stores.
func (d *DB) ListStores(ctx context.Context, c Compartment, p ListParams) (Page[Store], error) {
	sc, err := c.scope()
	if err != nil {
		return Page[Store]{}, err
	}
	q := listQuery{cols: storeCols, from: `FROM stores s WHERE s.compartment = ?`,
		args: []any{sc.key}, seq: "s.seq", idCol: "s.id"}
	page, err := listPage(ctx, d.db, q, p, func(r *sql.Rows) (Store, string, error) {
		s, err := scanStore(r)
		return s.Store, s.ID, err
	})
	if err != nil {
		return Page[Store]{}, fmt.Errorf("list stores: %w", err)
	}
	return page, nil
}

// StoreUpdate changes a store: nil fields stay as they are; a non-nil
// Metadata replaces the whole map, as OpenAI's update does.
type StoreUpdate struct {
	Name     *string
	Metadata map[string]string
}

// UpdateStore applies u to store id of compartment c.
func (d *DB) UpdateStore(ctx context.Context, c Compartment, id string, u StoreUpdate) (Store, error) {
	sc, err := c.scope()
	if err != nil {
		return Store{}, err
	}
	set, args := "last_active_at = ?", []any{d.unix()}
	if u.Name != nil {
		if err := checkName(*u.Name); err != nil {
			return Store{}, err
		}
		set += ", name = ?"
		args = append(args, *u.Name)
	}
	if u.Metadata != nil {
		if err := checkMetadata(u.Metadata); err != nil {
			return Store{}, err
		}
		meta, err := json.Marshal(u.Metadata)
		if err != nil {
			return Store{}, fmt.Errorf("update store: %w", err)
		}
		set += ", metadata = ?"
		args = append(args, string(meta))
	}
	res, err := d.db.ExecContext(ctx, `UPDATE stores SET `+set+` WHERE id = ? AND compartment = ?`,
		append(args, id, sc.key)...)
	if err != nil {
		return Store{}, fmt.Errorf("update store: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return Store{}, fmt.Errorf("update store: %w", ErrNotFound)
	}
	return d.GetStore(ctx, c, id)
}

// DeleteStore deletes store id of compartment c with its chunks; the
// files themselves stay, as with OpenAI.
func (d *DB) DeleteStore(ctx context.Context, c Compartment, id string) error {
	sc, err := c.scope()
	if err != nil {
		return err
	}
	if err := d.deleteStore(ctx, `id = ? AND compartment = ?`, id, sc.key); err != nil {
		return fmt.Errorf("delete store: %w", err)
	}
	return nil
}

func (d *DB) deleteStore(ctx context.Context, where string, args ...any) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		var comp string
		if err := tx.QueryRowContext(ctx, `SELECT seq, compartment FROM stores WHERE `+where, args...).Scan(&seq, &comp); err != nil {
			return notFound(err)
		}
		c, err := parseCompartment(comp)
		if err != nil {
			return err
		}
		sc, err := c.scope()
		if err != nil {
			return err
		}
		if err := deleteStoreFiles(ctx, tx, sc, `store_seq = ?`, seq); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM stores WHERE seq = ?`, seq)
		return err
	})
}

// AdminListStores lists the stores of every compartment, metadata only,
// for an administrator's clean-up.
func (d *DB) AdminListStores(ctx context.Context, p ListParams) (Page[AdminStore], error) {
	q := listQuery{cols: storeCols, from: `FROM stores s WHERE 1`, seq: "s.seq", idCol: "s.id"}
	page, err := listPage(ctx, d.db, q, p, func(r *sql.Rows) (AdminStore, string, error) {
		s, err := scanStore(r)
		return s, s.ID, err
	})
	if err != nil {
		return Page[AdminStore]{}, fmt.Errorf("admin list stores: %w", err)
	}
	return page, nil
}

// AdminDeleteStore deletes store id whatever its compartment.
func (d *DB) AdminDeleteStore(ctx context.Context, id string) error {
	if err := d.deleteStore(ctx, `id = ?`, id); err != nil {
		return fmt.Errorf("admin delete store: %w", err)
	}
	return nil
}

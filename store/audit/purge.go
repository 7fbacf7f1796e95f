package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PurgeResult says what a purge deleted. Deleted is 0 when no row was old
// enough; the purge is recorded in the chain either way.
type PurgeResult struct {
	Deleted         int64
	FirstID, LastID int64 // the range deleted
}

type purgeRequest struct {
	ctx    context.Context
	cutoff time.Time
	reply  chan purgeReply
}

type purgeReply struct {
	res PurgeResult
	err error
}

// Purge deletes the records older than olderThan and records the purge as
// a system record. It deletes the oldest part of the chain only, up to the
// first record at or after the cutoff, so that what remains is one chain
// starting at a checkpoint (the last deleted row's id and hash, MAC'd with
// the key). It refuses to delete rows that do not verify: they may be the
// evidence of tampering.
func (l *Log) Purge(ctx context.Context, olderThan time.Time) (PurgeResult, error) {
	req := purgeRequest{ctx: ctx, cutoff: olderThan, reply: make(chan purgeReply, 1)}
	select {
	case l.purges <- req:
	case <-l.done:
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", ErrClosed)
	case <-ctx.Done():
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", ctx.Err())
	}
	select {
	case rep := <-req.reply:
		return rep.res, rep.err
	case <-ctx.Done():
		// The purge's transaction is bound to ctx too and rolls back.
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", ctx.Err())
	}
}

// purge runs on the writer goroutine, in one transaction.
func (l *Log) purge(ctx context.Context, cutoff time.Time) (PurgeResult, error) {
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	// Zero the deleted texts instead of leaving them in free pages.
	if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", err)
	}
	res, err := l.deleteOld(ctx, tx, cutoff)
	if err != nil {
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", err)
	}
	detail := fmt.Sprintf("retention cutoff %s: nothing to delete", cutoff.UTC().Format(time.RFC3339))
	if res.Deleted > 0 {
		detail = fmt.Sprintf("retention cutoff %s: deleted rows %d to %d (%d)",
			cutoff.UTC().Format(time.RFC3339), res.FirstID, res.LastID, res.Deleted)
	}
	r, err := l.prepare(Record{Kind: KindSystem, Action: "purge"})
	if err != nil {
		return PurgeResult{}, err
	}
	r.detail = detail // written here, nothing to redact
	if err := appendRows(ctx, tx, l.opts.Key, []*row{r}); err != nil {
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return PurgeResult{}, fmt.Errorf("purge audit log: %w", err)
	}
	l.opts.Logger.Info("audit log purged", "cutoff", cutoff, "deleted", res.Deleted,
		"first_id", res.FirstID, "last_id", res.LastID)
	return res, nil
}

func (l *Log) deleteOld(ctx context.Context, tx *sql.Tx, cutoff time.Time) (PurgeResult, error) {
	start, _, broken, err := chainStart(ctx, tx, l.opts.Key)
	if err != nil {
		return PurgeResult{}, err
	}
	if broken != nil {
		return PurgeResult{}, fmt.Errorf("refused: %s: %s", broken.Problem, broken.Detail)
	}
	var upto int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM records WHERE time_us >= ? ORDER BY id LIMIT 1`,
		cutoff.UnixMicro()).Scan(&upto)
	switch {
	case err == nil:
		upto--
	case errors.Is(err, sql.ErrNoRows):
		err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM records`).Scan(&upto)
	}
	if err != nil {
		return PurgeResult{}, fmt.Errorf("find rows to purge: %w", err)
	}
	if upto <= start.id {
		return PurgeResult{}, nil
	}
	w, err := walk(ctx, tx, l.opts.Key, start, upto)
	if err != nil {
		return PurgeResult{}, err
	}
	if w.broken != nil {
		return PurgeResult{}, fmt.Errorf("refused: row %d does not verify (%s: %s)", w.broken.ID, w.broken.Problem, w.broken.Detail)
	}
	del, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id <= ?`, upto)
	if err != nil {
		return PurgeResult{}, fmt.Errorf("delete rows up to %d: %w", upto, err)
	}
	n, err := del.RowsAffected()
	if err != nil {
		return PurgeResult{}, fmt.Errorf("delete rows up to %d: %w", upto, err)
	}
	cp := checkpoint{lastID: w.last.id, lastHash: w.last.hash, timeUS: time.Now().UnixMicro()}
	cp.mac = cp.sum(l.opts.Key)
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO checkpoint (one, last_id, last_hash, time_us, mac)
		VALUES (1, ?, ?, ?, ?)`, cp.lastID, cp.lastHash, cp.timeUS, cp.mac); err != nil {
		return PurgeResult{}, fmt.Errorf("write checkpoint: %w", err)
	}
	return PurgeResult{Deleted: n, FirstID: w.first, LastID: w.last.id}, nil
}

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

// defaultPurgeChunk bounds the rows deleted per transaction, so that a
// large purge lets queued records through between its steps instead of
// holding the writer until Submit times out.
const defaultPurgeChunk = 10_000

type purgeRequest struct {
	ctx    context.Context
	cutoff time.Time
	sofar  PurgeResult
	reply  chan purgeReply
}

type purgeReply struct {
	res  PurgeResult // sofar and this step
	more bool        // old rows remain
	err  error
}

// Purge deletes the records older than olderThan and records the purge as
// a system record. It deletes the oldest part of the chain only, up to the
// first record at or after the cutoff, so that what remains is one chain
// starting at a checkpoint (the last deleted row's id and hash, MAC'd with
// the key). It refuses to delete rows that do not verify: they may be the
// evidence of tampering. On error, the result says what was deleted.
func (l *Log) Purge(ctx context.Context, olderThan time.Time) (PurgeResult, error) {
	var res PurgeResult
	for {
		rep, err := l.purgeStep(ctx, olderThan, res)
		if err != nil {
			return res, fmt.Errorf("purge audit log: %w", err)
		}
		res = rep.res
		if !rep.more {
			return res, nil
		}
	}
}

func (l *Log) purgeStep(ctx context.Context, cutoff time.Time, sofar PurgeResult) (purgeReply, error) {
	req := purgeRequest{ctx: ctx, cutoff: cutoff, sofar: sofar, reply: make(chan purgeReply, 1)}
	select {
	case l.purges <- req:
	case <-l.done:
		return purgeReply{}, ErrClosed
	case <-ctx.Done():
		return purgeReply{}, ctx.Err()
	}
	select {
	case rep := <-req.reply:
		return rep, rep.err
	case <-ctx.Done():
		// The step's transaction is bound to ctx too and rolls back.
		return purgeReply{}, ctx.Err()
	}
}

// purge runs one step of a purge on the writer goroutine, in one
// transaction: delete a chunk of rows and move the checkpoint; the
// last step also appends the system record.
func (l *Log) purge(req purgeRequest) purgeReply {
	ctx := req.ctx
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		return purgeReply{err: err}
	}
	defer tx.Rollback() // after Commit, a no-op
	// Zero the deleted texts instead of leaving them in free pages.
	if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return purgeReply{err: err}
	}
	// A purge moves the checkpoint and appends a record: not on a log
	// whose tail was cut. Deleting old rows leaves the tail's link in
	// place, as a row or as the checkpoint, so end stays the tail.
	end, err := l.checkedTail(ctx, tx)
	if err != nil {
		return purgeReply{err: err}
	}
	step, more, err := l.deleteOld(ctx, tx, req.cutoff)
	if err != nil {
		return purgeReply{err: err}
	}
	res := req.sofar
	if step.Deleted > 0 {
		if res.Deleted == 0 {
			res.FirstID = step.FirstID
		}
		res.Deleted += step.Deleted
		res.LastID = step.LastID
	}
	if !more {
		if end, err = l.recordPurge(ctx, tx, end, req.cutoff, res); err != nil {
			return purgeReply{err: err}
		}
	}
	if err := tx.Commit(); err != nil {
		return purgeReply{err: err}
	}
	l.committed(end)
	if !more {
		l.opts.Logger.Info("audit log purged", "cutoff", req.cutoff, "deleted", res.Deleted,
			"first_id", res.FirstID, "last_id", res.LastID)
	}
	return purgeReply{res: res, more: more}
}

func (l *Log) recordPurge(ctx context.Context, tx *sql.Tx, end link, cutoff time.Time, res PurgeResult) (link, error) {
	detail := fmt.Sprintf("retention cutoff %s: nothing to delete", cutoff.UTC().Format(time.RFC3339))
	if res.Deleted > 0 {
		detail = fmt.Sprintf("retention cutoff %s: deleted rows %d to %d (%d)",
			cutoff.UTC().Format(time.RFC3339), res.FirstID, res.LastID, res.Deleted)
	}
	return appendSystem(ctx, tx, &l.opts, end, "purge", "", detail)
}

// deleteOld deletes the next chunk of rows before the first one at or
// after cutoff, after checking that they verify, and moves the checkpoint
// past them. more says whether old rows may remain beyond the chunk.
func (l *Log) deleteOld(ctx context.Context, tx *sql.Tx, cutoff time.Time) (res PurgeResult, more bool, err error) {
	start, _, broken, err := chainStart(ctx, tx, l.opts.Key)
	if err != nil {
		return res, false, err
	}
	if broken != nil {
		return res, false, fmt.Errorf("refused: %s: %s", broken.Problem, broken.Detail)
	}
	// Look only within the chunk, so that each step reads what it deletes
	// and no more.
	upto := start.id + int64(l.opts.purgeChunk)
	var recent int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM records WHERE id <= ? AND time_us >= ? ORDER BY id LIMIT 1`,
		upto, cutoff.UnixMicro()).Scan(&recent)
	switch {
	case err == nil:
		upto = recent - 1
	case errors.Is(err, sql.ErrNoRows):
		var last int64
		err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM records`).Scan(&last)
		more = last > upto
		upto = min(upto, last)
	}
	if err != nil {
		return res, false, fmt.Errorf("find rows to purge: %w", err)
	}
	if upto <= start.id {
		return res, false, nil
	}
	w, err := walk(ctx, tx, l.opts.Key, start, upto)
	if err != nil {
		return res, false, err
	}
	if w.broken != nil {
		return res, false, fmt.Errorf("refused: row %d does not verify (%s: %s)", w.broken.ID, w.broken.Problem, w.broken.Detail)
	}
	del, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id <= ?`, upto)
	if err != nil {
		return res, false, fmt.Errorf("delete rows up to %d: %w", upto, err)
	}
	n, err := del.RowsAffected()
	if err != nil {
		return res, false, fmt.Errorf("delete rows up to %d: %w", upto, err)
	}
	cp := checkpoint{lastID: w.last.id, lastHash: w.last.hash, timeUS: time.Now().UnixMicro()}
	cp.mac = cp.sum(l.opts.Key)
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO checkpoint (one, last_id, last_hash, time_us, mac)
		VALUES (1, ?, ?, ?, ?)`, cp.lastID, cp.lastHash, cp.timeUS, cp.mac); err != nil {
		return res, false, fmt.Errorf("write checkpoint: %w", err)
	}
	return PurgeResult{Deleted: n, FirstID: w.first, LastID: w.last.id}, more, nil
}

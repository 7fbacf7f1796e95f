package audit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// run is the writer goroutine: it owns every write to the database. It
// writes queued records in batches, one transaction each; when a batch
// fails it keeps the batch, marks the log failed and tries again every
// RetryInterval, leaving the rest in the queue, until a write succeeds.
func (l *Log) run() {
	defer close(l.done)
	// Writes do not take a caller's context: a record accepted is written
	// unless Close gives up waiting (abort).
	ctx := context.Background()
	var batch []*row
	for {
		select {
		case <-l.abort:
			l.lost = int64(len(batch)) + l.drain()
			return
		default:
		}
		if len(batch) == 0 {
			select {
			case r, ok := <-l.queue:
				if !ok {
					return
				}
				batch = append(batch, r)
			case req := <-l.purges:
				req.reply <- l.purge(req)
				continue
			}
		}
		batch = l.fill(batch)
		if err := l.write(ctx, batch); err != nil {
			l.writeErrors.Add(1)
			l.setFailed(err)
			if !l.pause() {
				l.lost = int64(len(batch)) + l.drain()
				return
			}
			continue
		}
		l.setFailed(nil)
		clear(batch) // let the texts go
		batch = batch[:0]
	}
}

// fill adds what is already queued to batch, up to BatchSize, without
// waiting.
func (l *Log) fill(batch []*row) []*row {
	for len(batch) < l.opts.BatchSize {
		select {
		case r, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (l *Log) write(ctx context.Context, batch []*row) error {
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write %d audit records: %w", len(batch), err)
	}
	if err := appendRows(ctx, tx, l.opts.Key, batch); err != nil {
		return errors.Join(fmt.Errorf("write %d audit records: %w", len(batch), err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write %d audit records: %w", len(batch), err)
	}
	return nil
}

// pause waits RetryInterval before the next try, turning purges away
// meanwhile. It returns false if Close gave up waiting.
func (l *Log) pause() bool {
	t := time.NewTimer(l.opts.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-l.abort:
			return false
		case req := <-l.purges:
			req.reply <- purgeReply{err: l.Err()}
		}
	}
}

// drain counts what is left in the queue once Close has closed it.
func (l *Log) drain() int64 {
	var n int64
	for range l.queue {
		n++
	}
	return n
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/warden-llm/warden/store"
	"github.com/warden-llm/warden/store/audit"
)

// revocationSweep is how often serve looks for revocations made from the
// command line: how long such a revocation may go unrecorded in the audit
// log while the server runs. It applies to requests at once either way.
const revocationSweep = 2 * time.Second

// auditRevocations records in the audit log the revocations that have no
// record there: those made with `warden token revoke`, which cannot write
// the log itself (its hash chain has one writer, the server). It sweeps at
// start, so revocations made while the server was down are recorded then,
// and every interval until ctx ends.
func auditRevocations(ctx context.Context, revs *store.Revocations, l *audit.Log, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := recordRevocations(ctx, revs, l); err != nil && ctx.Err() == nil {
			log.Warn("revocations made from the command line not yet in the audit log; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// recordRevocations submits one admin record per unaudited revocation and
// marks each once the log has queued its record. A crash between the two
// makes the next sweep record it again: twice rather than never. Like any
// queued record, one still queued at a kill -9 is lost.
func recordRevocations(ctx context.Context, revs *store.Revocations, l *audit.Log) error {
	pending, err := revs.Unaudited(ctx)
	if err != nil {
		return err
	}
	for _, rev := range pending {
		err := l.Submit(ctx, audit.Record{
			Kind:    audit.KindAdmin,
			Subject: rev.RevokedBy,
			Action:  "token revoke (command line)",
			Detail: fmt.Sprintf("revoke jti=%s revoked_at=%s reason=%q",
				rev.TokenID, rev.RevokedAt.Format(time.RFC3339), rev.Reason),
		})
		if err != nil {
			return fmt.Errorf("record revocation of %s: %w", rev.TokenID, err)
		}
		if err := revs.MarkAudited(ctx, rev.TokenID); err != nil {
			return err
		}
	}
	return nil
}

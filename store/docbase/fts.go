package docbase

import (
	"context"
	"database/sql"
	"fmt"
)

// ensureFTS creates the compartment's word index if it is not there yet.
// Contentless: the text is in chunks already; contentless_delete lets a
// chunk's words be deleted by rowid alone.
func ensureFTS(ctx context.Context, tx *sql.Tx, sc scope) error {
	if _, err := tx.ExecContext(ctx, `CREATE VIRTUAL TABLE IF NOT EXISTS `+sc.ftsTable()+
		` USING fts5(text, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`); err != nil {
		return fmt.Errorf("create word index: %w", err)
	}
	return nil
}

// hasFTS reports whether the compartment has a word index yet.
func hasFTS(ctx context.Context, q querier, sc scope) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`,
		sc.ftsTable()).Scan(&n); err != nil {
		return false, fmt.Errorf("find word index: %w", err)
	}
	return n > 0, nil
}

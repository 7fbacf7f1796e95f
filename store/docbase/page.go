package docbase

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// ListParams are OpenAI's cursor pagination: Limit 1–100 (0 means 20),
// After and Before are ids of listed objects, Order is "desc" (default,
// newest first) or "asc".
type ListParams struct {
	Limit  int
	After  string
	Before string
	Order  string
}

// Page is one page of a list, with OpenAI's first_id, last_id, has_more.
type Page[T any] struct {
	Data    []T
	FirstID string
	LastID  string
	HasMore bool
}

const (
	defaultListLimit = 20
	maxListLimit     = 100
)

func (p *ListParams) check() error {
	switch {
	case p.Limit == 0:
		p.Limit = defaultListLimit
	case p.Limit < 1 || p.Limit > maxListLimit:
		return fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalid, p.Limit, maxListLimit)
	}
	switch p.Order {
	case "":
		p.Order = "desc"
	case "asc", "desc":
	default:
		return fmt.Errorf("%w: order %q: want asc or desc", ErrInvalid, p.Order)
	}
	return nil
}

// listQuery describes one list: rows of from (joins and a WHERE clause
// with the compartment in it, args bound to it), ordered by seq; cursor
// ids are looked up in idCol within the same rows, so that a cursor from
// another compartment is not found either.
type listQuery struct {
	cols  string // selected columns, scanned by scan
	from  string // "FROM ... WHERE ..." restricted to the caller's rows
	args  []any
	seq   string // the ordering column, e.g. "f.seq"
	idCol string // the column cursors name, e.g. "f.id"
}

func listPage[T any](ctx context.Context, db *sql.DB, q listQuery, p ListParams,
	scan func(*sql.Rows) (T, string, error)) (Page[T], error) {
	if err := p.check(); err != nil {
		return Page[T]{}, err
	}
	where := ""
	args := slices.Clone(q.args)
	cursor := func(id string, op string) error {
		var seq int64
		err := db.QueryRowContext(ctx, "SELECT "+q.seq+" "+q.from+" AND "+q.idCol+" = ?",
			append(slices.Clone(q.args), id)...).Scan(&seq)
		if err != nil {
			return fmt.Errorf("list cursor: %w", notFound(err))
		}
		where += " AND " + q.seq + " " + op + " ?"
		args = append(args, seq)
		return nil
	}
	// In descending order "after" is older (smaller seq); in ascending,
	// newer. "before" is the other way round.
	older, newer := "<", ">"
	if p.Order == "asc" {
		older, newer = newer, older
	}
	if p.After != "" {
		if err := cursor(p.After, older); err != nil {
			return Page[T]{}, err
		}
	}
	if p.Before != "" {
		if err := cursor(p.Before, newer); err != nil {
			return Page[T]{}, err
		}
	}
	// A page before a cursor is the one nearest to it: read it walking
	// away from the cursor, then turn it round.
	dir := map[string]string{"asc": "ASC", "desc": "DESC"}[p.Order]
	reverse := p.Before != "" && p.After == ""
	if reverse {
		dir = map[string]string{"asc": "DESC", "desc": "ASC"}[p.Order]
	}
	args = append(args, p.Limit+1)
	rows, err := db.QueryContext(ctx, "SELECT "+q.cols+" "+q.from+where+" ORDER BY "+q.seq+" "+dir+" LIMIT ?", args...)
	if err != nil {
		return Page[T]{}, fmt.Errorf("list: %w", err)
	}
	defer rows.Close()
	var page Page[T]
	var ids []string
	for rows.Next() {
		v, id, err := scan(rows)
		if err != nil {
			return Page[T]{}, fmt.Errorf("list: %w", err)
		}
		page.Data = append(page.Data, v)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return Page[T]{}, fmt.Errorf("list: %w", err)
	}
	if len(page.Data) > p.Limit {
		page.HasMore = true
		page.Data, ids = page.Data[:p.Limit], ids[:p.Limit]
	}
	if reverse {
		slices.Reverse(page.Data)
		slices.Reverse(ids)
	}
	if len(ids) > 0 {
		page.FirstID, page.LastID = ids[0], ids[len(ids)-1]
	}
	if page.Data == nil {
		page.Data = []T{}
	}
	return page, nil
}

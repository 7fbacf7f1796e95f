package docbase

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// SearchParams is a search over some of a compartment's stores.
type SearchParams struct {
	StoreIDs []string
	// Query is matched against the chunks' words (FTS5); Embedding, the
	// query's embedding, against their vectors. At least one is needed;
	// with both, the two rankings are fused.
	Query     string
	Embedding []float32
	// MaxResults is 1–50; 0 means 10.
	MaxResults int
	// Filter, if set, restricts the search to store files whose
	// attributes match it, before ranking.
	Filter *Filter
	// ScoreThreshold drops results scoring below it (0 to 1).
	ScoreThreshold float64
}

// SearchResult is one retrieved chunk.
type SearchResult struct {
	FileID     string
	Filename   string
	StoreID    string
	ChunkID    string
	Text       string
	Attributes Attributes
	// Score is the reciprocal-rank-fusion score scaled to 0–1: 1 is the
	// top chunk of every ranking used, so a threshold means the same with
	// one ranking or two.
	Score float64
}

const (
	defaultMaxResults = 10
	maxMaxResults     = 50
	maxSearchStores   = 16
	maxQueryTerms     = 32
	// rrfK is reciprocal rank fusion's constant (Cormack et al. 2009):
	// a chunk at rank r (from 1) of a ranking scores 1/(rrfK+r).
	rrfK = 60
)

// Search finds the chunks of stores params.StoreIDs (all of compartment c,
// else ErrNotFound) nearest to the query. Both rankings are computed only
// over the compartment's chunks in those stores that pass the filter (see
// the package comment): each returns up to depth of them, so the fused
// list has MaxResults whenever the compartment has that many candidates,
// whatever other compartments hold.
func (d *DB) Search(ctx context.Context, c Compartment, p SearchParams) ([]SearchResult, error) {
	sc, err := c.scope()
	if err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	var vec []byte
	if p.Embedding != nil {
		if vec, err = d.vectorBlob(p.Embedding); err != nil {
			return nil, err
		}
	}
	terms := queryTerms(p.Query)
	if vec == nil && len(terms) == 0 {
		return nil, fmt.Errorf("%w: search needs a query with words or an embedding", ErrInvalid)
	}
	// One connection and one read transaction for the whole search, so
	// that its queries see one snapshot: a file completed, detached or
	// deleted meanwhile is in all of them or in none. (BEGIN by hand:
	// the driver's BeginTx would take the write lock.)
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") }()
	candidates, err := d.candidates(ctx, conn, sc, p)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if candidates.n == 0 {
		return []SearchResult{}, nil
	}
	depth := min(max(2*p.MaxResults, 20), 100)
	fused := map[int64]float64{}
	lists := 0
	if vec != nil {
		ids, err := d.knn(ctx, conn, sc, vec, candidates, depth)
		if err != nil {
			return nil, fmt.Errorf("search vectors: %w", err)
		}
		addRanks(fused, ids)
		lists++
	}
	if len(terms) > 0 {
		ids, err := d.keywords(ctx, conn, sc, terms, candidates, depth)
		if err != nil {
			return nil, fmt.Errorf("search words: %w", err)
		}
		addRanks(fused, ids)
		lists++
	}
	best := 1 / float64(rrfK+1) * float64(lists)
	type hit struct {
		id    int64
		score float64
	}
	var hits []hit
	for id, s := range fused {
		if s /= best; s >= p.ScoreThreshold {
			hits = append(hits, hit{id, s})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.id, b.id))
	})
	hits = hits[:min(len(hits), p.MaxResults)]
	ids := make([]int64, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	loaded, err := d.loadChunks(ctx, conn, sc, ids, candidates)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	results := make([]SearchResult, 0, len(hits))
	for _, h := range hits {
		if r, ok := loaded[h.id]; ok {
			r.Score = h.score
			results = append(results, r)
		}
	}
	return results, nil
}

func (p *SearchParams) check() error {
	switch {
	case p.MaxResults == 0:
		p.MaxResults = defaultMaxResults
	case p.MaxResults < 1 || p.MaxResults > maxMaxResults:
		return fmt.Errorf("%w: max_num_results %d: want 1 to %d", ErrInvalid, p.MaxResults, maxMaxResults)
	}
	if p.ScoreThreshold < 0 || p.ScoreThreshold > 1 {
		return fmt.Errorf("%w: score_threshold %v: want 0 to 1", ErrInvalid, p.ScoreThreshold)
	}
	if len(p.StoreIDs) == 0 || len(p.StoreIDs) > maxSearchStores {
		return fmt.Errorf("%w: search 1 to %d vector stores", ErrInvalid, maxSearchStores)
	}
	if p.Filter != nil {
		if err := p.Filter.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// querier is what a search reads through: the connection holding its
// read transaction.
type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func addRanks(fused map[int64]float64, ids []int64) {
	for i, id := range ids {
		fused[id] += 1 / float64(rrfK+i+1)
	}
}

// candidateSet is what a search may return: the completed store files
// of the requested stores that pass the filter.
type candidateSet struct {
	files    string // their store_files.seq, as a JSON array for json_each
	n        int    // how many
	stores   string // the requested stores' seq, as a JSON array
	filtered bool   // whether a filter chose the files
}

// candidates finds the candidate set. It checks first that every store
// is the compartment's.
func (d *DB) candidates(ctx context.Context, q querier, sc scope, p SearchParams) (candidateSet, error) {
	ids := slices.Compact(slices.Sorted(slices.Values(p.StoreIDs)))
	args := []any{sc.key}
	for _, id := range ids {
		args = append(args, id)
	}
	in := placeholders(len(ids))
	storeRows, err := q.QueryContext(ctx, `SELECT seq FROM stores WHERE compartment = ? AND id IN (`+in+`)`, args...)
	if err != nil {
		return candidateSet{}, fmt.Errorf("stores: %w", err)
	}
	stores, err := scanIDs(storeRows)
	if err != nil {
		return candidateSet{}, fmt.Errorf("stores: %w", err)
	}
	if len(stores) != len(ids) {
		return candidateSet{}, ErrNotFound
	}
	storesJSON, err := json.Marshal(stores)
	if err != nil {
		return candidateSet{}, err
	}
	query := `SELECT sf.seq FROM store_files sf JOIN stores s ON s.seq = sf.store_seq
		WHERE s.compartment = ? AND s.id IN (` + in + `) AND sf.status = 'completed'`
	if p.Filter != nil {
		cond, fargs := p.Filter.sql()
		query += " AND (" + cond + ")"
		args = append(args, fargs...)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return candidateSet{}, fmt.Errorf("candidate files: %w", err)
	}
	files, err := scanIDs(rows)
	if err != nil {
		return candidateSet{}, fmt.Errorf("candidate files: %w", err)
	}
	if files == nil {
		files = []int64{}
	}
	filesJSON, err := json.Marshal(files)
	if err != nil {
		return candidateSet{}, err
	}
	return candidateSet{files: string(filesJSON), n: len(files), stores: string(storesJSON),
		filtered: p.Filter != nil}, nil
}

// knn ranks the compartment's candidate chunks by distance (L2 on unit
// vectors, the cosine order). The
// partition constraint makes vec0 scan only the compartment's vectors,
// and the IN on the store_file metadata column is applied by vec0 during
// that scan, before it keeps the k nearest (sqlite-vec v0.1.6 supports
// metadata constraints, IN among them, in KNN queries); so the k nearest
// are the k nearest candidates, not a global top-k filtered afterwards.
//
// The candidate constraint is on a metadata column, exact either way:
//   - store IN (the requested stores, at most 16) when no filter was
//     given: every completed file of those stores is a candidate, and
//     only completed files have chunks (IndexFile commits chunks and
//     status together; failing or detaching a file deletes its chunks);
//   - else store_file IN (the candidate files). sqlite-vec v0.1.6 checks
//     it by walking the list for each row: cheap for tens of files (80
//     cost nothing measurable over 100,000 rows), linear in their number.
//
// Not chunk_id IN (the candidates' chunks), which sqlite-vec also
// accepts: v0.1.6 sorts that list with a comparator that truncates the
// 64-bit difference of two rowids to an int, so with our random 63-bit
// chunk ids the binary search misses rows (found here by
// TestManyCandidateFiles).
func (d *DB) knn(ctx context.Context, q querier, sc scope, vec []byte, c candidateSet, k int) ([]int64, error) {
	constraint, arg := `store IN (SELECT value FROM json_each(?))`, c.stores
	if c.filtered {
		constraint, arg = `store_file IN (SELECT value FROM json_each(?))`, c.files
	}
	rows, err := q.QueryContext(ctx, `SELECT chunk_id FROM chunk_vec
		WHERE embedding MATCH ? AND k = ? AND compartment = ? AND `+constraint+`
		ORDER BY distance`, vec, k, sc.hash, arg)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// keywords ranks the compartment's candidate chunks by BM25 on the query
// terms, in the compartment's own word index; the candidate constraint
// is in the same WHERE, applied before the ORDER BY and LIMIT.
func (d *DB) keywords(ctx context.Context, q querier, sc scope, terms []string, c candidateSet, k int) ([]int64, error) {
	ok, err := hasFTS(ctx, q, sc)
	if err != nil || !ok {
		return nil, err
	}
	quoted := make([]string, len(terms))
	for i, t := range terms {
		quoted[i] = `"` + t + `"` // terms hold no quote: see queryTerms
	}
	table := sc.ftsTable()
	rows, err := q.QueryContext(ctx, `SELECT `+table+`.rowid FROM `+table+`
		JOIN chunks c ON c.id = `+table+`.rowid
		WHERE `+table+` MATCH ? AND c.store_file IN (SELECT value FROM json_each(?))
		ORDER BY bm25(`+table+`) LIMIT ?`, strings.Join(quoted, " OR "), c.files, k)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// queryTerms splits a query into the words FTS5's unicode61 tokenizer
// would see (runs of its default token characters: letters, numbers and
// private-use characters), at most maxQueryTerms distinct
// ones; the query's own syntax (quotes, operators, column filters) is
// thereby never passed to FTS5.
func queryTerms(q string) []string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Co, r) })
	seen := map[string]bool{}
	var terms []string
	for _, w := range words {
		w = strings.ToLower(w)
		if seen[w] {
			continue
		}
		seen[w] = true
		terms = append(terms, w)
		if len(terms) == maxQueryTerms {
			break
		}
	}
	return terms
}

// loadChunks reads the results' details, again restricted to the
// compartment and the candidate store files: the rankings did that
// already, and this keeps it so should one of them ever stop doing it.
func (d *DB) loadChunks(ctx context.Context, q querier, sc scope, ids []int64, c candidateSet) (map[int64]SearchResult, error) {
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT c.id, c.text, f.id, f.filename, s.id, sf.attributes
		FROM chunks c JOIN store_files sf ON sf.seq = c.store_file
		JOIN stores s ON s.seq = sf.store_seq JOIN files f ON f.seq = sf.file_seq
		WHERE c.id IN (SELECT value FROM json_each(?)) AND s.compartment = ?
		AND c.store_file IN (SELECT value FROM json_each(?))`, string(list), sc.key, c.files)
	if err != nil {
		return nil, fmt.Errorf("load chunks: %w", err)
	}
	defer rows.Close()
	results := make(map[int64]SearchResult, len(ids))
	for rows.Next() {
		var r SearchResult
		var id int64
		var attrs string
		if err := rows.Scan(&id, &r.Text, &r.FileID, &r.Filename, &r.StoreID, &attrs); err != nil {
			return nil, fmt.Errorf("load chunks: %w", err)
		}
		if err := json.Unmarshal([]byte(attrs), &r.Attributes); err != nil {
			return nil, fmt.Errorf("load chunks: attributes: %w", err)
		}
		r.ChunkID = chunkID(id)
		results[id] = r
	}
	return results, rows.Err()
}

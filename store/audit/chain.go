package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"time"
)

// The chain: hash(row n) = HMAC-SHA256(key, canonical(hash(row n-1), row n)),
// starting from 32 zero bytes, or from the checkpoint's hash once rows have
// been purged. The key lives outside the database, so someone who can write
// the file but not read the key cannot recompute the chain after an edit.

// Domain strings keep a row's MAC from ever equalling a checkpoint's.
const (
	rowDomain        = "warden audit row v1"
	checkpointDomain = "warden audit checkpoint v1"
)

// canon writes an unambiguous encoding into a MAC: integers as 8 bytes
// big-endian, strings and bytes prefixed by their length, NULL as length -1.
type canon struct {
	h hash.Hash
	n [8]byte
}

func newCanon(key []byte, domain string) *canon {
	c := &canon{h: hmac.New(sha256.New, key)}
	c.str(domain)
	return c
}

func (c *canon) int(v int64) {
	binary.BigEndian.PutUint64(c.n[:], uint64(v))
	c.h.Write(c.n[:])
}

func (c *canon) str(s string) {
	c.int(int64(len(s)))
	io.WriteString(c.h, s)
}

func (c *canon) bytes(b []byte) {
	c.int(int64(len(b)))
	c.h.Write(b)
}

func (c *canon) nullStr(s sql.NullString) {
	if !s.Valid {
		c.int(-1)
		return
	}
	c.str(s.String)
}

func (c *canon) sum() []byte { return c.h.Sum(nil) }

// sum is the MAC of r chained after prev. Every stored column but the
// hashes themselves is covered, in the order of columns.
func (r *row) sum(key, prev []byte) []byte {
	c := newCanon(key, rowDomain)
	c.bytes(prev)
	c.int(r.id)
	c.int(r.timeUS)
	c.str(r.kind)
	c.str(r.requestID)
	c.str(r.subject)
	c.str(r.roles)
	c.str(r.clientAddr)
	c.str(r.method)
	c.str(r.endpoint)
	c.str(r.model)
	c.str(r.modelSHA256)
	c.int(r.status)
	c.str(r.errorType)
	c.int(r.promptTokens)
	c.int(r.completionTokens)
	c.int(r.queueUS)
	c.int(r.ttftUS)
	c.int(r.totalUS)
	c.str(r.finishReason)
	c.str(r.action)
	c.str(r.detail)
	c.str(r.textPolicy)
	c.nullStr(r.prompt)
	c.nullStr(r.response)
	return c.sum()
}

// link is a position in the chain: a row id and its hash.
type link struct {
	id   int64
	hash []byte
}

var genesis = link{id: 0, hash: make([]byte, sha256.Size)}

// checkpoint marks where the chain starts after a purge.
type checkpoint struct {
	lastID   int64
	lastHash []byte
	timeUS   int64
	mac      []byte
}

func (cp *checkpoint) sum(key []byte) []byte {
	c := newCanon(key, checkpointDomain)
	c.int(cp.lastID)
	c.bytes(cp.lastHash)
	c.int(cp.timeUS)
	return c.sum()
}

// querier is what chain walking needs: a transaction or a database.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func readCheckpoint(ctx context.Context, q querier) (*checkpoint, error) {
	var cp checkpoint
	err := q.QueryRowContext(ctx, `SELECT last_id, last_hash, time_us, mac FROM checkpoint`).
		Scan(&cp.lastID, &cp.lastHash, &cp.timeUS, &cp.mac)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoint: %w", err)
	}
	return &cp, nil
}

// tail is the last link of the chain, where the next row attaches.
func tail(ctx context.Context, q querier) (link, error) {
	var l link
	err := q.QueryRowContext(ctx, `SELECT id, hash FROM records ORDER BY id DESC LIMIT 1`).Scan(&l.id, &l.hash)
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return link{}, fmt.Errorf("read audit chain tail: %w", err)
	}
	cp, err := readCheckpoint(ctx, q)
	if err != nil || cp == nil {
		return genesis, err
	}
	return link{id: cp.lastID, hash: cp.lastHash}, nil
}

// appendRows chains rows after last, the tail the caller read inside tx,
// inserts them and returns the new tail. Reading the tail inside the
// caller's transaction keeps the chain right even if another process
// wrote in between.
func appendRows(ctx context.Context, tx querier, key []byte, last link, rows []*row) (link, error) {
	for _, r := range rows {
		r.id = last.id + 1
		r.prevHash = last.hash
		r.hash = r.sum(key, last.hash)
		if _, err := tx.ExecContext(ctx, insertRow, r.args()...); err != nil {
			return link{}, fmt.Errorf("insert audit row %d: %w", r.id, err)
		}
		last = link{id: r.id, hash: r.hash}
	}
	return last, nil
}

// checkKey refuses a key that does not produce the stored chain, so that
// a wrong key file is found at startup instead of at the next audit.
func checkKey(ctx context.Context, q querier, key []byte) error {
	var r row
	err := q.QueryRowContext(ctx, `SELECT `+columns+` FROM records ORDER BY id DESC LIMIT 1`).Scan(r.fields()...)
	switch {
	case err == nil:
		if !hmac.Equal(r.sum(key, r.prevHash), r.hash) {
			return fmt.Errorf("audit key does not match the log: row %d does not verify (wrong key file, or the row was altered: run verify)", r.id)
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("read last audit row: %w", err)
	}
	cp, err := readCheckpoint(ctx, q)
	if err != nil {
		return err
	}
	if cp != nil && !hmac.Equal(cp.sum(key), cp.mac) {
		return errors.New("audit key does not match the log: the purge checkpoint does not verify (wrong key file, or it was altered)")
	}
	return nil
}

// Problem names how the chain is broken.
type Problem string

const (
	ProblemEdited     Problem = "edited"         // the row's contents changed after it was written
	ProblemMissing    Problem = "missing"        // rows were deleted: ids jump
	ProblemReordered  Problem = "reordered"      // the row does not link to its predecessor: moved or replaced
	ProblemBadHash    Problem = "bad hash"       // the stored hash was altered, the contents were not
	ProblemInserted   Problem = "inserted"       // a row where the chain has none (before the checkpoint)
	ProblemCheckpoint Problem = "bad checkpoint" // the purge checkpoint was altered

	// The head file (see HeadPath) against the database:
	ProblemTruncated    Problem = "truncated"     // rows the head file records are gone from the tail
	ProblemHeadMismatch Problem = "head mismatch" // the row the head records carries another hash: rows replaced
	ProblemBadHead      Problem = "bad head"      // the head file was altered or is not a head
	ProblemNoHead       Problem = "no head"       // the head file is missing
)

// Break is the first place where the chain does not hold.
type Break struct {
	// ID is the row concerned: for ProblemMissing and ProblemTruncated
	// the first missing id; for the head's problems the id it records.
	ID      int64
	Problem Problem
	Detail  string
	Missing int64 // ProblemMissing and ProblemTruncated: how many rows are gone
}

// Checkpoint is where the chain starts after a purge.
type Checkpoint struct {
	LastID   int64  // the last purged row
	LastHash []byte // its hash
	PurgedAt time.Time
}

// Report is the outcome of Verify.
type Report struct {
	Rows       int64 // rows checked and found in place
	FirstID    int64
	LastID     int64  // the last good row: LastID and LastHash, copied off the
	LastHash   []byte // machine, catch a later truncation even with the head file
	Checkpoint *Checkpoint
	Head       *Head  // the head file the log was compared with
	Broken     *Break // the first problem; nil when the chain holds
}

// OK reports whether the chain holds.
func (r Report) OK() bool { return r.Broken == nil }

func (r Report) String() string {
	s := fmt.Sprintf("%d rows, ids %d to %d, last hash %x", r.Rows, r.FirstID, r.LastID, r.LastHash)
	if r.Checkpoint != nil {
		s += fmt.Sprintf(", purged up to row %d on %s", r.Checkpoint.LastID, r.Checkpoint.PurgedAt.Format(time.RFC3339))
	}
	if r.Head != nil && r.Broken == nil {
		s += fmt.Sprintf(", head file at row %d written %s", r.Head.LastID, r.Head.WrittenAt.Format(time.RFC3339))
	}
	if r.Broken != nil {
		return fmt.Sprintf("BROKEN at row %d (%s): %s; before it: %s", r.Broken.ID, r.Broken.Problem, r.Broken.Detail, s)
	}
	return "ok: " + s
}

type walkResult struct {
	rows   int64
	first  int64
	last   link
	broken *Break
}

// walk checks the rows with id <= upto, streaming them in id order, from
// start. It stops at the first break.
func walk(ctx context.Context, q querier, key []byte, start link, upto int64) (walkResult, error) {
	res := walkResult{last: start}
	rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM records WHERE id <= ? ORDER BY id`, upto)
	if err != nil {
		return res, fmt.Errorf("read audit rows: %w", err)
	}
	defer rows.Close()
	var (
		r    row
		want []byte // set when r's MAC does not match
	)
	for rows.Next() {
		if err := rows.Scan(r.fields()...); err != nil {
			return res, fmt.Errorf("read audit row after %d: %w", res.last.id, err)
		}
		next := res.last.id + 1
		switch {
		case r.id < next:
			res.broken = &Break{ID: r.id, Problem: ProblemInserted,
				Detail: fmt.Sprintf("row %d precedes the start of the chain at row %d", r.id, next)}
		case r.id > next:
			res.broken = &Break{ID: next, Problem: ProblemMissing, Missing: r.id - next,
				Detail: fmt.Sprintf("rows %d to %d are missing", next, r.id-1)}
		default:
			if sum := r.sum(key, res.last.hash); !hmac.Equal(sum, r.hash) {
				want = sum
			}
		}
		if res.broken != nil || want != nil {
			break
		}
		if res.rows == 0 {
			res.first = r.id
		}
		res.rows++
		res.last = link{id: r.id, hash: r.hash}
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("read audit rows: %w", err)
	}
	if want != nil {
		rows.Close()
		res.broken, err = diagnose(ctx, q, &r, res.last.hash, want)
	}
	return res, err
}

// diagnose says why r, chained after prev, does not carry the hash want.
func diagnose(ctx context.Context, q querier, r *row, prev, want []byte) (*Break, error) {
	if !bytes.Equal(r.prevHash, prev) {
		return &Break{ID: r.id, Problem: ProblemReordered,
			Detail: fmt.Sprintf("row %d does not link to row %d: moved here, or replaced", r.id, r.id-1)}, nil
	}
	// The successor still links to the hash the contents should have:
	// only the stored hash was changed.
	var succ []byte
	err := q.QueryRowContext(ctx, `SELECT prev_hash FROM records WHERE id = ?`, r.id+1).Scan(&succ)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read audit row %d: %w", r.id+1, err)
	}
	if err == nil && hmac.Equal(succ, want) {
		return &Break{ID: r.id, Problem: ProblemBadHash,
			Detail: "the stored hash was altered; the contents match the chain"}, nil
	}
	return &Break{ID: r.id, Problem: ProblemEdited,
		Detail: "the contents do not match the hash written with them"}, nil
}

// chainStart is where verification begins: the checkpoint if any, checked
// against the key, else the genesis link.
func chainStart(ctx context.Context, q querier, key []byte) (link, *Checkpoint, *Break, error) {
	cp, err := readCheckpoint(ctx, q)
	if err != nil || cp == nil {
		return genesis, nil, nil, err
	}
	out := &Checkpoint{LastID: cp.lastID, LastHash: cp.lastHash, PurgedAt: time.UnixMicro(cp.timeUS).UTC()}
	if !hmac.Equal(cp.sum(key), cp.mac) {
		return link{}, out, &Break{ID: cp.lastID, Problem: ProblemCheckpoint,
			Detail: "the purge checkpoint does not match its MAC"}, nil
	}
	return link{id: cp.lastID, hash: cp.lastHash}, out, nil, nil
}

// headCopy is a head file kept elsewhere, and where it was read.
type headCopy struct {
	path string
	head *Head
}

// verify walks the whole chain in one read transaction, so that a
// concurrent purge or append cannot make it look broken, then compares
// its end with the head file at headPath, and with copies, heads kept
// elsewhere, each named by its path.
func verify(ctx context.Context, db *sql.DB, key []byte, headPath string, copies []headCopy) (Report, error) {
	if len(key) == 0 {
		return Report{}, errors.New("verify audit log: no key")
	}
	// The head is read before the snapshot is taken: the writer writes a
	// head only once what it describes is committed, so a head read first
	// never records rows the snapshot lacks. Copies are older still.
	h, badHead, err := loadHead(headPath, key)
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	defer tx.Rollback()
	start, cp, broken, err := chainStart(ctx, tx, key)
	if err != nil || broken != nil {
		return Report{Checkpoint: cp, Broken: broken}, err
	}
	w, err := walk(ctx, tx, key, start, math.MaxInt64)
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	rep := Report{Rows: w.rows, FirstID: w.first, LastID: w.last.id, LastHash: w.last.hash,
		Checkpoint: cp, Head: h, Broken: w.broken}
	if rep.Broken != nil {
		return rep, nil
	}
	if rep.Broken = badHead; badHead == nil {
		rep.Broken, err = checkHead(ctx, tx, headPath, h, w.last)
	}
	for _, c := range copies {
		if rep.Broken != nil || err != nil {
			break
		}
		rep.Broken, err = compareHead(ctx, tx, c.head, "the head copy "+c.path, w.last)
	}
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	return rep, nil
}

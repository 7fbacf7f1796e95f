package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The head file anchors the end of the chain outside the database. The
// chain alone shows rows edited, moved or deleted in the middle, but a
// shorter chain is still a chain: deleting the last rows, or all of them,
// leaves nothing to compare with. The writer therefore records the last
// link it committed (id and hash, MAC'd with the key) in a file beside the
// database after every commit, and Verify and Open compare the database
// with it.
//
// Order is what makes this sound: the writer commits a batch (durably,
// synchronous=FULL) before it writes the head describing it, and writes
// the head atomically (temporary file, fsync, rename, directory fsync). A
// crash can therefore leave a head that lags the database, never one ahead
// of it. Rows beyond the head are accepted when they chain correctly, as
// any row must; a head beyond the database is a truncated tail.

const (
	headDomain = "warden audit head v1"
	headFormat = "warden audit head v1"
)

// ErrHead means the database does not match its head file: its tail was
// deleted, the head file is missing or altered, or the chain was replaced.
// Open refuses such a log; Reanchor is the explicit way past it.
var ErrHead = errors.New("audit log does not match its head file")

// HeadPath is where the head file of the audit database at dbPath lives:
// beside it, named after it ("audit.db" has "audit.head").
func HeadPath(dbPath string) string {
	return strings.TrimSuffix(dbPath, filepath.Ext(dbPath)) + ".head"
}

// Head is the last link of the chain as recorded outside the database.
type Head struct {
	LastID    int64  // the last row committed when the head was written
	LastHash  []byte // its hash (the checkpoint's, or 32 zero bytes, when no row is left)
	WrittenAt time.Time
}

func (h *Head) link() link { return link{id: h.LastID, hash: h.LastHash} }

func (h *Head) sum(key []byte) []byte {
	c := newCanon(key, headDomain)
	c.int(h.LastID)
	c.bytes(h.LastHash)
	c.int(h.WrittenAt.UnixMicro())
	return c.sum()
}

// headFile is the head as stored: JSON, so that an operator can read it
// and copy it elsewhere.
type headFile struct {
	Format    string `json:"format"`
	LastID    int64  `json:"last_id"`
	LastHash  string `json:"last_hash"`  // hex
	WrittenAt string `json:"written_at"` // RFC 3339, microseconds, UTC
	MAC       string `json:"mac"`        // hex HMAC-SHA256 over the three fields above
}

const headTime = "2006-01-02T15:04:05.000000Z07:00"

// writeHead records l as the chain's head in path, atomically: readers see
// the old head or the new one, never a partial file.
func writeHead(path string, key []byte, l link, now time.Time) (*Head, error) {
	h := &Head{LastID: l.id, LastHash: l.hash, WrittenAt: now.UTC().Truncate(time.Microsecond)}
	data, err := json.Marshal(headFile{
		Format: headFormat, LastID: h.LastID, LastHash: hex.EncodeToString(h.LastHash),
		WrittenAt: h.WrittenAt.Format(headTime), MAC: hex.EncodeToString(h.sum(key)),
	})
	if err != nil {
		return nil, fmt.Errorf("write audit head: %w", err)
	}
	if err := replaceFile(path, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("write audit head: %w", err)
	}
	return h, nil
}

// replaceFile puts data at path through a temporary file: fsync, rename,
// then fsync the directory so that the rename itself survives a crash.
func replaceFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails once renamed: nothing left to remove
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// removeHeadTemps removes the temporary files a crash left before their
// rename. Only a writer calls it, at Open, before it writes any head.
func removeHeadTemps(path string) error {
	tmps, err := filepath.Glob(path + ".tmp-*")
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	for _, t := range tmps {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("audit head: %w", err)
		}
	}
	return nil
}

// loadHead reads the head file at path. It returns (nil, nil, nil) when
// there is none, and a Break when there is one that does not verify.
func loadHead(path string, key []byte) (*Head, *Break, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read audit head: %w", err)
	}
	h, mac, err := parseHead(data)
	if err != nil {
		// Written atomically and synced, a head is never half there:
		// a file that does not parse was altered.
		return nil, &Break{Problem: ProblemBadHead,
			Detail: fmt.Sprintf("the head file %s cannot be read as a head: %v", path, err)}, nil
	}
	if !hmac.Equal(h.sum(key), mac) {
		return nil, &Break{ID: h.LastID, Problem: ProblemBadHead,
			Detail: fmt.Sprintf("the head file %s does not match its MAC (altered, or written under another key)", path)}, nil
	}
	return h, nil, nil
}

func parseHead(data []byte) (*Head, []byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f headFile
	if err := dec.Decode(&f); err != nil {
		return nil, nil, err
	}
	if f.Format != headFormat {
		return nil, nil, fmt.Errorf("format %q, want %q", f.Format, headFormat)
	}
	hash, err := hex.DecodeString(f.LastHash)
	if err != nil {
		return nil, nil, fmt.Errorf("last_hash: %w", err)
	}
	at, err := time.Parse(headTime, f.WrittenAt)
	if err != nil {
		return nil, nil, fmt.Errorf("written_at: %w", err)
	}
	mac, err := hex.DecodeString(f.MAC)
	if err != nil {
		return nil, nil, fmt.Errorf("mac: %w", err)
	}
	return &Head{LastID: f.LastID, LastHash: hash, WrittenAt: at.UTC()}, mac, nil
}

// compareHead checks that the chain, which ends at end, still passes
// through the head's link; name says which head it is in messages.
func compareHead(ctx context.Context, q querier, h *Head, name string, end link) (*Break, error) {
	what := fmt.Sprintf("%s (written %s) records", name, h.WrittenAt.Format(time.RFC3339))
	return compareAnchor(ctx, q, h.link(), what, end)
}

// ownHead names the log's own head file in messages.
const ownHead = "the head file"

// compareAnchor checks that the chain, which ends at end, still passes
// through a, a link known to have been committed; what names where a
// comes from, as the subject of "records id N".
func compareAnchor(ctx context.Context, q querier, a link, what string, end link) (*Break, error) {
	if a.id > end.id {
		n := a.id - end.id
		return &Break{ID: end.id + 1, Problem: ProblemTruncated, Missing: n,
			Detail: fmt.Sprintf("the log ends at id %d but %s id %d: %d records missing from the tail",
				end.id, what, a.id, n)}, nil
	}
	held, err := holds(ctx, q, a)
	if err != nil || held {
		return nil, err
	}
	return &Break{ID: a.id, Problem: ProblemHeadMismatch,
		Detail: fmt.Sprintf("%s another hash for row %d: the rows from there on were replaced", what, a.id)}, nil
}

// holds reports whether the chain in q passes through l: row l.id carries
// l.hash, or the chain starts at l. A link purged away (before the
// checkpoint) holds: purge deletes only rows that verify, and Verify
// checks the checkpoint's MAC.
func holds(ctx context.Context, q querier, l link) (bool, error) {
	var hash []byte
	err := q.QueryRowContext(ctx, `SELECT hash FROM records WHERE id = ?`, l.id).Scan(&hash)
	if err == nil {
		return hmac.Equal(hash, l.hash), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("read audit row %d: %w", l.id, err)
	}
	cp, err := readCheckpoint(ctx, q)
	if err != nil {
		return false, err
	}
	start := genesis
	if cp != nil {
		start = link{id: cp.lastID, hash: cp.lastHash}
	}
	switch {
	case l.id < start.id:
		return true, nil
	case l.id == start.id:
		return hmac.Equal(l.hash, start.hash), nil
	}
	return false, nil // a row the chain should hold is gone
}

// unanchored reports whether the log predates head files: migration 2
// marks it so, and the first Open that writes a head clears the mark.
// Only then may a missing head file be created rather than refused.
func unanchored(ctx context.Context, q querier) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM unanchored`).Scan(&n); err != nil {
		return false, fmt.Errorf("read audit anchor mark: %w", err)
	}
	return n > 0, nil
}

// noHead is the Break for a log without a head file. pending says the log
// is marked as predating head files (see unanchored).
func noHead(path string, pending bool) *Break {
	detail := fmt.Sprintf("the head file %s is missing although the log has been anchored: deleting it could hide a truncated tail", path)
	if pending {
		detail = fmt.Sprintf("the head file %s is missing and the log is marked as never anchored: "+
			"either the server stopped while anchoring it for the first time, or the mark was written to hide a truncated tail", path)
	}
	return &Break{Problem: ProblemNoHead, Detail: detail}
}

// checkHead compares the log in q, ending at end, with h, the head read
// from path (nil if there was none; a missing head is a Break too).
func checkHead(ctx context.Context, q querier, path string, h *Head, end link) (*Break, error) {
	if h != nil {
		return compareHead(ctx, q, h, ownHead, end)
	}
	pending, err := unanchored(ctx, q)
	if err != nil {
		return nil, err
	}
	return noHead(path, pending), nil
}

package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/store/redact"
)

func TestRevocationsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := dir.OpenRevocations(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Revoked(ctx, "abc"); err != nil || got {
		t.Fatalf("Revoked(abc) before revocation = %v, %v", got, err)
	}
	at := time.Unix(1_800_000_000, 0)
	for range 2 { // a second revocation of the same id is harmless
		if err := r.Revoke(ctx, Revocation{TokenID: "abc", RevokedAt: at, RevokedBy: "cli", Reason: "lost laptop"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Revoke(ctx, Revocation{}); err == nil {
		t.Error("Revoke accepted an empty token id")
	}
	r.Close()

	// A second handle, as the CLI and the server each hold one.
	r2, err := dir.OpenRevocations(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got, err := r2.Revoked(ctx, "abc"); err != nil || !got {
		t.Fatalf("Revoked(abc) after reopen = %v, %v", got, err)
	}
	if got, _ := r2.Revoked(ctx, "abd"); got {
		t.Error("an unrelated id reads as revoked")
	}
	list, err := r2.List(ctx)
	if err != nil || len(list) != 1 || list[0].Reason != "lost laptop" || !list[0].RevokedAt.Equal(at) {
		t.Fatalf("List = %+v, %v", list, err)
	}
	info, err := os.Stat(filepath.Join(dir.path, "revocations.db"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("database mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
}

func TestOpenSQLiteRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	two := []string{"CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"}
	db, err := OpenSQLite(ctx, path, SyncNormal, two)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
		t.Fatalf("user_version = %d, %v; want 2", v, err)
	}
	db.Close()
	_, err = OpenSQLite(ctx, path, SyncNormal, two[:1])
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer schema with fewer migrations: err = %v", err)
	}
	if _, err := OpenSQLite(ctx, path, "OFF", two); err == nil {
		t.Error("synchronous=OFF was accepted")
	}
}

// TestOpenSQLiteOddPaths: characters that mean something in a URI must
// still name the file they spell.
func TestOpenSQLiteOddPaths(t *testing.T) {
	for _, name := range []string{"a#b", "a?b=c", "100%", "sp ace"} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "x.db")
		db, err := OpenSQLite(context.Background(), path, SyncNormal, []string{"CREATE TABLE t (x INTEGER)"})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		db.Close()
		// OpenSQLite creates the file empty before SQLite opens it, so
		// only a database written there has a size.
		if info, err := os.Stat(path); err != nil || info.Size() == 0 {
			t.Fatalf("%q: the database is not where asked (%v)", name, err)
		}
	}
}

// TestUnauditedRevocations: revocations made without an audit record are
// listed until marked, and a database of the first schema version has its
// command-line revocations listed and the others not.
func TestUnauditedRevocations(t *testing.T) {
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A revocation list as the first schema version left it.
	path := filepath.Join(dir.path, "revocations.db")
	old, err := OpenSQLite(ctx, path, SyncFull, revocationsSchema[:1])
	if err != nil {
		t.Fatal(err)
	}
	_, err = old.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, revoked_at, revoked_by, reason) VALUES
		('by-cli', 1, 'cli:root', ''), ('by-admin', 2, 'ops', '')`)
	old.Close()
	if err != nil {
		t.Fatal(err)
	}

	r, err := dir.OpenRevocations(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := time.Unix(1_800_000_000, 0)
	for _, rev := range []Revocation{
		{TokenID: "cli-new", RevokedAt: now, RevokedBy: "cli:alice"},
		{TokenID: "admin-new", RevokedAt: now, RevokedBy: "ops", Audited: true},
	} {
		if err := r.Revoke(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		t.Helper()
		list, err := r.Unaudited(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rev := range list {
			if rev.Audited {
				t.Errorf("Unaudited listed %s as audited", rev.TokenID)
			}
			ids = append(ids, rev.TokenID)
		}
		return ids
	}
	if got := strings.Join(ids(), " "); got != "by-cli cli-new" {
		t.Fatalf("unaudited: %q, want %q", got, "by-cli cli-new")
	}
	if err := r.MarkAudited(ctx, "by-cli"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(), " "); got != "cli-new" {
		t.Fatalf("after marking by-cli, unaudited: %q", got)
	}
}

// TestRevocationReasonsAreRedacted: a reason's personal data never reaches
// the file, whether it comes through Revoke or was stored raw before
// reasons were redacted (it is redacted when the list is next opened).
func TestRevocationReasonsAreRedacted(t *testing.T) {
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const email, card = "jane.roe@example.com", "4111111111111111"
	onDisk := func() bool {
		t.Helper()
		for _, suffix := range []string{"", "-wal"} {
			data, err := os.ReadFile(filepath.Join(dir.path, "revocations.db"+suffix))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if strings.Contains(string(data), email) || strings.Contains(string(data), card) {
				return true
			}
		}
		return false
	}
	r, err := dir.OpenRevocations(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	reason := "laptop of " + email + ", card " + card
	if err := r.Revoke(ctx, Revocation{TokenID: "new", RevokedAt: time.Now(), RevokedBy: "cli:x", Reason: reason}); err != nil {
		t.Fatal(err)
	}
	if list, err := r.List(ctx); err != nil || len(list) != 1 || list[0].Reason != "laptop of [EMAIL], card [CARD]" {
		t.Fatalf("List after Revoke = %+v, %v; want the reason redacted", list, err)
	}
	if onDisk() {
		t.Fatal("Revoke wrote the reason's personal data to the file")
	}

	// A row as an older version stored it: the text shrinks a lot when
	// redacted, so without secure_delete much of it would stay behind in
	// the page's free space.
	old := strings.Repeat(email+" ", 10) + card
	if _, err := r.db.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, revoked_at, revoked_by, reason) VALUES ('old', 1, 'cli:x', ?)`, old); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r, err = dir.OpenRevocations(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := r.List(ctx)
	r.Close()
	if err != nil || len(list) != 2 || list[0].TokenID != "old" || list[0].Reason != strings.Repeat("[EMAIL] ", 10)+"[CARD]" {
		t.Fatalf("List after reopen = %+v, %v; want the old reason redacted", list, err)
	}
	if onDisk() {
		t.Error("the old reason's personal data is still in the file after it was redacted")
	}
}

// The operator's own words and patterns reach revocation reasons, beside
// the built-in rules, and the reasons already stored when the list is
// opened with them.
func TestRevocationReasonsTakeTheOperatorsRules(t *testing.T) {
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dir.OpenRevocations(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Revoke(ctx, Revocation{TokenID: "old", RevokedAt: time.Now(), RevokedBy: "ops", Reason: "Marie Curie left"}); err != nil {
		t.Fatal(err)
	}
	plain.Close()

	rules := redact.New(redact.Options{Words: []string{"Marie Curie"}})
	r, err := dir.OpenRevocations(ctx, rules)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Revoke(ctx, Revocation{TokenID: "new", RevokedAt: time.Now(), RevokedBy: "ops", Reason: "laptop of marie curie, jane@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rev := range list {
		got[rev.TokenID] = rev.Reason
	}
	if got["old"] != "[NAME] left" || got["new"] != "laptop of [NAME], [EMAIL]" {
		t.Errorf("reasons stored: %q", got)
	}
}

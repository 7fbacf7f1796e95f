package docbase

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func count(t *testing.T, d *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeleteFileRemovesItsChunksEverywhere: a file in two stores is gone
// from both searches, and from every index, once deleted.
func TestDeleteFileRemovesItsChunksEverywhere(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s1 := newStore(t, d, teamA, "one")
	s2 := newStore(t, d, teamA, "two")
	near := func(i int) []float32 { return axis(0, 0.01*float32(i)) }
	gone := addDoc(t, d, teamA, s1.ID, docSpec{name: "gone.txt", texts: texts(4, "walrus fact %d"), vector: near})
	sf, err := d.AttachFile(ctx, teamA, s2.ID, gone.ID, nil, ChunkingStrategy{},
		[]ChunkInput{{Text: "walrus again", Embedding: near(0)}, {Text: "walrus more", Embedding: near(1)}})
	if err != nil || sf.Status != StatusCompleted {
		t.Fatalf("attach to the second store: %+v, %v", sf, err)
	}
	kept := addDoc(t, d, teamA, s1.ID, docSpec{name: "kept.txt", texts: texts(3, "otter fact %d"),
		vector: func(i int) []float32 { return axis(4, 0.01*float32(i)) }})

	query := SearchParams{StoreIDs: []string{s1.ID, s2.ID}, Query: "walrus otter", Embedding: near(0), MaxResults: 50}
	if got := search(t, d, teamA, query); len(got) != 9 {
		t.Fatalf("before delete: %d results, want 9", len(got))
	}
	if err := d.DeleteFile(ctx, teamA, gone.ID); err != nil {
		t.Fatal(err)
	}
	got := search(t, d, teamA, query)
	if len(got) != 3 {
		t.Fatalf("after delete: %d results, want kept.txt's 3", len(got))
	}
	for _, r := range got {
		if r.FileID != kept.ID {
			t.Fatalf("after delete, search still finds %+v", r)
		}
	}
	if got := search(t, d, teamA, SearchParams{StoreIDs: []string{s2.ID}, Query: "walrus", Embedding: near(0)}); len(got) != 0 {
		t.Fatalf("the second store still answers %d chunks of the deleted file", len(got))
	}
	for _, q := range []string{`SELECT count(*) FROM chunks`, `SELECT count(*) FROM chunk_vec`} {
		if n := count(t, d, q); n != 3 {
			t.Fatalf("%s = %d after delete, want 3", q, n)
		}
	}
	sc, _ := teamA.scope()
	if n := count(t, d, `SELECT count(*) FROM `+sc.ftsTable()+` WHERE `+sc.ftsTable()+` MATCH 'walrus'`); n != 0 {
		t.Fatalf("the word index still holds %d chunks of the deleted file", n)
	}
	if _, err := d.GetStoreFile(ctx, teamA, s2.ID, gone.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("store file of a deleted file: %v", err)
	}
	if s, err := d.GetStore(ctx, teamA, s2.ID); err != nil || s.FileCounts.Total != 0 || s.UsageBytes != 0 {
		t.Fatalf("second store after delete: %+v, %v", s, err)
	}
}

// TestAttachFailingMidwayLeavesFailed: an embedding of the wrong size in
// the third chunk leaves the store file failed, with the reason, and not
// one of its chunks in any index.
func TestAttachFailingMidwayLeavesFailed(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := newStore(t, d, teamA, "s")
	f, err := d.CreateFile(ctx, teamA, "f.txt", PurposeAssistants, "text/plain", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	chunks := []ChunkInput{
		{Text: "heron one", Embedding: axis(0, 0)},
		{Text: "heron two", Embedding: axis(1, 0)},
		{Text: "heron three", Embedding: make([]float32, testDims+1)},
	}
	_, err = d.AttachFile(ctx, teamA, s.ID, f.ID, Attributes{"k": "v"}, ChunkingStrategy{}, chunks)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("attach with a bad embedding: %v, want ErrInvalid", err)
	}
	sf, err := d.GetStoreFile(ctx, teamA, s.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sf.Status != StatusFailed || sf.LastError == nil || !strings.Contains(sf.LastError.Message, "dimensions") {
		t.Fatalf("store file after a failed attach: %+v, last error %+v", sf, sf.LastError)
	}
	for _, q := range []string{`SELECT count(*) FROM chunks`, `SELECT count(*) FROM chunk_vec`} {
		if n := count(t, d, q); n != 0 {
			t.Fatalf("%s = %d after a failed attach, want 0", q, n)
		}
	}
	if got := search(t, d, teamA, SearchParams{StoreIDs: []string{s.ID}, Query: "heron", Embedding: axis(0, 0)}); len(got) != 0 {
		t.Fatalf("search finds %d chunks of a failed file", len(got))
	}
	st, err := d.GetStore(ctx, teamA, s.ID)
	if err != nil || st.FileCounts.Failed != 1 || st.FileCounts.Completed != 0 || st.Status != "completed" {
		t.Fatalf("store after a failed attach: %+v, %v", st, err)
	}
	// A failed file is not indexed later behind the caller's back.
	if _, err := d.IndexFile(ctx, teamA, s.ID, f.ID, chunks[:1]); !errors.Is(err, ErrConflict) {
		t.Fatalf("indexing a failed file: %v, want ErrConflict", err)
	}
}

// TestInterruptedIndexingFailsAtOpen: a store file left in_progress by a
// stopped process is failed at the next Open, never completed.
func TestInterruptedIndexingFailsAtOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(ctx, dir, Options{Dimensions: testDims})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := d.CreateStore(ctx, teamA, "s", nil)
	f, _ := d.CreateFile(ctx, teamA, "f.txt", PurposeUserData, "text/plain", []byte("x"))
	if _, err := d.AddFile(ctx, teamA, s.ID, f.ID, nil, ChunkingStrategy{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.GetStore(ctx, teamA, s.ID); st.Status != StatusInProgress || st.FileCounts.InProgress != 1 {
		t.Fatalf("store while indexing: %+v", st)
	}
	d.Close()
	d, err = Open(ctx, dir, Options{Dimensions: testDims})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sf, err := d.GetStoreFile(ctx, teamA, s.ID, f.ID)
	if err != nil || sf.Status != StatusFailed || sf.LastError == nil {
		t.Fatalf("interrupted store file after reopening: %+v, %v", sf, err)
	}
}

func TestDatabaseFileMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(ctx, dir, Options{Dimensions: testDims})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	for _, p := range []string{path, path + "-wal"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", p, perm)
		}
	}
	d.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := Open(ctx, dir, Options{Dimensions: testDims}); err == nil || !strings.Contains(err.Error(), "group or others") {
		if d != nil {
			d.Close()
		}
		t.Fatalf("open of a 0644 database: %v, want a refusal", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, Options{Dimensions: testDims * 2}); err == nil || !strings.Contains(err.Error(), "dimension") {
		t.Fatalf("open with other dimensions: %v, want a refusal", err)
	}
	d, err = Open(ctx, dir, Options{Dimensions: testDims})
	if err != nil {
		t.Fatalf("reopen at 0600: %v", err)
	}
	d.Close()
}

func TestStoresAndAdmin(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s, err := d.CreateStore(ctx, teamA, "handbook", map[string]string{"owner": "hr"})
	if err != nil {
		t.Fatal(err)
	}
	name := "handbook 2"
	u, err := d.UpdateStore(ctx, teamA, s.ID, StoreUpdate{Name: &name})
	if err != nil || u.Name != name || u.Metadata["owner"] != "hr" {
		t.Fatalf("rename: %+v, %v", u, err)
	}
	u, err = d.UpdateStore(ctx, teamA, s.ID, StoreUpdate{Metadata: map[string]string{"owner": "legal"}})
	if err != nil || u.Name != name || u.Metadata["owner"] != "legal" {
		t.Fatalf("new metadata: %+v, %v", u, err)
	}
	tooMany := map[string]string{}
	for i := range 17 {
		tooMany[string(rune('a'+i))] = "x"
	}
	if _, err := d.CreateStore(ctx, teamA, "x", tooMany); !errors.Is(err, ErrInvalid) {
		t.Fatalf("17 metadata pairs: %v, want ErrInvalid", err)
	}
	sB := newStore(t, d, teamB, "b")
	addDoc(t, d, teamB, sB.ID, docSpec{name: "b.txt", texts: texts(2, "beta %d"),
		vector: func(i int) []float32 { return axis(i, 0) }})

	all, err := d.AdminListStores(ctx, ListParams{Order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Data) != 2 || all.Data[0].Compartment != teamA || all.Data[1].Compartment != teamB ||
		all.Data[1].FileCounts.Completed != 1 || all.Data[1].UsageBytes == 0 {
		t.Fatalf("admin list: %+v", all.Data)
	}
	if err := d.AdminDeleteStore(ctx, sB.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetStore(ctx, teamB, sB.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("store after admin delete: %v", err)
	}
	if n := count(t, d, `SELECT count(*) FROM chunk_vec`); n != 0 {
		t.Fatalf("%d vectors left after admin delete", n)
	}
	if err := d.AdminDeleteStore(ctx, sB.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("admin delete twice: %v", err)
	}
}

// TestQuerySyntaxIsNotFTS5Syntax: a query is words, never FTS5 syntax,
// so operators, column filters and quotes in it neither fail nor widen
// the search.
func TestQuerySyntaxIsNotFTS5Syntax(t *testing.T) {
	d := openTest(t)
	s := newStore(t, d, teamA, "s")
	addDoc(t, d, teamA, s.ID, docSpec{name: "f", texts: []string{"error ERR-4021 in module", "unrelated content"},
		vector: func(i int) []float32 { return axis(i, 0) }})
	for _, q := range []string{`"ERR-4021`, `text : err OR NEAR(4021`, `err* AND ^4021 -`, `{text}: 4021)`} {
		got := search(t, d, teamA, SearchParams{StoreIDs: []string{s.ID}, Query: q})
		if len(got) != 1 || got[0].Text != "error ERR-4021 in module" {
			t.Errorf("query %q: %+v, want the ERR-4021 chunk alone", q, got)
		}
	}
	if _, err := d.Search(context.Background(), teamA, SearchParams{StoreIDs: []string{s.ID}, Query: "+-*"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a query without words and no embedding: %v, want ErrInvalid", err)
	}
}

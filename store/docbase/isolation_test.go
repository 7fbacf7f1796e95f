package docbase

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
)

// resultKeys is what a search answered, in order: chunk ids and scores.
type resultKey struct {
	chunk string
	score float64
}

func keysOf(rs []SearchResult) []resultKey {
	out := make([]resultKey, len(rs))
	for i, r := range rs {
		out[i] = resultKey{r.ChunkID, r.Score}
	}
	return out
}

// TestVectorSearchFiltersBeforeSearch: team B's chunks are all nearer the
// query than team A's, yet A gets exactly k results, all its own, and
// exactly the same ids and scores as once B's data is gone.
func TestVectorSearchFiltersBeforeSearch(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	sA := newStore(t, d, teamA, "a")
	sB := newStore(t, d, teamB, "b")
	fA := addDoc(t, d, teamA, sA.ID, docSpec{name: "a.txt", texts: texts(6, "alpha memo %d"),
		vector: func(i int) []float32 { return axis(3, 0.05*float32(i)) }})
	fB := addDoc(t, d, teamB, sB.ID, docSpec{name: "b.txt", texts: texts(200, "beta plan %d"),
		vector: func(i int) []float32 { return axis(0, 0.001*float32(i)) }})
	query := axis(0, 0)

	own := search(t, d, teamB, SearchParams{StoreIDs: []string{sB.ID}, Embedding: query, MaxResults: 50})
	if len(own) != 50 || own[0].FileID != fB.ID {
		t.Fatalf("team B's own search: %d results, first %+v", len(own), own[0])
	}
	bChunks := map[string]bool{}
	for _, r := range own {
		bChunks[r.ChunkID] = true
	}

	for _, k := range []int{1, 4, 6} {
		got := search(t, d, teamA, SearchParams{StoreIDs: []string{sA.ID}, Embedding: query, MaxResults: k})
		if len(got) != k {
			t.Fatalf("k=%d: team A got %d results, want exactly %d", k, len(got), k)
		}
		for _, r := range got {
			if r.FileID != fA.ID || r.StoreID != sA.ID || bChunks[r.ChunkID] {
				t.Fatalf("k=%d: team A got a result not its own: %+v", k, r)
			}
		}
	}
	// All A has, however many B has nearer.
	before := search(t, d, teamA, SearchParams{StoreIDs: []string{sA.ID}, Embedding: query, MaxResults: 50})
	if len(before) != 6 {
		t.Fatalf("team A got %d results, want its 6", len(before))
	}

	// Nothing of B's shows in A's answer: without B it is the same.
	if err := d.DeleteStore(ctx, teamB, sB.ID); err != nil {
		t.Fatal(err)
	}
	after := search(t, d, teamA, SearchParams{StoreIDs: []string{sA.ID}, Embedding: query, MaxResults: 50})
	if !slices.Equal(keysOf(before), keysOf(after)) {
		t.Fatalf("team A's results depend on team B's data:\nwith B    %v\nwithout B %v", keysOf(before), keysOf(after))
	}
}

// TestKeywordSearchFiltersBeforeSearch is the same for FTS5 hits, and also
// shows that B's word statistics do not shift A's ranking: B makes
// "banana" common, which in a shared index would push A's banana chunk
// (the rarer word in A) below its cherry chunks.
func TestKeywordSearchFiltersBeforeSearch(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	sA := newStore(t, d, teamA, "a")
	sB := newStore(t, d, teamB, "b")
	far := func(i int) []float32 { return axis(5, 0.01*float32(i)) }
	fA := addDoc(t, d, teamA, sA.ID, docSpec{name: "a.txt",
		texts:  []string{"banana memo", "cherry memo", "cherry note", "zebra crossing one", "zebra crossing two"},
		vector: far})
	addDoc(t, d, teamB, sB.ID, docSpec{name: "b.txt", texts: texts(300, "banana zebra zebra banana %d"), vector: far})

	got := search(t, d, teamA, SearchParams{StoreIDs: []string{sA.ID}, Query: "zebra", MaxResults: 2})
	if len(got) != 2 {
		t.Fatalf("team A got %d keyword results, want exactly 2", len(got))
	}
	for _, r := range got {
		if r.FileID != fA.ID {
			t.Fatalf("team A got a keyword result not its own: %+v", r)
		}
	}
	before := search(t, d, teamA, SearchParams{StoreIDs: []string{sA.ID}, Query: "banana cherry", MaxResults: 10})
	if len(before) != 3 || before[0].Text != "banana memo" {
		t.Fatalf("team A's banana/cherry search: %+v, want 3 results led by its rarer word", before)
	}
	if err := d.DeleteStore(ctx, teamB, sB.ID); err != nil {
		t.Fatal(err)
	}
	after := search(t, d, teamA, SearchParams{StoreIDs: []string{sA.ID}, Query: "banana cherry", MaxResults: 10})
	if !slices.Equal(keysOf(before), keysOf(after)) {
		t.Fatalf("team A's keyword results depend on team B's data:\nwith B    %v\nwithout B %v", keysOf(before), keysOf(after))
	}
}

// TestOtherCompartmentIsNotFound: every operation given another
// compartment's id answers exactly as for an id that does not exist, and
// changes nothing.
func TestOtherCompartmentIsNotFound(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	sA := newStore(t, d, teamA, "a")
	fA := addDoc(t, d, teamA, sA.ID, docSpec{name: "a.txt", texts: texts(3, "alpha %d"),
		vector: func(i int) []float32 { return axis(i, 0) }})
	sB := newStore(t, d, teamB, "b")
	fB, err := d.CreateFile(ctx, teamB, "b.txt", PurposeAssistants, "text/plain", []byte("beta"))
	if err != nil {
		t.Fatal(err)
	}
	missingStore, _ := newID("vs_")
	missingFile, _ := newID("file-")
	name := "renamed"
	chunks := []ChunkInput{{Text: "x", Embedding: axis(0, 0)}}

	ops := map[string]func(store, file string) error{
		"GetFile":     func(_, f string) error { _, err := d.GetFile(ctx, teamB, f); return err },
		"FileContent": func(_, f string) error { _, err := d.FileContent(ctx, teamB, f); return err },
		"DeleteFile":  func(_, f string) error { return d.DeleteFile(ctx, teamB, f) },
		"ListFiles": func(_, f string) error {
			_, err := d.ListFiles(ctx, teamB, "", ListParams{After: f})
			return err
		},
		"GetStore": func(s, _ string) error { _, err := d.GetStore(ctx, teamB, s); return err },
		"UpdateStore": func(s, _ string) error {
			_, err := d.UpdateStore(ctx, teamB, s, StoreUpdate{Name: &name})
			return err
		},
		"DeleteStore": func(s, _ string) error { return d.DeleteStore(ctx, teamB, s) },
		"ListStores": func(s, _ string) error {
			_, err := d.ListStores(ctx, teamB, ListParams{Before: s})
			return err
		},
		"AddFile to own store": func(_, f string) error {
			_, err := d.AddFile(ctx, teamB, sB.ID, f, nil, ChunkingStrategy{})
			return err
		},
		"AddFile own file": func(s, _ string) error {
			_, err := d.AddFile(ctx, teamB, s, fB.ID, nil, ChunkingStrategy{})
			return err
		},
		"IndexFile": func(s, f string) error { _, err := d.IndexFile(ctx, teamB, s, f, chunks); return err },
		"FailFile":  func(s, f string) error { return d.FailFile(ctx, teamB, s, f, "server_error", "x") },
		"GetStoreFile": func(s, f string) error {
			_, err := d.GetStoreFile(ctx, teamB, s, f)
			return err
		},
		"ListStoreFiles": func(s, _ string) error {
			_, err := d.ListStoreFiles(ctx, teamB, s, "", ListParams{})
			return err
		},
		"DetachFile": func(s, f string) error { return d.DetachFile(ctx, teamB, s, f) },
		"Search": func(s, _ string) error {
			_, err := d.Search(ctx, teamB, SearchParams{StoreIDs: []string{s}, Query: "alpha", Embedding: axis(0, 0)})
			return err
		},
		"Search with own store": func(s, _ string) error {
			_, err := d.Search(ctx, teamB, SearchParams{StoreIDs: []string{sB.ID, s}, Query: "alpha"})
			return err
		},
	}
	for name, op := range ops {
		other := op(sA.ID, fA.ID)
		missing := op(missingStore, missingFile)
		if !errors.Is(other, ErrNotFound) || !errors.Is(missing, ErrNotFound) {
			t.Errorf("%s: other compartment's id: %v; missing id: %v; want ErrNotFound for both", name, other, missing)
			continue
		}
		if other.Error() != missing.Error() {
			t.Errorf("%s: other compartment's id answers %q, a missing id %q", name, other, missing)
		}
	}

	// A's things are untouched.
	if s, err := d.GetStore(ctx, teamA, sA.ID); err != nil || s.Name != "a" || s.FileCounts.Completed != 1 {
		t.Fatalf("team A's store after team B's attempts: %+v, %v", s, err)
	}
	if got := search(t, d, teamA, SearchParams{StoreIDs: []string{sA.ID}, Query: "alpha"}); len(got) != 3 {
		t.Fatalf("team A's search after team B's attempts: %d results, want 3", len(got))
	}

	// The zero compartment is no compartment at all.
	if _, err := d.ListFiles(ctx, Compartment{}, "", ListParams{}); !errors.Is(err, ErrNoCompartment) {
		t.Fatalf("zero compartment: %v, want ErrNoCompartment", err)
	}
	if _, err := d.ListFiles(ctx, Compartment{Team: "alpha", Subject: "alice"}, "", ListParams{}); !errors.Is(err, ErrNoCompartment) {
		t.Fatalf("personal compartment with a team: %v, want ErrNoCompartment", err)
	}
	// A personal compartment is not the team's, nor another subject's.
	if _, err := d.GetFile(ctx, PersonalCompartment("alpha"), fA.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("personal compartment reads a team's file: %v", err)
	}
}

func TestIDsAreRandom(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	fileID := regexp.MustCompile(`^file-[0-9a-f]{32}$`)
	storeID := regexp.MustCompile(`^vs_[0-9a-f]{32}$`)
	prefixes := map[string]bool{}
	for i := range 20 {
		f, err := d.CreateFile(ctx, teamA, "f.txt", PurposeAssistants, "text/plain", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		s := newStore(t, d, teamA, "s")
		if !fileID.MatchString(f.ID) || !storeID.MatchString(s.ID) {
			t.Fatalf("ids %q and %q do not have 128 random bits", f.ID, s.ID)
		}
		// Sequential or time-based ids would share leading digits.
		for _, p := range []string{f.ID[5:13], s.ID[3:11]} {
			if prefixes[p] {
				t.Fatalf("id %d: two ids share the prefix %s", i, p)
			}
			prefixes[p] = true
		}
	}
}

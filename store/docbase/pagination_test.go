package docbase

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func fileIDs(p Page[File]) []string {
	out := make([]string, len(p.Data))
	for i, f := range p.Data {
		out[i] = f.ID
	}
	return out
}

func TestListPagination(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	var created []string // team A's files, oldest first
	for i := range 7 {
		f, err := d.CreateFile(ctx, teamA, "a.txt", PurposeAssistants, "text/plain", []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, f.ID)
		if i%2 == 0 { // team B's files in between must not show
			if _, err := d.CreateFile(ctx, teamB, "b.txt", PurposeAssistants, "text/plain", []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	newest := slices.Clone(created)
	slices.Reverse(newest)

	list := func(p ListParams) Page[File] {
		t.Helper()
		page, err := d.ListFiles(ctx, teamA, "", p)
		if err != nil {
			t.Fatalf("ListFiles(%+v): %v", p, err)
		}
		return page
	}
	check := func(name string, page Page[File], want []string, more bool) {
		t.Helper()
		if got := fileIDs(page); !slices.Equal(got, want) || page.HasMore != more {
			t.Fatalf("%s: got %v has_more %v, want %v has_more %v", name, got, page.HasMore, want, more)
		}
		if len(want) > 0 && (page.FirstID != want[0] || page.LastID != want[len(want)-1]) {
			t.Fatalf("%s: first_id %s last_id %s", name, page.FirstID, page.LastID)
		}
	}

	check("default", list(ListParams{}), newest, false)
	p1 := list(ListParams{Limit: 3})
	check("desc page 1", p1, newest[:3], true)
	p2 := list(ListParams{Limit: 3, After: p1.LastID})
	check("desc page 2", p2, newest[3:6], true)
	check("desc page 3", list(ListParams{Limit: 3, After: p2.LastID}), newest[6:], false)
	check("desc before", list(ListParams{Limit: 2, Before: p2.FirstID}), newest[1:3], true)
	check("desc before, all", list(ListParams{Limit: 5, Before: p2.FirstID}), newest[:3], false)

	a1 := list(ListParams{Limit: 4, Order: "asc"})
	check("asc page 1", a1, created[:4], true)
	check("asc page 2", list(ListParams{Limit: 4, Order: "asc", After: a1.LastID}), created[4:], false)
	check("asc before", list(ListParams{Limit: 2, Order: "asc", Before: created[4]}), created[2:4], true)
	check("after and before", list(ListParams{After: newest[1], Before: newest[5]}), newest[2:5], false)
	check("limit 1", list(ListParams{Limit: 1}), newest[:1], true)

	for _, p := range []ListParams{{Limit: -1}, {Limit: maxListLimit + 1}, {Order: "sideways"}} {
		if _, err := d.ListFiles(ctx, teamA, "", p); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ListFiles(%+v): %v, want ErrInvalid", p, err)
		}
	}
	if page := list(ListParams{Limit: maxListLimit}); len(page.Data) != 7 {
		t.Fatalf("limit %d: %d files", maxListLimit, len(page.Data))
	}
	bFiles, err := d.ListFiles(ctx, teamB, "", ListParams{})
	if err != nil || len(bFiles.Data) != 4 {
		t.Fatalf("team B's list: %d files, %v", len(bFiles.Data), err)
	}
	if _, err := d.ListFiles(ctx, teamA, "", ListParams{After: bFiles.Data[0].ID}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a cursor from another compartment: %v, want ErrNotFound", err)
	}
}

func TestStoreFileList(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := newStore(t, d, teamA, "s")
	var ids []string
	for i := range 5 {
		f := addDoc(t, d, teamA, s.ID, docSpec{name: "f", texts: texts(1, "text %d"),
			vector: func(int) []float32 { return axis(i, 0) }})
		ids = append(ids, f.ID)
	}
	f, _ := d.CreateFile(ctx, teamA, "pending", PurposeAssistants, "text/plain", []byte("x"))
	if _, err := d.AddFile(ctx, teamA, s.ID, f.ID, nil, ChunkingStrategy{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddFile(ctx, teamA, s.ID, f.ID, nil, ChunkingStrategy{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("attaching a file twice: %v, want ErrConflict", err)
	}
	page, err := d.ListStoreFiles(ctx, teamA, s.ID, StatusCompleted, ListParams{Limit: 2, Order: "asc", After: ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != ids[2] || page.Data[1].ID != ids[3] || !page.HasMore {
		t.Fatalf("store files page: %+v", page)
	}
	page, err = d.ListStoreFiles(ctx, teamA, s.ID, StatusInProgress, ListParams{})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != f.ID || page.Data[0].Chunking.MaxChunkSizeTokens != AutoChunkTokens {
		t.Fatalf("in-progress files: %+v, %v", page, err)
	}
	if err := d.DetachFile(ctx, teamA, s.ID, ids[0]); err != nil {
		t.Fatal(err)
	}
	if got := search(t, d, teamA, SearchParams{StoreIDs: []string{s.ID}, Query: "text", MaxResults: 50}); len(got) != 4 {
		t.Fatalf("after detaching one file: %d results, want 4", len(got))
	}
	if _, err := d.GetFile(ctx, teamA, ids[0]); err != nil {
		t.Fatalf("a detached file is still a file: %v", err)
	}
}

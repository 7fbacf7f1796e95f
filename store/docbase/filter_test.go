package docbase

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestParseFilter(t *testing.T) {
	valid := []string{
		`{"type":"eq","key":"region","value":"eu"}`,
		`{"type":"ne","key":"draft","value":true}`,
		`{"type":"gte","key":"year","value":2024}`,
		`{"type":"lt","key":"name","value":"m"}`,
		`{"type":"in","key":"year","value":[2023,"2024"]}`,
		`{"type":"nin","key":"region","value":["us"]}`,
		`{"type":"and","filters":[{"type":"eq","key":"a","value":1},{"type":"or","filters":[{"type":"eq","key":"b","value":"x"}]}]}`,
	}
	for _, s := range valid {
		if _, err := ParseFilter([]byte(s)); err != nil {
			t.Errorf("ParseFilter(%s): %v", s, err)
		}
	}
	deep := `{"type":"eq","key":"a","value":1}`
	for range maxFilterDepth {
		deep = `{"type":"and","filters":[` + deep + `]}`
	}
	invalid := []string{
		`{"type":"like","key":"a","value":"x"}`,           // unknown type
		`{"type":"eq","key":"a","value":"x","extra":1}`,   // unknown field
		`{"type":"eq","key":"a"}`,                         // no value
		`{"type":"eq","value":"x"}`,                       // no key
		`{"type":"eq","key":"","value":"x"}`,              // empty key
		`{"type":"eq","key":"a","value":null}`,            // null
		`{"type":"eq","key":"a","value":{"b":1}}`,         // object
		`{"type":"eq","key":"a","value":[1]}`,             // list for eq
		`{"type":"in","key":"a","value":"x"}`,             // scalar for in
		`{"type":"in","key":"a","value":[]}`,              // empty list
		`{"type":"in","key":"a","value":[true]}`,          // boolean in a list
		`{"type":"in","key":"a","value":[[1]]}`,           // nested list
		`{"type":"gt","key":"a","value":true}`,            // ordered boolean
		`{"type":"and","filters":[]}`,                     // empty compound
		`{"type":"or","key":"a","filters":[]}`,            // key on compound
		`{"type":"eq","key":"a","value":1,"filters":[]}`,  // filters on comparison
		`{"type":"eq","key":"a","value":1} {"type":"eq"}`, // trailing data
		`[{"type":"eq","key":"a","value":1}]`,             // not an object
		`{"type":"and","filters":[{"type":"bogus"}]}`,     // bad child
		`{"type":"eq","key":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","value":1}`, // 65-char key
		deep, // too deep
	}
	for _, s := range invalid {
		if f, err := ParseFilter([]byte(s)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseFilter(%s) = %+v, %v; want ErrInvalid", s, f, err)
		}
	}
	wide := Filter{Type: "or"}
	for range maxFilterNodes {
		wide.Filters = append(wide.Filters, Filter{Type: "eq", Key: "a", Value: 1.0})
	}
	if err := wide.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("a filter of %d nodes: %v, want ErrInvalid", maxFilterNodes+1, err)
	}
}

func TestSearchFilters(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := newStore(t, d, teamA, "s")
	near := func(i int) []float32 { return axis(0, 0.01*float32(i)) }
	files := map[string]Attributes{
		"f1": {"region": "eu", "year": 2023, "draft": false},
		"f2": {"region": "us", "year": 2024.0, "draft": true},
		"f3": {"region": "eu", "year": 2025},
		"f4": nil,
	}
	ids := map[string]string{}
	for name, attrs := range files {
		f := addDoc(t, d, teamA, s.ID, docSpec{name: name, attrs: attrs, texts: []string{"shared words " + name}, vector: near})
		ids[f.ID] = name
	}
	// Team B's file has an attribute no file of A's has.
	sB := newStore(t, d, teamB, "b")
	addDoc(t, d, teamB, sB.ID, docSpec{name: "secret", attrs: Attributes{"codename": "x"}, texts: []string{"shared words"}, vector: near})

	eq := func(k string, v any) Filter { return Filter{Type: "eq", Key: k, Value: v} }
	cases := []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"eq string", eq("region", "eu"), []string{"f1", "f3"}},
		{"eq number", eq("year", 2024.0), []string{"f2"}},
		{"eq true", eq("draft", true), []string{"f2"}},
		{"eq false", eq("draft", false), []string{"f1"}},
		{"eq wrong type", eq("year", "2023"), nil},
		{"ne", Filter{Type: "ne", Key: "region", Value: "eu"}, []string{"f2", "f4"}},
		{"gt", Filter{Type: "gt", Key: "year", Value: 2023.0}, []string{"f2", "f3"}},
		{"gte", Filter{Type: "gte", Key: "year", Value: 2024.0}, []string{"f2", "f3"}},
		{"lt", Filter{Type: "lt", Key: "year", Value: 2024.0}, []string{"f1"}},
		{"lte", Filter{Type: "lte", Key: "year", Value: 2024.0}, []string{"f1", "f2"}},
		{"gt string", Filter{Type: "gt", Key: "region", Value: "f"}, []string{"f2"}},
		{"in", Filter{Type: "in", Key: "region", Value: []any{"us", "apac"}}, []string{"f2"}},
		{"in numbers", Filter{Type: "in", Key: "year", Value: []any{2023.0, 2025.0, "2024"}}, []string{"f1", "f3"}},
		{"nin", Filter{Type: "nin", Key: "region", Value: []any{"us"}}, []string{"f1", "f3", "f4"}},
		{"and", Filter{Type: "and", Filters: []Filter{eq("region", "eu"), {Type: "gte", Key: "year", Value: 2024.0}}}, []string{"f3"}},
		{"or", Filter{Type: "or", Filters: []Filter{eq("draft", true), {Type: "lt", Key: "year", Value: 2024.0}}}, []string{"f1", "f2"}},
		{"nested", Filter{Type: "and", Filters: []Filter{
			{Type: "or", Filters: []Filter{eq("region", "us"), eq("region", "eu")}},
			{Type: "ne", Key: "year", Value: 2025.0},
		}}, []string{"f1", "f2"}},
		{"other team's attribute", eq("codename", "x"), nil},
		{"other team's attribute negated", Filter{Type: "ne", Key: "codename", Value: "x"}, []string{"f1", "f2", "f3", "f4"}},
	}
	for _, c := range cases {
		for _, p := range []SearchParams{
			{StoreIDs: []string{s.ID}, Embedding: near(0), MaxResults: 50, Filter: &c.filter},
			{StoreIDs: []string{s.ID}, Query: "shared", MaxResults: 50, Filter: &c.filter},
		} {
			var got []string
			for _, r := range search(t, d, teamA, p) {
				name, ok := ids[r.FileID]
				if !ok {
					t.Fatalf("%s: a result from outside the compartment: %+v", c.name, r)
				}
				got = append(got, name)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s (query %q): got %v, want %v", c.name, p.Query, got, c.want)
			}
		}
	}
	bad := Filter{Type: "gt", Key: "draft", Value: true}
	if _, err := d.Search(ctx, teamA, SearchParams{StoreIDs: []string{s.ID}, Query: "shared", Filter: &bad}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("search with an invalid filter: %v, want ErrInvalid", err)
	}
}

// TestFilterKeepsK: the files passing the filter are far from the query
// and many others are near, yet the search returns k of them.
func TestFilterKeepsK(t *testing.T) {
	d := openTest(t)
	s := newStore(t, d, teamA, "s")
	far := func(i int) []float32 { return axis(6, 0.01*float32(i)) }
	near := func(i int) []float32 { return axis(0, 0.001*float32(i)) }
	addDoc(t, d, teamA, s.ID, docSpec{name: "hit1", attrs: Attributes{"keep": true}, texts: texts(3, "kept %d"), vector: far})
	addDoc(t, d, teamA, s.ID, docSpec{name: "hit2", attrs: Attributes{"keep": true}, texts: texts(3, "kept %d"), vector: far})
	addDoc(t, d, teamA, s.ID, docSpec{name: "miss", attrs: Attributes{"keep": false}, texts: texts(150, "dropped %d"), vector: near})
	f := Filter{Type: "eq", Key: "keep", Value: true}
	got := search(t, d, teamA, SearchParams{StoreIDs: []string{s.ID}, Embedding: near(0), MaxResults: 5, Filter: &f})
	if len(got) != 5 {
		t.Fatalf("filtered search got %d results, want 5", len(got))
	}
	for _, r := range got {
		if r.Filename == "miss" {
			t.Fatalf("filtered search returned a filtered-out file: %+v", r)
		}
	}
}

// TestManyCandidateFiles: many candidate files, with a filter (the
// store_file constraint) and without (the store constraint), the nearest
// chunks being in a filtered-out file, another store and a failed file.
func TestManyCandidateFiles(t *testing.T) {
	d := openTest(t)
	s := newStore(t, d, teamA, "s")
	other := newStore(t, d, teamA, "other")
	far := func(i int) []float32 { return axis(6, 0.01*float32(i)) }
	near := func(i int) []float32 { return axis(0, 0.001*float32(i)) }
	kept := map[string]bool{}
	for i := range 300 {
		f := addDoc(t, d, teamA, s.ID, docSpec{name: fmt.Sprint("hit", i), attrs: Attributes{"keep": true},
			texts: texts(1, "kept %d"), vector: far})
		kept[f.ID] = true
	}
	addDoc(t, d, teamA, s.ID, docSpec{name: "miss", attrs: Attributes{"keep": false}, texts: texts(50, "dropped %d"), vector: near})
	// A nearer file in another store of the same compartment.
	addDoc(t, d, teamA, other.ID, docSpec{name: "elsewhere", attrs: Attributes{"keep": true}, texts: texts(50, "kept %d"), vector: near})
	// And a failed one in the searched store.
	f, _ := d.CreateFile(context.Background(), teamA, "failed", PurposeAssistants, "text/plain", []byte("x"))
	if _, err := d.AttachFile(context.Background(), teamA, s.ID, f.ID, nil, ChunkingStrategy{},
		[]ChunkInput{{Text: "kept", Embedding: near(0)}, {Text: "bad", Embedding: []float32{1}}}); err == nil {
		t.Fatal("attach with a bad embedding succeeded")
	}

	keep := Filter{Type: "eq", Key: "keep", Value: true}
	got := search(t, d, teamA, SearchParams{StoreIDs: []string{s.ID}, Embedding: near(0), MaxResults: 10, Filter: &keep})
	if len(got) != 10 {
		t.Fatalf("filtered search over 300 files: %d results, want 10", len(got))
	}
	for _, r := range got {
		if !kept[r.FileID] {
			t.Fatalf("filtered search returned %s", r.Filename)
		}
	}
	got = search(t, d, teamA, SearchParams{StoreIDs: []string{s.ID}, Embedding: near(0), MaxResults: 50})
	if len(got) != 50 {
		t.Fatalf("unfiltered search: %d results, want 50", len(got))
	}
	for _, r := range got {
		if r.Filename != "miss" {
			t.Fatalf("unfiltered search: %s among the nearest, want only the near file of this store", r.Filename)
		}
	}
}

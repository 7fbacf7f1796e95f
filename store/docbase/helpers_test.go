package docbase

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if !fts5Built {
		fmt.Fprintln(os.Stderr, "store/docbase: these tests need SQLite's FTS5: run go test -tags sqlite_fts5 (make exports GOFLAGS=-tags=sqlite_fts5)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

const testDims = 8

var (
	teamA = TeamCompartment("alpha", "apollo")
	teamB = TeamCompartment("beta", "apollo") // same project name, other team
)

func openTest(t testing.TB) *DB {
	t.Helper()
	d, err := Open(context.Background(), t.TempDir(), Options{Dimensions: testDims})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// axis is the unit vector along dimension i, tilted by eps towards the
// next one so that vectors along the same axis still differ.
func axis(i int, eps float32) []float32 {
	v := make([]float32, testDims)
	v[i%testDims] = 1
	v[(i+1)%testDims] = eps
	norm := float32(math.Sqrt(float64(1 + eps*eps)))
	for j := range v {
		v[j] /= norm
	}
	return v
}

// docSpec is a file to upload and attach with its chunks.
type docSpec struct {
	name   string
	attrs  Attributes
	texts  []string
	vector func(i int) []float32
}

// addDoc uploads spec to store in compartment c and indexes its chunks.
func addDoc(t testing.TB, d *DB, c Compartment, storeID string, spec docSpec) File {
	t.Helper()
	ctx := context.Background()
	f, err := d.CreateFile(ctx, c, spec.name, PurposeAssistants, "text/plain", []byte(strings.Join(spec.texts, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	chunks := make([]ChunkInput, len(spec.texts))
	for i, text := range spec.texts {
		chunks[i] = ChunkInput{Text: text, Tokens: len(strings.Fields(text)), Embedding: spec.vector(i)}
	}
	sf, err := d.AttachFile(ctx, c, storeID, f.ID, spec.attrs, ChunkingStrategy{}, chunks)
	if err != nil {
		t.Fatal(err)
	}
	if sf.Status != StatusCompleted {
		t.Fatalf("attached file status %q, want completed", sf.Status)
	}
	return f
}

func newStore(t testing.TB, d *DB, c Compartment, name string) Store {
	t.Helper()
	s, err := d.CreateStore(context.Background(), c, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func texts(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

func search(t testing.TB, d *DB, c Compartment, p SearchParams) []SearchResult {
	t.Helper()
	r, err := d.Search(context.Background(), c, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

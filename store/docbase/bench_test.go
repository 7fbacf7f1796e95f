package docbase

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The search benchmark: synthetic, normalised 384-dimension vectors and
// short texts from a small vocabulary, so that keyword queries match many
// chunks. hybrid-filtered's filter passes 20 files of 100,
// vector-filtered-80pct's 80 (both the store_file IN form, see knn). It
// reports the p95 latency of single searches (ms) beside Go's
// mean. BenchmarkSearch/100k has 100,000 chunks in one compartment; with
// WARDEN_BENCH_1M=1, BenchmarkSearch1M has 1,000,000 across 10
// compartments (building it takes many minutes). `make bench-docbase`.

const (
	benchDims      = 384
	chunksPerFile  = 1000
	benchQueries   = 200
	benchVocabSize = 2000
)

func benchVector(r *rand.Rand) []float32 {
	v := make([]float32, benchDims)
	var norm float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		norm += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(norm))
	}
	return v
}

func benchText(r *rand.Rand) string {
	ws := make([]string, 24)
	for i := range ws {
		ws[i] = fmt.Sprintf("w%d", r.IntN(benchVocabSize))
	}
	return strings.Join(ws, " ")
}

// fillCompartment adds n chunks to a new store of c, in files of
// chunksPerFile, and returns the store's id.
func fillCompartment(b *testing.B, d *DB, c Compartment, n int, r *rand.Rand) string {
	ctx := context.Background()
	s, err := d.CreateStore(ctx, c, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	chunks := make([]ChunkInput, chunksPerFile)
	for done := 0; done < n; done += chunksPerFile {
		f, err := d.CreateFile(ctx, c, "bench.txt", PurposeAssistants, "text/plain", []byte("x"))
		if err != nil {
			b.Fatal(err)
		}
		for i := range chunks {
			chunks[i] = ChunkInput{Text: benchText(r), Tokens: 24, Embedding: benchVector(r)}
		}
		attrs := Attributes{"part": float64(done / chunksPerFile % 10)}
		if _, err := d.AttachFile(ctx, c, s.ID, f.ID, attrs, ChunkingStrategy{}, chunks); err != nil {
			b.Fatal(err)
		}
	}
	return s.ID
}

// measure runs b.N searches like p and reports their p95 latency. Each
// search gets its own query: a random vector where p has an Embedding
// (a non-nil empty one marks that), two vocabulary words where it has a
// Query.
func measure(b *testing.B, d *DB, c Compartment, p SearchParams, r *rand.Rand) {
	ctx := context.Background()
	queries := make([][]float32, benchQueries)
	for i := range queries {
		queries[i] = benchVector(r)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := p
		if q.Embedding != nil {
			q.Embedding = queries[i%len(queries)]
		}
		if q.Query != "" {
			q.Query = fmt.Sprintf("w%d w%d", i%benchVocabSize, (i*7)%benchVocabSize)
		}
		start := time.Now()
		res, err := d.Search(ctx, c, q)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if len(res) == 0 {
			b.Fatal("no results")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	p95 := lat[(len(lat)*95+99)/100-1]
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
}

func benchSearches(b *testing.B, d *DB, c Compartment, storeID string, r *rand.Rand) {
	part := Filter{Type: "in", Key: "part", Value: []any{1.0, 2.0}}
	b.Run("vector", func(b *testing.B) {
		measure(b, d, c, SearchParams{StoreIDs: []string{storeID}, Embedding: []float32{}, MaxResults: 10}, r)
	})
	b.Run("hybrid", func(b *testing.B) {
		measure(b, d, c, SearchParams{StoreIDs: []string{storeID}, Embedding: []float32{}, Query: "q", MaxResults: 10}, r)
	})
	b.Run("hybrid-filtered", func(b *testing.B) {
		measure(b, d, c, SearchParams{StoreIDs: []string{storeID}, Embedding: []float32{}, Query: "q", MaxResults: 10, Filter: &part}, r)
	})
	most := Filter{Type: "lt", Key: "part", Value: 8.0}
	b.Run("vector-filtered-80pct", func(b *testing.B) {
		measure(b, d, c, SearchParams{StoreIDs: []string{storeID}, Embedding: []float32{}, MaxResults: 10, Filter: &most}, r)
	})
}

func openBench(b *testing.B) *DB {
	d, err := Open(context.Background(), b.TempDir(), Options{Dimensions: benchDims})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

func BenchmarkSearch(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	d := openBench(b)
	start := time.Now()
	storeID := fillCompartment(b, d, teamA, 100_000, r)
	b.Logf("100,000 chunks indexed in %v", time.Since(start).Round(time.Second))
	b.Run("100k", func(b *testing.B) { benchSearches(b, d, teamA, storeID, r) })
}

func BenchmarkSearch1M(b *testing.B) {
	if os.Getenv("WARDEN_BENCH_1M") != "1" {
		b.Skip("set WARDEN_BENCH_1M=1: building 1,000,000 chunks takes many minutes")
	}
	r := rand.New(rand.NewPCG(3, 4))
	d := openBench(b)
	start := time.Now()
	var stores []string
	for i := range 10 {
		stores = append(stores, fillCompartment(b, d, TeamCompartment(fmt.Sprintf("team%d", i), "p"), 100_000, r))
	}
	b.Logf("1,000,000 chunks in 10 compartments indexed in %v", time.Since(start).Round(time.Second))
	b.Run("1M-10compartments", func(b *testing.B) {
		benchSearches(b, d, TeamCompartment("team7", "p"), stores[7], r)
	})
}

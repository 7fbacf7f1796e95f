package docbase

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestSearchWhileIndexing: searches running while files are attached and
// deleted see each file whole (all 3 of its chunks) or not at all.
func TestSearchWhileIndexing(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := newStore(t, d, teamA, "s")
	near := func(i int) []float32 { return axis(0, 0.01*float32(i)) }
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				rs, err := d.Search(ctx, teamA, SearchParams{StoreIDs: []string{s.ID}, Query: "batch", Embedding: near(0), MaxResults: 50})
				if err != nil {
					errs <- err
					return
				}
				per := map[string]int{}
				for _, r := range rs {
					per[r.FileID]++
				}
				for f, n := range per {
					if n != 3 {
						errs <- fmt.Errorf("file %s seen with %d of its 3 chunks", f, n)
						return
					}
				}
			}
		}()
	}
	var prev string
	for i := range 30 {
		f := addDoc(t, d, teamA, s.ID, docSpec{name: "f", texts: texts(3, fmt.Sprintf("batch %d part %%d", i)), vector: near})
		if prev != "" {
			if err := d.DeleteFile(ctx, teamA, prev); err != nil {
				t.Fatal(err)
			}
		}
		prev = f.ID
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

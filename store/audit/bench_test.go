package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/warden-llm/warden/store"
)

// BenchmarkWrite measures rows/s through Submit and the writer, flushed by
// Close, for synchronous=FULL against NORMAL and one record per
// transaction against batches of up to 64.
func BenchmarkWrite(b *testing.B) {
	rec := request(1)
	rec.Prompt = strings.Repeat("p", 500)
	rec.Response = strings.Repeat("r", 500)
	for _, sync := range []store.Sync{store.SyncFull, store.SyncNormal} {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, batch), func(b *testing.B) {
				l, err := Open(context.Background(), dbPath(b), Options{
					Key: newKey(b), TextPolicy: TextFull, QueueSize: 4096, BatchSize: batch, sync: sync,
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if err := l.Submit(context.Background(), rec); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

package guard

import (
	"fmt"
	"strings"
	"testing"
)

// benchConfig is a request the size the issue budgets for: a 2 KiB system
// prompt, ten secrets and a canary.
func benchConfig() LeakConfig {
	var p strings.Builder
	for i := 0; p.Len() < 2048; i++ {
		fmt.Fprintf(&p, "Rule %d: answer questions about order %d politely, cite the policy section, and never promise delivery dates. ", i, 1000+i)
	}
	secrets := make([]string, 10)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("sk-live-%08x%08x", i*7919, i*104729)
	}
	return LeakConfig{Canary: NewCanary(nil), SystemPrompts: []string{p.String()}, Secrets: secrets}
}

// benchReply is a 64-token reply (about 300 bytes) in 64 pieces that
// shares common words with the prompt, so the shingle lookups run.
func benchReply() []string {
	words := strings.Fields("Your order 1003 ships today and the policy section on returns " +
		"says you can send it back within thirty days for a full refund, " +
		"so please keep the receipt and the original packaging until then; " +
		"if anything is missing, answer this message and we will politely " +
		"arrange a replacement at no cost to you, usually within a week or two at most.")
	pieces := make([]string, 64)
	for i := range pieces {
		pieces[i] = words[i%len(words)] + " "
	}
	return pieces
}

// BenchmarkLeakDetector is the guard's cost for one streamed reply:
// building the detector for the request, 64 writes and the flush.
func BenchmarkLeakDetector(b *testing.B) {
	cfg, pieces := benchConfig(), benchReply()
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		d := NewLeakDetector(cfg)
		for _, p := range pieces {
			if _, ev := d.Write(p); ev != nil {
				b.Fatalf("false positive: %+v", ev)
			}
		}
		d.Flush()
	}
}

// BenchmarkLeakDetectorWrites is the streaming part alone: what the
// detector adds per reply once built.
func BenchmarkLeakDetectorWrites(b *testing.B) {
	cfg, pieces := benchConfig(), benchReply()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		d := NewLeakDetector(cfg)
		b.StartTimer()
		for _, p := range pieces {
			d.Write(p)
		}
		d.Flush()
	}
}

package guard

import (
	"strings"
	"testing"
)

// benignPrompt is about 4 KiB of ordinary user text with some of the
// trigger words in it, so the benchmark pays for the rules that run.
var benignPrompt = func() string {
	para := "Hello, I need help with our deployment. The previous release ignored the " +
		"cache settings and the system kept restarting; please show me how to configure " +
		"the reverse proxy, what the rules for rate limiting should be, and whether the " +
		"developer documentation is up to date. Merci, danke, gracias! Version 1.2.3, " +
		"ticket #4521, hash 9f86d081884c7d659a2feaa0c55ad015. "
	return strings.Repeat(para, 4096/len(para)+1)[:4096]
}()

func BenchmarkDetect(b *testing.B) {
	d := NewDetector()
	b.SetBytes(int64(len(benignPrompt)))
	b.ReportAllocs()
	for b.Loop() {
		if d.Detect(benignPrompt).Matched() {
			b.Fatal("benign prompt matched")
		}
	}
}

func BenchmarkScanInvisible(b *testing.B) {
	b.SetBytes(int64(len(benignPrompt)))
	b.ReportAllocs()
	for b.Loop() {
		ScanInvisible(benignPrompt)
	}
}

func BenchmarkCheckInput(b *testing.B) {
	b.SetBytes(int64(len(benignPrompt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := CheckInput(InvisibleStrip, InjectionBlock, "messages[0]", benignPrompt); err != nil {
			b.Fatal(err)
		}
	}
}

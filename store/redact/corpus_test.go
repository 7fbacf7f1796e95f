package redact

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// maxFalsePositiveRate is the share of labelled look-alikes that
// redaction may alter. The corpus holds a few look-alikes no scanner
// can tell from personal data without context (a version "1.2.3.4" is
// a valid IPv4 address; "Password: reset it" reads as an assignment),
// and audit entries lose little when such a value is hidden.
const maxFalsePositiveRate = 0.05

// corpusLine is one line of testdata/pii_corpus.jsonl, which
// testdata/gen_corpus.py generates with its own check-digit code.
type corpusLine struct {
	Text string `json:"text"`
	PII  []struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
	} `json:"pii"`
	Keep []string `json:"keep"`
}

func readCorpus(t testing.TB) []corpusLine {
	t.Helper()
	f, err := os.Open("testdata/pii_corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []corpusLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var l corpusLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("pii_corpus.jsonl:%d: %v", n, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestCorpus(t *testing.T) {
	lines := readCorpus(t)
	if len(lines) < 200 {
		t.Fatalf("corpus has %d lines, want at least 200", len(lines))
	}
	r := New(Options{Key: []byte("corpus-key")})
	var values, lookalikes, altered int
	for _, l := range lines {
		out := r.Redact(l.Text)
		ms := Find(l.Text)
		for _, p := range l.PII {
			values++
			if strings.Contains(out, p.Value) {
				t.Errorf("%s %q survives in %q", p.Kind, p.Value, out)
			}
			if k := kindCovering(ms, strings.Index(l.Text, p.Value), len(p.Value)); k != p.Kind {
				t.Errorf("%q in %q: detected as %q, labelled %s", p.Value, l.Text, k, p.Kind)
			}
		}
		for _, v := range l.Keep {
			lookalikes++
			if !strings.Contains(out, v) {
				altered++
				t.Logf("false positive: %q in %q became %q", v, l.Text, out)
			}
		}
	}
	rate := float64(altered) / float64(lookalikes)
	t.Logf("%d lines: %d personal values, none may survive; %d of %d look-alikes altered, false-positive rate %.1f%%",
		len(lines), values, altered, lookalikes, 100*rate)
	if rate > maxFalsePositiveRate {
		t.Errorf("false-positive rate %.1f%% is above %.1f%%", 100*rate, 100*maxFalsePositiveRate)
	}
}

// kindCovering returns the kind of the match that covers the n bytes at
// off, or "" if none does.
func kindCovering(ms []Match, off, n int) string {
	for _, m := range ms {
		if m.Start <= off && off+n <= m.End {
			return m.Kind.String()
		}
	}
	return ""
}

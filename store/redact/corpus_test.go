package redact

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// maxFalsePositiveRate is the share of labelled look-alikes that
// redaction may alter. The corpus holds a few look-alikes no scanner
// can tell from personal data without context (a version "1.2.3.4" is
// a valid IPv4 address; "Password: reset it" reads as an assignment),
// and audit entries lose little when such a value is hidden.
const maxFalsePositiveRate = 0.05

// floor is what a category must achieve on the corpus: the share of its
// labelled values that redaction must find, with the right kind, and
// the share of its look-alikes that it may alter. They are the measured
// figures (docs/redaction.md), so that any regression fails.
type floor struct{ recall, falsePositives float64 }

var floors = map[string]floor{
	"EMAIL":            {1, 0},
	"EMAIL_INTL":       {1, 0},
	"EMAIL_OBFUSCATED": {0.91, 0}, // "name at domain dot xyz" is left alone by design
	"PHONE":            {1, 0},
	"CARD":             {1, 0},
	"IBAN":             {1, 0.25}, // digit groups of an IBAN failing mod 97 read as a phone number
	"IBAN_LOWER":       {1, 0},
	"IP":               {1, 0},
	"NATIONAL_ID":      {1, 0},
	"SSN":              {1, 0.125}, // 0-led look-alikes such as 054-00-2967 read as a phone number
	"NINO":             {1, 0},
	"STEUER_ID":        {1, 0},
	"PASSPORT":         {0.80, 0}, // numbers without a word naming them are left alone
	"SECRET":           {1, 0},
	"other":            {1, 0.013}, // the version 1.2.3.4 and "Password: reset it"
}

// corpusLine is one line of testdata/pii_corpus.jsonl, which
// testdata/gen_corpus.py generates with its own check-digit code.
type corpusLine struct {
	Text string `json:"text"`
	PII  []struct {
		Kind     string `json:"kind"`
		Value    string `json:"value"`
		Category string `json:"category"` // finer than Kind, as SSN is; Kind when empty
	} `json:"pii"`
	Keep     []string `json:"keep"`
	Category string   `json:"category"` // the category Keep's look-alikes are built to fool; "other" when empty
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

// score counts one category's results on the corpus.
type score struct {
	values, found, survived int // labelled values; found with their kind; left in clear, whole
	lookalikes, altered     int
	misses                  []string
}

func (s *score) recall() float64 { return ratio(s.found, s.values, 1) }

func (s *score) falsePositiveRate() float64 { return ratio(s.altered, s.lookalikes, 0) }

func ratio(n, d int, empty float64) float64 {
	if d == 0 {
		return empty
	}
	return float64(n) / float64(d)
}

// TestCorpus measures, per category, the recall (labelled values found
// whole and with their kind) and the false-positive rate (look-alikes
// altered) of redaction on the corpus, prints them, and fails below
// the floors. docs/redaction.md publishes its output:
//
//	go test -run '^TestCorpus$' -v ./store/redact/
func TestCorpus(t *testing.T) {
	lines := readCorpus(t)
	if len(lines) < 400 {
		t.Fatalf("corpus has %d lines, want at least 400", len(lines))
	}
	r := New(Options{Key: []byte("corpus-key")})
	scores := map[string]*score{}
	get := func(category string) *score {
		if scores[category] == nil {
			scores[category] = &score{}
		}
		return scores[category]
	}
	for _, l := range lines {
		out := r.Redact(l.Text)
		ms := Find(l.Text)
		for _, p := range l.PII {
			sc := get(cmp.Or(p.Category, p.Kind))
			sc.values++
			k := kindCovering(ms, strings.Index(l.Text, p.Value), len(p.Value))
			if k == p.Kind {
				sc.found++
			} else {
				sc.misses = append(sc.misses, fmt.Sprintf("%q in %q: detected as %q", p.Value, l.Text, k))
			}
			if strings.Contains(out, p.Value) {
				sc.survived++
			}
		}
		sc := get(cmp.Or(l.Category, "other"))
		for _, v := range l.Keep {
			sc.lookalikes++
			if !strings.Contains(out, v) {
				sc.altered++
				t.Logf("false positive: %q in %q became %q", v, l.Text, out)
			}
		}
	}

	var all score
	var table strings.Builder
	fmt.Fprintf(&table, "%-17s %6s %6s %7s %8s %10s %6s\n", "category", "values", "found", "recall", "in clear", "look-alike", "FP")
	for _, c := range slices.Sorted(maps.Keys(scores)) {
		sc := scores[c]
		fmt.Fprintf(&table, "%-17s %6d %6d %6.1f%% %8d %10d %5.1f%%\n",
			c, sc.values, sc.found, 100*sc.recall(), sc.survived, sc.lookalikes, 100*sc.falsePositiveRate())
		all.values, all.found, all.survived = all.values+sc.values, all.found+sc.found, all.survived+sc.survived
		all.lookalikes, all.altered = all.lookalikes+sc.lookalikes, all.altered+sc.altered

		f, ok := floors[c]
		switch {
		case !ok:
			t.Errorf("category %s has no floor", c)
		case sc.recall() < f.recall:
			t.Errorf("%s: recall %.1f%% is below %.1f%%; missed:\n%s", c, 100*sc.recall(), 100*f.recall, strings.Join(sc.misses, "\n"))
		case sc.falsePositiveRate() > f.falsePositives:
			t.Errorf("%s: false-positive rate %.1f%% is above %.1f%%", c, 100*sc.falsePositiveRate(), 100*f.falsePositives)
		}
		for _, m := range sc.misses {
			t.Logf("%s missed: %s", c, m)
		}
	}
	fmt.Fprintf(&table, "%-17s %6d %6d %6.1f%% %8d %10d %5.1f%%",
		"all", all.values, all.found, 100*all.recall(), all.survived, all.lookalikes, 100*all.falsePositiveRate())
	t.Logf("%d lines:\n%s", len(lines), table.String())
	if rate := all.falsePositiveRate(); rate > maxFalsePositiveRate {
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

package guard

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

// corpusLine is one line of testdata/injection/corpus.jsonl.
type corpusLine struct {
	Text   string `json:"text"`
	Label  string `json:"label"` // injection or benign
	Lang   string `json:"lang"`
	Split  string `json:"split"` // tune (rules may be shaped on it) or eval (held out)
	Source string `json:"source"`
}

func loadCorpus(t testing.TB) []corpusLine {
	t.Helper()
	f, err := os.Open("testdata/injection/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []corpusLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l corpusLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("corpus.jsonl:%d: %v", n, err)
		}
		if l.Label != "injection" && l.Label != "benign" || l.Split != "tune" && l.Split != "eval" {
			t.Fatalf("corpus.jsonl:%d: label %q split %q", n, l.Label, l.Split)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// rates is one row of the table in docs/guard.md.
type rates struct {
	injections, detected, benign, flagged int
}

func (r rates) detection() float64 { return ratio(r.detected, r.injections) }
func (r rates) falsePos() float64  { return ratio(r.flagged, r.benign) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// documented are the rates, in per cent, published in docs/guard.md
// ("Injection heuristics"): detection may not fall below the first figure
// and false positives may not rise above the second (measured rates
// rounded down and up to 0.1). Change them and the table together, and
// only with a corpus or rule change that says why.
var documented = map[string]struct{ minDetect, maxFP float64 }{
	"en/eval": {88.8, 2.3}, "en/all": {92.5, 1.6},
	"fr/eval": {95.0, 0.0}, "fr/all": {96.7, 0.0},
	"de/eval": {75.0, 0.0}, "de/all": {91.6, 0.0},
	"es/eval": {95.0, 0.0}, "es/all": {96.6, 0.0},
	"all/eval": {88.5, 1.0}, "all/all": {93.9, 0.7},
}

func TestCorpusRates(t *testing.T) {
	lines := loadCorpus(t)
	table := map[string]*rates{}
	verbose := os.Getenv("GUARD_CORPUS_MISSES") != ""
	for _, l := range lines {
		matched := Detect(l.Text).Matched()
		for _, key := range corpusKeys(l) {
			r := table[key]
			if r == nil {
				r = &rates{}
				table[key] = r
			}
			if l.Label == "injection" {
				r.injections++
				r.detected += boolInt(matched)
			} else {
				r.benign++
				r.flagged += boolInt(matched)
			}
		}
		// Only the tune split is ever printed: the eval split stays unseen.
		if verbose && l.Split == "tune" && matched != (l.Label == "injection") {
			t.Logf("%s %s: %q %+v", l.Lang, l.Label, l.Text, Detect(l.Text))
		}
	}
	t.Logf("| set | injections | detected | benign | false positives |")
	for _, key := range []string{"en/eval", "en/all", "fr/eval", "fr/all", "de/eval", "de/all", "es/eval", "es/all", "all/eval", "all/all"} {
		r := table[key]
		t.Logf("| %s | %d | %.1f %% | %d | %.1f %% |", key, r.injections, 100*r.detection(), r.benign, 100*r.falsePos())
		doc := documented[key]
		if 100*r.detection() < doc.minDetect-1e-9 {
			t.Errorf("%s: detection %.1f %% fell below the documented %.1f %%", key, 100*r.detection(), doc.minDetect)
		}
		if 100*r.falsePos() > doc.maxFP+1e-9 {
			t.Errorf("%s: false positives %.1f %% rose above the documented %.1f %%", key, 100*r.falsePos(), doc.maxFP)
		}
	}
	counts := map[string]int{}
	for _, l := range lines {
		counts[l.Label]++
		counts[l.Lang+"/"+l.Label]++
	}
	if counts["injection"] < 300 || counts["benign"] < 300 {
		t.Errorf("corpus has %d injections and %d benign prompts; the issue asks for 300 of each", counts["injection"], counts["benign"])
	}
	for _, lang := range []string{"fr", "de", "es"} {
		if counts[lang+"/injection"] < 50 || counts[lang+"/benign"] < 50 {
			t.Errorf("corpus has too few %s lines: %d injections, %d benign", lang, counts[lang+"/injection"], counts[lang+"/benign"])
		}
	}
}

// corpusKeys are the rows a line counts in.
func corpusKeys(l corpusLine) []string {
	keys := []string{l.Lang + "/all", "all/all"}
	if l.Split == "eval" {
		keys = append(keys, l.Lang+"/eval", "all/eval")
	}
	return keys
}

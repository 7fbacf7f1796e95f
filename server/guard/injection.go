package guard

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"sync"
)

// MatchThreshold is the score from which a Finding counts as an
// injection. One strong rule (weight 0.85, e.g. "ignore all previous
// instructions") passes it alone; a weak one (a role-play opener, 0.3, or
// "without restrictions", 0.4) only with another signal: the two together
// score 1-(0.7*0.6) = 0.58.
const MatchThreshold = 0.5

// quotedDiscount scales a phrase that is quoted in a text which discusses
// injection, security, examples or stories ("how do I detect 'ignore
// previous instructions'?"), so that it stays under the threshold alone.
const quotedDiscount = 0.3

// Finding is what Detect found in one text. It never holds the text.
type Finding struct {
	Score float64  // 0 (nothing) to 1; see MatchThreshold
	Rules []string // the rules that matched, sorted; "leet", "base64:…" and "hex:…" say how
	Lang  string   // the language of the strongest rule: en, fr, de, es, or "any" for role tags
}

// Matched reports whether the score reaches MatchThreshold.
func (f Finding) Matched() bool { return f.Score >= MatchThreshold }

// Event is the finding as a guard event, with the action the caller took
// (flag or block) and where the text was. The detail names rules and
// language, never content.
func (f Finding) Event(where string, action Action) Event {
	return Event{Kind: KindInjection, Action: action, Score: f.Score, Where: where,
		Detail: fmt.Sprintf("lang=%s rules=%s", f.Lang, strings.Join(f.Rules, ","))}
}

// Detector holds the compiled rules. It is immutable once built and safe
// for concurrent use.
type Detector struct {
	rules []rule
	// probes maps the first one or two bytes of a word to the triggers
	// and start literals that begin with them, so one pass over the words
	// of a text finds every place a rule could start.
	probes map[string][]probe
}

// probe is a trigger or start literal of one rule, without its space.
type probe struct {
	rule    int
	lit     string
	trigger bool
}

type rule struct {
	ruleSpec
	re       *regexp.Regexp // " (?:pattern) ", for windows around triggers
	anchored *regexp.Regexp // "^ (?:pattern) ", tried where a prefix starts
	starts   []string       // " " + each literal a match starts with; nil: use windows
}

// NewDetector compiles the rule tables. It panics only if a table holds
// an invalid pattern, which TestRulesCompile rules out.
func NewDetector() *Detector {
	var d Detector
	for _, table := range [][]ruleSpec{rulesEN, rulesFR, rulesDE, rulesES} {
		for _, spec := range table {
			r, err := compileRule(spec)
			if err != nil {
				panic(err)
			}
			d.rules = append(d.rules, r)
		}
	}
	d.probes = map[string][]probe{}
	for i, r := range d.rules {
		for _, t := range r.triggers {
			d.addProbe(probe{i, t[1:], true})
		}
		for _, st := range r.starts {
			d.addProbe(probe{i, st[1:], false})
		}
	}
	return &d
}

func (d *Detector) addProbe(p probe) {
	key := p.lit[:min(2, len(p.lit))]
	d.probes[key] = append(d.probes[key], p)
}

// compileRule compiles a rule's pattern twice (free-standing and
// anchored) and finds the literals its matches start with.
func compileRule(spec ruleSpec) (rule, error) {
	r := rule{ruleSpec: spec}
	var err error
	if r.re, err = regexp.Compile(` (?:` + spec.pattern + `) `); err != nil {
		return r, fmt.Errorf("guard: rule %s: %w", spec.name, err)
	}
	r.anchored = regexp.MustCompile(`^ (?:` + spec.pattern + `) `)
	parsed, err := syntax.Parse(spec.pattern, syntax.Perl)
	if err != nil {
		return r, fmt.Errorf("guard: rule %s: %w", spec.name, err)
	}
	if prefixes, ok := literalPrefixes(parsed.Simplify()); ok {
		for _, p := range prefixes {
			r.starts = append(r.starts, " "+p)
		}
	}
	// Triggers match at the start of a word.
	r.triggers = make([]string, len(spec.triggers))
	for i, t := range spec.triggers {
		r.triggers[i] = " " + t
	}
	return r, nil
}

var defaultDetector = sync.OnceValue(NewDetector)

// Detect runs the default detector on text. Each text is scanned in full
// in linear time (Go's regexp does not backtrack); see Detector.Detect.
func Detect(text string) Finding { return defaultDetector().Detect(text) }

// Detect scores text against the rules: once on the normalised text, once
// more read as leetspeak if it holds digits or signs, once more with
// spaced-out letters joined ("i g n o r e"), for fake role tags,
// and on the decoding of base64 and hex blobs.
func (d *Detector) Detect(text string) Finding {
	var h hits
	norm := normalize(text, false)
	d.matchPhrases(norm, "", &h)
	if hasLeet(text) {
		if alt := normalize(text, true); alt != norm {
			n := len(h)
			d.matchPhrases(alt, "", &h)
			if len(h) > n {
				h.add("leet", h[len(h)-1].lang, 0)
			}
		}
	}
	if alt := collapseSpaced(norm); alt != "" {
		n := len(h)
		d.matchPhrases(alt, "", &h)
		if len(h) > n {
			h.add("spaced", h[len(h)-1].lang, 0)
		}
	}
	matchRoleTags(text, "", &h)
	d.matchEncoded(text, &h)
	return h.finding()
}

// metaCues are words of a text that talks about injection rather than
// performs it: security questions, examples, stories, test data.
var metaCues = []string{
	"injection", "jailbreak", " attack", "example", "exemple", "beispiel", "ejemplo",
	"phishing", "detect", "filter", "security", "securite", "sicherheit", "seguridad",
	"malicious", "classif", " story", " novel", " roman", "geschichte", "historia", "cuento",
	" quote", "citation", "zitat", " cita", "red team", "payload", "dataset", "regex",
	"test case", "unit test", "villain", "character says", "personnage", "figur", "personaje",
	"attaque", "angriff", "ataque", "datensatz", "jeu de donnees", "conjunto de datos", "erkenn",
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hit is one rule that matched, with its (possibly discounted) weight.
type hit struct {
	name, lang string
	weight     float64
}

type hits []hit

// add records a rule, keeping the higher weight if it matched before.
func (h *hits) add(name, lang string, w float64) {
	for i := range *h {
		if (*h)[i].name == name {
			(*h)[i].weight = max((*h)[i].weight, w)
			return
		}
	}
	*h = append(*h, hit{name, lang, w})
}

// finding combines the hits as independent signals: 1 - Π(1 - w).
func (h hits) finding() Finding {
	if len(h) == 0 {
		return Finding{}
	}
	var f Finding
	miss, best := 1.0, -1.0
	for _, x := range h {
		miss *= 1 - x.weight
		f.Rules = append(f.Rules, x.name)
		if x.weight > best {
			best, f.Lang = x.weight, x.lang
		}
	}
	f.Score = 1 - miss
	sort.Strings(f.Rules)
	return f
}

package redact

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the operator's rules. Go's regexp runs in time linear in
// the text, but also in the size of the compiled expression; these keep
// that factor, and a word list's memory, small.
const (
	maxPatternLen = 1000 // bytes of one regular expression
	maxWordTokens = 8    // words in one entry of a word list, as in "Marie Curie"
	maxWordLen    = 200  // bytes of one entry
	maxLabelLen   = 32   // bytes of a placeholder name
)

// wordKind is the kind of a word-list match, placeholder [NAME]; the
// operator's patterns get the kinds after it.
const (
	wordKind  = lastKind + 1
	wordLabel = "NAME"
)

// Pattern is one of the operator's rules: text its regular expression
// matches is replaced by [Name]. Build it with NewPattern or
// ParsePattern, which validate it.
type Pattern struct {
	name string
	re   *regexp.Regexp
}

// NewPattern compiles expr as a rule whose matches become [name]. The
// name must be upper-case letters, digits and underscores, starting
// with a letter, as the built-in EMAIL or NATIONAL_ID are; a built-in
// name makes the rule's matches that kind. expr is Go (RE2) syntax and
// must not match the empty string.
func NewPattern(name, expr string) (Pattern, error) {
	if !validLabel(name) {
		return Pattern{}, fmt.Errorf("pattern name %q: want upper-case letters, digits and _, starting with a letter, at most %d bytes", name, maxLabelLen)
	}
	if len(expr) > maxPatternLen {
		return Pattern{}, fmt.Errorf("pattern %s: %d bytes, at most %d", name, len(expr), maxPatternLen)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return Pattern{}, fmt.Errorf("pattern %s: %w", name, err)
	}
	if re.MatchString("") {
		return Pattern{}, fmt.Errorf("pattern %s: %q matches the empty string", name, expr)
	}
	return Pattern{name: name, re: re}, nil
}

// ParsePattern reads a rule written NAME=regexp, as in
// "EMPLOYEE_ID=\bEMP-[0-9]{6}\b".
func ParsePattern(spec string) (Pattern, error) {
	name, expr, ok := strings.Cut(spec, "=")
	if !ok {
		return Pattern{}, fmt.Errorf("pattern %q: want NAME=regexp", spec)
	}
	return NewPattern(strings.TrimSpace(name), expr)
}

// Name returns the placeholder name of the rule's matches.
func (p Pattern) Name() string { return p.name }

// String returns the rule as ParsePattern reads it.
func (p Pattern) String() string { return p.name + "=" + p.re.String() }

// validLabel reports whether name can name a placeholder.
func validLabel(name string) bool {
	if name == "" || len(name) > maxLabelLen || !isUpper(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isUpper(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// ParseWords reads a word list: one name or term per line, blank lines
// and lines starting with # ignored. An entry may hold several words
// ("Marie Curie"); it matches them in any case, split by spaces, dashes,
// apostrophes or dots.
func ParseWords(r io.Reader) ([]string, error) {
	var words []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		w := strings.TrimSpace(sc.Text())
		if w == "" || strings.HasPrefix(w, "#") {
			continue
		}
		if err := checkWord(w); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		words = append(words, w)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("word list: %w", err)
	}
	return words, nil
}

func checkWord(w string) error {
	switch tokens := wordTokens(w); {
	case !utf8.ValidString(w):
		return errors.New("not valid UTF-8")
	case len(w) > maxWordLen:
		return fmt.Errorf("%d bytes, at most %d", len(w), maxWordLen)
	case len(tokens) == 0:
		return fmt.Errorf("%q has no letter or digit", w)
	case len(tokens) > maxWordTokens:
		return fmt.Errorf("%q has %d words, at most %d", w, len(tokens), maxWordTokens)
	}
	return nil
}

// rules are a Redactor's patterns and words.
type rules struct {
	patterns []Pattern
	kinds    []Kind // of each pattern
	labels   []string
	words    map[string]bool // normalized entries: lower case, one space between words
	maxWords int             // words in the longest entry
}

// newRules indexes the operator's rules, or returns nil when there are
// none. Entries that ParseWords would refuse are skipped.
func newRules(patterns []Pattern, words []string) *rules {
	if len(patterns) == 0 && len(words) == 0 {
		return nil
	}
	r := &rules{labels: []string{wordLabel}}
	for _, p := range patterns {
		if p.re == nil {
			continue // the zero Pattern
		}
		r.patterns = append(r.patterns, p)
		r.kinds = append(r.kinds, r.kindOf(p.name))
	}
	for _, w := range words {
		if checkWord(w) != nil {
			continue
		}
		if r.words == nil {
			r.words = map[string]bool{}
		}
		tokens := wordTokens(w)
		r.words[string(appendKey(nil, tokens))] = true
		r.maxWords = max(r.maxWords, len(tokens))
	}
	return r
}

// kindOf returns the kind that a rule named name reports: a built-in
// kind or the word list's by name, or a new kind.
func (r *rules) kindOf(name string) Kind {
	for k := Secret; k <= lastKind; k++ {
		if k.String() == name {
			return k
		}
	}
	for i, l := range r.labels {
		if l == name {
			return wordKind + Kind(i)
		}
	}
	r.labels = append(r.labels, name)
	return wordKind + Kind(len(r.labels)-1)
}

func (r *rules) label(k Kind) string { return r.labels[k-wordKind] }

// find appends the rules' matches in s to ms. A match that overlaps a
// placeholder is dropped: placeholders must come out of a second pass
// unchanged, whatever the operator's expressions match.
func (r *rules) find(s string, ms []Match) []Match {
	n := len(ms)
	for i, p := range r.patterns {
		for _, loc := range p.re.FindAllStringIndex(s, -1) {
			ms = add(ms, r.kinds[i], loc[0], loc[1])
		}
	}
	if r.words != nil {
		ms = r.findWords(s, ms)
	}
	if len(ms) == n {
		return ms
	}
	holders := placeholders(s)
	if len(holders) == 0 {
		return ms
	}
	kept := ms[:n]
	for _, m := range ms[n:] {
		if !overlapsAny(m, holders) {
			kept = append(kept, m)
		}
	}
	return kept
}

// findWords appends the word list's matches in s: at each word, the
// longest entry that the following words spell.
func (r *rules) findWords(s string, ms []Match) []Match {
	var tokens [][2]int // the next maxWords words, as [start, end)
	var key []byte
	for i := 0; i < len(s); {
		tokens = nextTokens(s, i, r.maxWords, tokens[:0])
		if len(tokens) == 0 {
			break
		}
		matched := 0
		for n := len(tokens); n > 0; n-- {
			key = key[:0]
			for k, t := range tokens[:n] {
				if k > 0 {
					key = append(key, ' ')
				}
				key = appendLower(key, s[t[0]:t[1]])
			}
			if r.words[string(key)] {
				matched = n
				break
			}
		}
		if matched > 0 {
			ms = add(ms, wordKind, tokens[0][0], tokens[matched-1][1])
			i = tokens[matched-1][1]
		} else {
			i = tokens[0][1]
		}
	}
	return ms
}

// nextTokens appends to dst the words of s from i on, at most max of
// them, as long as each is separated from the next by at most three
// spaces, dashes, apostrophes or dots.
func nextTokens(s string, i, max int, dst [][2]int) [][2]int {
	for len(dst) < max {
		start := i
		for start < len(s) {
			r, n := utf8.DecodeRuneInString(s[start:])
			if isWordRune(r) {
				break
			}
			if len(dst) > 0 && (start-i >= 3 || !isWordSep(r)) {
				return dst
			}
			start += n
		}
		end := start
		for end < len(s) {
			r, n := utf8.DecodeRuneInString(s[end:])
			if !isWordRune(r) {
				break
			}
			end += n
		}
		if end == start {
			return dst
		}
		dst = append(dst, [2]int{start, end})
		i = end
	}
	return dst
}

// isWordRune reports whether r belongs to a word: a letter, digit or
// combining mark in any script, or an underscore, as in \w.
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func isWordSep(r rune) bool { return r == ' ' || r == '-' || r == '\'' || r == '.' || r == '\u2019' }

// wordTokens splits an entry of a word list into its words.
func wordTokens(w string) []string {
	return strings.FieldsFunc(w, func(r rune) bool { return !isWordRune(r) })
}

// appendKey appends the normalized form of an entry: its words in lower
// case, one space between them.
func appendKey(dst []byte, tokens []string) []byte {
	for k, t := range tokens {
		if k > 0 {
			dst = append(dst, ' ')
		}
		dst = appendLower(dst, t)
	}
	return dst
}

func appendLower(dst []byte, w string) []byte {
	for _, r := range w {
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

// placeholders returns the spans of the placeholders in s.
func placeholders(s string) [][2]int {
	var spans [][2]int
	for i := 0; ; {
		k := strings.IndexByte(s[i:], '[')
		if k < 0 {
			return spans
		}
		i += k
		// A label, an optional ":" and 8 hex digits, and "]".
		if e := strings.IndexByte(s[i:min(len(s), i+maxLabelLen+11)], ']'); e > 0 && isPlaceholder(s[i:i+e+1]) {
			spans = append(spans, [2]int{i, i + e + 1})
			i += e + 1
			continue
		}
		i++
	}
}

// overlapsAny reports whether m overlaps one of spans, which are sorted
// and disjoint.
func overlapsAny(m Match, spans [][2]int) bool {
	// The first span ending after m starts is the only one that can
	// overlap m without an earlier one doing so.
	k, _ := slices.BinarySearchFunc(spans, m.Start, func(sp [2]int, start int) int { return cmp.Compare(sp[1], start+1) })
	return k < len(spans) && spans[k][0] < m.End
}

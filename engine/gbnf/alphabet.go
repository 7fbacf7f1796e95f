package gbnf

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Alphabet is what a model's vocabulary can write one character at a
// time: the characters some token's text is exactly, and the bytes some
// token's text is exactly (byte-fallback and byte-level vocabularies have a
// token for each of the 256).
//
// llama.cpp samples under a grammar by setting every token the grammar
// rejects to -inf; when that is every token, its sampler asserts and the
// process aborts. If every character set the grammar can ask for holds a
// character the alphabet has, some single-character token is always
// allowed, so that cannot happen.
type Alphabet struct {
	runes []rune // sorted, without duplicates
	bytes [256]bool
	all   bool // a token for every byte: any character can be written
}

// NewAlphabet makes the alphabet of a vocabulary from the text of its
// tokens, end-of-generation tokens left out.
func NewAlphabet(pieces []string) *Alphabet {
	a := &Alphabet{}
	for _, p := range pieces {
		if len(p) == 1 {
			a.bytes[p[0]] = true
		}
		if r, size := utf8.DecodeRuneInString(p); size == len(p) && r != utf8.RuneError && r != 0 {
			a.runes = append(a.runes, r)
		}
	}
	slices.Sort(a.runes)
	a.runes = slices.Compact(a.runes)
	a.all = true
	for b := 1; b < 256; b++ { // no token writes NUL: llama.cpp rejects it
		a.all = a.all && a.bytes[b]
	}
	return a
}

// anyIn reports whether the alphabet has a character in [lo, hi].
func (a *Alphabet) anyIn(lo, hi uint32) bool {
	if a.all {
		lo = max(lo, 1)
		hi = min(hi, utf8.MaxRune)
		// Surrogates are not characters; a range of nothing else has none.
		return lo <= hi && !(lo >= 0xD800 && hi <= 0xDFFF)
	}
	i, _ := slices.BinarySearch(a.runes, rune(min(lo, utf8.MaxRune+1)))
	return i < len(a.runes) && uint32(a.runes[i]) <= hi
}

// charSet is one character element of a rule: its ranges and whether it
// is negated.
type charSet struct {
	not    bool
	any    bool
	ranges [][2]uint32
}

func (s charSet) has(r uint32) bool {
	for _, rg := range s.ranges {
		if rg[0] <= r && r <= rg[1] {
			return true
		}
	}
	return false
}

// writable reports whether the alphabet has a character in the set.
func (s charSet) writable(a *Alphabet) bool {
	switch {
	case s.any:
		return a.all || len(a.runes) > 0
	case !s.not:
		for _, rg := range s.ranges {
			if a.anyIn(rg[0], rg[1]) {
				return true
			}
		}
		return false
	case a.all:
		// Look for a gap in the negated ranges below MaxRune.
		sorted := slices.Clone(s.ranges)
		slices.SortFunc(sorted, func(x, y [2]uint32) int { return int(x[0]) - int(y[0]) })
		next := uint32(1)
		for _, rg := range sorted {
			if rg[0] > next && a.anyIn(next, rg[0]-1) {
				return true
			}
			next = max(next, rg[1]+1)
		}
		return a.anyIn(next, utf8.MaxRune)
	default:
		for _, r := range a.runes {
			if !s.has(uint32(r)) {
				return true
			}
		}
		return false
	}
}

// CheckAlphabet refuses a grammar some of whose character sets a holds no
// character of: sampling would reach a point where no token is allowed.
// Rules the grammar never reaches from root are checked too; they cost
// nothing to check and Warden's grammars have none.
func (g *Grammar) CheckAlphabet(a *Alphabet) error {
	for id, rule := range g.rules {
		for i := 0; i < len(rule); {
			set, next := readSet(rule, i)
			if next == i {
				i++
				continue
			}
			if !set.writable(a) {
				return limitErr(fmt.Sprintf("rule %q needs %s, which no token of this model can write", g.name(uint32(id)), set))
			}
			i = next
		}
	}
	return nil
}

// readSet reads the character element at rule[i] with the alternatives and
// range ends that follow it. next == i when rule[i] is no character.
func readSet(rule []element, i int) (set charSet, next int) {
	switch rule[i].typ {
	case typeCharAny:
		return charSet{any: true}, i + 1
	case typeChar, typeCharNot:
	default:
		return charSet{}, i
	}
	set.not = rule[i].typ == typeCharNot
	for next = i; next < len(rule); next++ {
		e := rule[next]
		switch {
		case next == i || e.typ == typeCharAlt:
			set.ranges = append(set.ranges, [2]uint32{e.value, e.value})
		case e.typ == typeRngUpper:
			set.ranges[len(set.ranges)-1][1] = e.value
		default:
			return set, next
		}
	}
	return set, next
}

func (s charSet) String() string {
	if s.any {
		return "any character"
	}
	if len(s.ranges) == 1 && s.ranges[0][0] == s.ranges[0][1] && !s.not {
		return fmt.Sprintf("the character %q", rune(s.ranges[0][0]))
	}
	prefix := "a character in"
	if s.not {
		prefix = "a character outside"
	}
	out := prefix + " ["
	for _, rg := range s.ranges {
		out += fmt.Sprintf("%q", rune(rg[0]))
		if rg[1] != rg[0] {
			out += fmt.Sprintf("-%q", rune(rg[1]))
		}
	}
	return out + "]"
}

package guard

import (
	"regexp/syntax"
	"strings"
)

// maxPrefixes bounds the literal prefixes a rule may start with; a rule
// with more (or whose matches may start with something not literal) is
// run on windows around its triggers instead.
const maxPrefixes = 256

// prefix is a literal every match of some regexp part starts with;
// complete says the part matches exactly it, so what follows the part
// may extend it.
type prefix struct {
	s        string
	complete bool
}

// literalPrefixes returns literals one of which every match of re starts
// with, each taken as far as its first word (up to a space), or ok=false
// if it cannot tell. Detect tries a rule, anchored, only where a word
// starts with one of them: Go's regexp searches a leading alternation of
// words slowly, and a rule tried at every word costs as much.
func literalPrefixes(re *syntax.Regexp) ([]string, bool) {
	ps, ok := prefixesOf(re)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.s == "" {
			return nil, false
		}
		out = append(out, p.s)
	}
	return out, true
}

func prefixesOf(re *syntax.Regexp) ([]prefix, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []prefix{{string(re.Rune), true}}, true
	case syntax.OpCharClass:
		return classPrefixes(re.Rune)
	case syntax.OpCapture:
		return prefixesOf(re.Sub[0])
	case syntax.OpPlus:
		return incomplete(prefixesOf(re.Sub[0]))
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return incomplete(prefixesOf(re.Sub[0]))
		}
	case syntax.OpAlternate:
		var all []prefix
		for _, sub := range re.Sub {
			ps, ok := prefixesOf(sub)
			if !ok {
				return nil, false
			}
			all = append(all, ps...)
		}
		return all, len(all) <= maxPrefixes
	case syntax.OpConcat:
		return concatPrefixes(re.Sub)
	}
	return nil, false
}

// concatPrefixes extends each complete prefix of a part by the prefixes
// of the next, until every prefix holds a whole word or is incomplete.
func concatPrefixes(subs []*syntax.Regexp) ([]prefix, bool) {
	cur := []prefix{{"", true}}
	for _, sub := range subs {
		if !anyExtensible(cur) {
			break
		}
		next, ok := partPrefixes(sub)
		if !ok {
			return incomplete(cur, true)
		}
		var out []prefix
		for _, p := range cur {
			if !p.complete || strings.Contains(strings.TrimPrefix(p.s, " "), " ") {
				out = append(out, prefix{p.s, false})
				continue
			}
			for _, n := range next {
				out = append(out, prefix{p.s + n.s, n.complete})
			}
		}
		if len(out) > maxPrefixes {
			return incomplete(cur, true)
		}
		cur = out
	}
	return cur, true
}

// partPrefixes is prefixesOf for a part of a concatenation, where an
// optional part (x?, x*, x{0,n}) may also match nothing.
func partPrefixes(sub *syntax.Regexp) ([]prefix, bool) {
	if sub.Op == syntax.OpQuest || sub.Op == syntax.OpStar || sub.Op == syntax.OpRepeat && sub.Min == 0 {
		ps, ok := prefixesOf(sub.Sub[0])
		if !ok {
			return nil, false
		}
		if sub.Op != syntax.OpQuest {
			ps, _ = incomplete(ps, true)
		}
		return append(ps, prefix{"", true}), true
	}
	return prefixesOf(sub)
}

func anyExtensible(ps []prefix) bool {
	for _, p := range ps {
		if p.complete && !strings.Contains(strings.TrimPrefix(p.s, " "), " ") {
			return true
		}
	}
	return false
}

// incomplete marks prefixes as not to be extended.
func incomplete(ps []prefix, ok bool) ([]prefix, bool) {
	out := make([]prefix, len(ps))
	for i, p := range ps {
		out[i] = prefix{p.s, false}
	}
	return out, ok
}

// classPrefixes expands a small character class into its characters.
func classPrefixes(ranges []rune) ([]prefix, bool) {
	var out []prefix
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			if len(out) == 16 {
				return nil, false
			}
			out = append(out, prefix{string(r), true})
		}
	}
	return out, len(out) > 0
}

package llamacpp

import "fmt"

// maxPatternNesting bounds the groups of a schema's pattern: llama.cpp's
// converter recurses once per group on the C stack.
const maxPatternNesting = 32

// checkPattern refuses a schema "pattern" that llama.cpp's converter
// (_visit_pattern in common/json-schema-to-grammar.cpp) would crash or
// hang on, by walking it the way the converter does:
//
//   - a quantifier (* + ? or {m,n}) with nothing before it in its group
//     (^*a, (+a)) makes it read the last element of an empty list;
//   - a ] or } outside a class or a repetition is neither a literal nor an
//     operator to it, so it loops forever without moving on;
//   - an empty pattern is read past its ends.
//
// Other malformed patterns make the converter fail cleanly.
func checkPattern(p string) error {
	if len(p) < 2 || p[0] != '^' || p[len(p)-1] != '$' {
		return fmt.Errorf("pattern %q must start with ^ and end with $", p)
	}
	w := patternWalk{s: p[1 : len(p)-1]}
	if err := w.group(0); err != nil {
		return fmt.Errorf("pattern %q: %w", p, err)
	}
	return nil
}

type patternWalk struct {
	s string
	i int
}

// group walks one group up to its closing parenthesis, or the whole
// pattern at depth 0, as one call of the converter's transform does.
func (w *patternWalk) group(depth int) error {
	if depth > maxPatternNesting {
		return fmt.Errorf("groups nested more than %d deep", maxPatternNesting)
	}
	empty := true // the converter's seq for this group
	for w.i < len(w.s) {
		switch c := w.s[w.i]; c {
		case '.', '|':
			w.i++
			empty = false
		case '(':
			w.i++
			if err := w.group(depth + 1); err != nil {
				return err
			}
			empty = false
		case ')':
			w.i++
			return nil
		case '[':
			w.skipClass()
			empty = false
		case '*', '+', '?':
			if empty {
				return fmt.Errorf("%q repeats nothing", c)
			}
			w.i++
		case '{':
			w.skipTo('}')
			if empty {
				return fmt.Errorf("a repetition {…} repeats nothing")
			}
		case ']', '}':
			return fmt.Errorf("unmatched %q", c)
		default:
			w.literal()
			empty = false
		}
	}
	return nil
}

func (w *patternWalk) skipClass() {
	w.i++
	for w.i < len(w.s) && w.s[w.i] != ']' {
		if w.s[w.i] == '\\' {
			w.i += 2
		} else {
			w.i++
		}
	}
	w.i++
}

func (w *patternWalk) skipTo(end byte) {
	for w.i < len(w.s) && w.s[w.i] != end {
		w.i++
	}
	w.i++
}

// literal consumes a run of literal characters as the converter does; the
// run is never empty when it starts at a character group does not handle.
func (w *patternWalk) literal() {
	some := false
	for w.i < len(w.s) {
		c := w.s[w.i]
		last := w.i == len(w.s)-1
		switch {
		case c == '\\' && !last:
			w.i += 2
		case c == '"':
			w.i++
		case !nonLiteral(c) && (last || !some || w.s[w.i+1] == '.' || !nonLiteral(w.s[w.i+1])):
			w.i++
		default:
			return
		}
		some = true
	}
}

func nonLiteral(c byte) bool {
	switch c {
	case '|', '.', '(', ')', '[', ']', '{', '}', '*', '+', '?':
		return true
	}
	return false
}

package gbnf

import (
	"fmt"
	"sort"
)

// MaxLeftmostVisits bounds the work of llama.cpp's left-recursion check,
// which walks leftmost references without remembering what it has already
// walked: a grammar whose alternatives share prefixes can make that walk
// exponential in the grammar's size, while the caller waits.
const MaxLeftmostVisits = 1 << 20

// checkDefined refuses references to rules the text never defines, as
// llama.cpp's parser does after reading the last rule.
func (g *Grammar) checkDefined() error {
	for id, rule := range g.rules {
		if len(rule) == 0 {
			return wholeErr(fmt.Sprintf("rule %q is used but not defined", g.name(uint32(id))))
		}
		for _, e := range rule {
			if e.typ == typeRuleRef && (int(e.value) >= len(g.rules) || len(g.rules[e.value]) == 0) {
				return wholeErr(fmt.Sprintf("rule %q is used but not defined", g.name(e.value)))
			}
		}
	}
	return nil
}

// name returns the name of rule id, for messages.
func (g *Grammar) name(id uint32) string {
	names := make([]string, 0, 1)
	for n, v := range g.symbols {
		if v == id {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Sprintf("#%d", id)
	}
	return names[0]
}

// checkLeftRecursion decides left recursion exactly as llama.cpp's
// llama_grammar_detect_left_recursion does, including its notion of a rule
// that "may be empty" (one with an empty alternative, not transitively),
// but remembers finished rules so that it runs in linear time. A rule
// finished without finding recursion cannot lead back to any rule in
// progress later, so skipping it does not change the answer. It then
// bounds the number of visits llama.cpp's own, unremembering walk makes.
func (g *Grammar) checkLeftRecursion() error {
	n := len(g.rules)
	w := &leftWalk{g: g, visited: make([]bool, n), inProgress: make([]bool, n), mayBeEmpty: make([]bool, n)}
	for i := range g.rules {
		if !w.visited[i] && w.recursive(i) {
			return wholeErr(fmt.Sprintf("rule %q is left-recursive: llama.cpp cannot sample from it", g.name(uint32(i))))
		}
	}
	if i, ok := g.nullableLeftRecursion(); ok {
		// llama.cpp's check misses it, and building the first stacks
		// recurses until the C stack overflows.
		return limitErr(fmt.Sprintf("rule %q is left-recursive through rules that may be empty", g.name(uint32(i))))
	}
	visits := make([]uint64, n)
	var total uint64
	for i := range g.rules {
		total += w.visits(i, visits)
		if total > MaxLeftmostVisits {
			return limitErr("the grammar's alternatives branch too much to be checked in reasonable time")
		}
	}
	return nil
}

type leftWalk struct {
	g                               *Grammar
	visited, inProgress, mayBeEmpty []bool
}

func endOfSequence(e element) bool { return e.typ == typeEnd || e.typ == typeAlt }

func (w *leftWalk) recursive(i int) bool {
	if w.inProgress[i] {
		return true
	}
	w.inProgress[i] = true
	rule := w.g.rules[i]
	atStart := true
	for _, e := range rule {
		if endOfSequence(e) {
			if atStart {
				w.mayBeEmpty[i] = true
				break
			}
			atStart = true
		} else {
			atStart = false
		}
	}
	for _, ref := range w.leftmost(rule) {
		if !w.visited[ref] && w.recursive(ref) {
			return true
		}
	}
	w.inProgress[i] = false
	w.visited[i] = true
	return false
}

// leftmost lists the references llama.cpp recurses into from rule: the
// first of each alternative, and the next ones while those before may be
// empty. Every rule it names has been visited by the time it is read past.
func (w *leftWalk) leftmost(rule []element) []int {
	var refs []int
	into := true
	for _, e := range rule {
		switch {
		case e.typ == typeRuleRef && into:
			refs = append(refs, int(e.value))
			into = w.visitedMayBeEmpty(int(e.value))
		case endOfSequence(e):
			into = true
		default:
			into = false
		}
	}
	return refs
}

// visitedMayBeEmpty reads mayBeEmpty for a rule, first walking it if
// needed: llama.cpp reads the flag right after recursing into the rule.
func (w *leftWalk) visitedMayBeEmpty(ref int) bool {
	if !w.visited[ref] && !w.inProgress[ref] {
		w.recursive(ref)
	}
	return w.mayBeEmpty[ref]
}

// visits counts the calls llama.cpp's walk makes from rule i, saturating
// past MaxLeftmostVisits. memo holds counts already known (0 = unknown).
func (w *leftWalk) visits(i int, memo []uint64) uint64 {
	if memo[i] != 0 {
		return memo[i]
	}
	total := uint64(1)
	for _, ref := range w.leftmost(w.g.rules[i]) {
		total += w.visits(ref, memo)
		if total > MaxLeftmostVisits {
			total = MaxLeftmostVisits + 1
			break
		}
	}
	memo[i] = total
	return total
}

// nullable reports, for every rule, whether it can match the empty text:
// through an empty alternative, or one made only of such rules.
func (g *Grammar) nullable() []bool {
	null := make([]bool, len(g.rules))
	for changed := true; changed; {
		changed = false
		for i, rule := range g.rules {
			if !null[i] && anyAlternative(rule, func(alt []element) bool {
				for _, e := range alt {
					if e.typ != typeRuleRef || !null[e.value] {
						return false
					}
				}
				return true
			}) {
				null[i], changed = true, true
			}
		}
	}
	return null
}

// anyAlternative reports whether ok holds for one of rule's alternatives.
func anyAlternative(rule []element, ok func([]element) bool) bool {
	start := 0
	for i, e := range rule {
		if endOfSequence(e) {
			if ok(rule[start:i]) {
				return true
			}
			start = i + 1
		}
	}
	return false
}

// nullableLeftRecursion finds left recursion as grammar theory defines it:
// a rule that can reach itself through references preceded only by rules
// that may match nothing. llama.cpp's check counts only rules with an
// empty alternative of their own as possibly empty.
func (g *Grammar) nullableLeftRecursion() (int, bool) {
	null := g.nullable()
	const (
		unseen = iota
		open
		done
	)
	state := make([]int, len(g.rules))
	var visit func(int) bool
	visit = func(i int) bool {
		state[i] = open
		into := true
		for _, e := range g.rules[i] {
			switch {
			case e.typ == typeRuleRef && into:
				if state[e.value] == open || state[e.value] == unseen && visit(int(e.value)) {
					return true
				}
				into = null[e.value]
			case endOfSequence(e):
				into = true
			default:
				into = false
			}
		}
		state[i] = done
		return false
	}
	for i := range g.rules {
		if state[i] == unseen && visit(i) {
			return i, true
		}
	}
	return 0, false
}

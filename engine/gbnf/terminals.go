package gbnf

import (
	"fmt"
	"unicode/utf8"
)

// char reads one character of a literal or class: an escape or one UTF-8
// encoded code point, as llama.cpp's parse_char does.
func (p *parser) char() (uint32, error) {
	if p.peek(0) != '\\' {
		r, size := utf8.DecodeRuneInString(p.src[p.pos:])
		if size == 0 {
			return 0, p.fail(errEnd.Error())
		}
		p.pos += size
		return uint32(r), nil
	}
	var digits int
	switch e := p.peek(1); e {
	case 'x':
		digits = 2
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	case 't', 'r', 'n':
		p.pos += 2
		return uint32(map[byte]byte{'t': '\t', 'r': '\r', 'n': '\n'}[e]), nil
	case '\\', '"', '[', ']':
		p.pos += 2
		return uint32(e), nil
	default:
		return 0, p.fail("unknown escape")
	}
	p.pos += 2
	var v uint32
	for i := range digits {
		d, ok := hexDigit(p.peek(0))
		if !ok {
			return 0, p.fail(fmt.Sprintf("expecting %d hex chars, found %d", digits, i))
		}
		v = v<<4 | d
		p.pos++
	}
	return v, nil
}

func hexDigit(c byte) (uint32, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint32(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint32(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

// class reads a character class [...] or [^...] onto rule. As in
// llama.cpp, an empty class adds nothing.
func (p *parser) class(rule []element) ([]element, error) {
	p.pos++
	first := typeChar
	if p.peek(0) == '^' {
		p.pos++
		first = typeCharNot
	}
	start := len(rule)
	for p.peek(0) != ']' {
		if p.pos >= len(p.src) {
			return nil, p.fail(errEnd.Error())
		}
		c, err := p.char()
		if err != nil {
			return nil, err
		}
		typ := first
		if start < len(rule) {
			typ = typeCharAlt
		}
		rule = append(rule, element{typ, c})
		if p.peek(0) == '-' && p.peek(1) != ']' {
			if p.pos+1 >= len(p.src) {
				return nil, p.fail(errEnd.Error())
			}
			p.pos++
			upper, err := p.char()
			if err != nil {
				return nil, err
			}
			rule = append(rule, element{typeRngUpper, upper})
		}
	}
	p.pos++
	return rule, nil
}

// repeat rewrites the item at rule[from:] for a repetition of lo to hi
// times, as llama.cpp's handle_repetitions does:
//
//	S{m,n} --> S S S (m times) S'(n-m)
//	           S'(x) ::= S S'(x-1) |  ...  S'(1) ::= S |
//	S{m,}  --> S S S (m times) S'
//	           S' ::= S S' |
func (p *parser) repeat(ruleName string, rule []element, from int, lo, hi uint64) ([]element, error) {
	if from == len(rule) {
		return nil, p.fail("expecting an item before */+/?/{")
	}
	if hi < lo {
		// llama.cpp computes hi-lo in unsigned arithmetic and loops
		// almost 2^64 times, allocating a rule each time.
		return nil, p.limit(fmt.Sprintf("repetition {%d,%d} has its maximum below its minimum", lo, hi))
	}
	item := append([]element(nil), rule[from:]...)
	optional := uint64(1)
	if hi != noMax {
		optional = hi - lo
	}
	// Count before building: the copies are what can grow without bound.
	copies := uint64(0)
	if lo > 1 {
		copies = lo - 1
	}
	generated := optional * uint64(len(item)+3)
	if uint64(p.elements+len(rule))+copies*uint64(len(item))+generated > MaxElements {
		return nil, limitErr(fmt.Sprintf("the grammar expands to more than %d elements", MaxElements))
	}
	p.elements += int(generated)
	if lo == 0 {
		rule = rule[:from]
	} else {
		for i := uint64(1); i < lo; i++ {
			rule = append(rule, item...)
		}
	}
	var last uint32
	for i := uint64(0); i < optional; i++ {
		rec := append([]element(nil), item...)
		id := p.generatedID(ruleName)
		switch {
		case hi == noMax:
			rec = append(rec, element{typeRuleRef, id})
		case i > 0:
			rec = append(rec, element{typeRuleRef, last})
		}
		rec = append(rec, element{typeAlt, 0}, element{typeEnd, 0})
		p.addRule(id, rec)
		last = id
	}
	if optional > 0 {
		rule = append(rule, element{typeRuleRef, last})
	}
	return rule, nil
}

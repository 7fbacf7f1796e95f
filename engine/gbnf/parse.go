// Package gbnf reads the GBNF grammars that constrain sampling exactly as
// llama.cpp's parser reads them, so that Warden can refuse in Go every
// grammar llama.cpp would fail on. llama.cpp does not report such failures
// to its caller: a grammar it cannot parse, or one with left recursion,
// leaves a null sampler in the chain and the next sampling step crashes the
// process; a grammar whose characters no token can produce trips an assert.
//
// Parse mirrors llama_grammar_parser (src/llama-grammar.cpp of the pinned
// llama.cpp), including how it expands repetitions into rules and numbers
// them, because left recursion is decided on the expanded rules. It is
// stricter where strictness costs nothing: token references (<...>), which
// Warden never writes, invalid UTF-8 and NUL bytes are refused.
package gbnf

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Limits of what Parse accepts. llama.cpp's parser and matcher recurse and
// expand without bounds of their own; these keep both small.
const (
	// MaxRepetition is llama.cpp's MAX_REPETITION_THRESHOLD: a larger
	// {m,n} count makes its parser throw.
	MaxRepetition = 2000
	// MaxBytes bounds the grammar text.
	MaxBytes = 1 << 20
	// MaxElements bounds the expanded grammar: repetitions copy their
	// operand once per count, so a short text can expand a lot.
	MaxElements = 1 << 20
	// MaxNesting bounds parentheses, through which llama.cpp's parser
	// recurses on the C stack.
	MaxNesting = 64
)

// elemType numbers grammar elements as llama.cpp's llama_gretype does.
type elemType uint8

const (
	typeEnd      elemType = iota // end of a rule
	typeAlt                      // start of an alternative
	typeRuleRef                  // non-terminal: value is a rule id
	typeChar                     // terminal: value is a code point
	typeCharNot                  // inverse char(s) ([^a], [^a-b] [^abc])
	typeRngUpper                 // upper bound of the range started by the previous char
	typeCharAlt                  // another char of the set started by typeChar or typeCharNot
	typeCharAny                  // any character (.)
)

type element struct {
	typ   elemType
	value uint32
}

// Grammar is a parsed grammar: its rules, expanded as llama.cpp expands
// them, and the names of the rules the text defines or refers to.
type Grammar struct {
	rules   [][]element
	symbols map[string]uint32
}

// Error is a grammar llama.cpp would refuse or could not run safely.
type Error struct {
	Offset int // byte offset in the text, or -1 when the grammar as a whole is at fault
	Reason string
	// Limit is set when llama.cpp would take the grammar but Warden does
	// not: it is beyond a limit above, or would make llama.cpp loop.
	Limit bool
}

// wholeErr is an error of the grammar as a whole; limitErr one beyond a limit.
func wholeErr(reason string) *Error { return &Error{Offset: -1, Reason: reason} }
func limitErr(reason string) *Error { return &Error{Offset: -1, Reason: reason, Limit: true} }

func (e *Error) Error() string {
	if e.Offset < 0 {
		return e.Reason
	}
	return fmt.Sprintf("%s at byte %d", e.Reason, e.Offset)
}

// Parse reads a GBNF grammar whose start rule is root, and checks it for
// everything llama.cpp would refuse: syntax, undefined rules, repetitions
// over its limit, a missing root, and left recursion.
func Parse(src string) (*Grammar, error) {
	switch {
	case len(src) > MaxBytes:
		return nil, limitErr(fmt.Sprintf("the grammar has %d bytes, more than the limit of %d", len(src), MaxBytes))
	case !utf8.ValidString(src):
		return nil, limitErr("the grammar is not valid UTF-8")
	}
	p := &parser{src: src, symbols: map[string]uint32{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	g := &Grammar{rules: p.rules, symbols: p.symbols}
	if err := g.checkDefined(); err != nil {
		return nil, err
	}
	if _, ok := g.symbols["root"]; !ok {
		return nil, wholeErr("the grammar has no root rule")
	}
	if err := g.checkLeftRecursion(); err != nil {
		return nil, err
	}
	return g, nil
}

// parser holds llama_grammar_parser's state: symbol ids are handed out in
// order of first appearance, and generated rules share the same counter.
type parser struct {
	src      string
	pos      int
	symbols  map[string]uint32
	rules    [][]element
	elements int // across all rules, for MaxElements
	depth    int // parentheses open
}

var errEnd = errors.New("unexpected end of input")

func (p *parser) fail(reason string) error { return &Error{Offset: p.pos, Reason: reason} }
func (p *parser) limit(reason string) error {
	return &Error{Offset: p.pos, Reason: reason, Limit: true}
}

func (p *parser) peek(off int) byte {
	if p.pos+off < len(p.src) {
		return p.src[p.pos+off]
	}
	return 0
}

func (p *parser) parse() error {
	if bytesIndexNUL(p.src) >= 0 {
		return &Error{Offset: bytesIndexNUL(p.src), Reason: "NUL byte in the grammar", Limit: true}
	}
	p.space(true)
	for p.pos < len(p.src) {
		if err := p.rule(); err != nil {
			return err
		}
	}
	return nil
}

func bytesIndexNUL(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

// space skips blanks and comments, and newlines where they are allowed:
// inside parentheses and after ::= and |.
func (p *parser) space(newlineOK bool) {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\r' && p.src[p.pos] != '\n' {
				p.pos++
			}
		case newlineOK && (c == '\r' || c == '\n'):
			p.pos++
		default:
			return
		}
	}
}

func isWordChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || '0' <= c && c <= '9'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (p *parser) name() (string, error) {
	start := p.pos
	for p.pos < len(p.src) && isWordChar(p.src[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.fail("expecting a rule name")
	}
	return p.src[start:p.pos], nil
}

// symbolID is llama.cpp's get_symbol_id: the id of a name, new names
// numbered in order.
func (p *parser) symbolID(name string) uint32 {
	if id, ok := p.symbols[name]; ok {
		return id
	}
	id := uint32(len(p.symbols))
	p.symbols[name] = id
	return id
}

// generatedID is llama.cpp's generate_symbol_id, quirks included: the name
// base_N may already exist, in which case the map does not grow and the
// next generated id repeats. Mirroring it keeps rule ids identical.
func (p *parser) generatedID(base string) uint32 {
	id := uint32(len(p.symbols))
	p.symbols[base+"_"+strconv.FormatUint(uint64(id), 10)] = id
	return id
}

func (p *parser) addRule(id uint32, rule []element) {
	for uint32(len(p.rules)) <= id {
		p.rules = append(p.rules, nil)
	}
	p.rules[id] = rule
}

func (p *parser) rule() error {
	name, err := p.name()
	if err != nil {
		return err
	}
	p.space(false)
	id := p.symbolID(name)
	if p.src[p.pos:min(p.pos+3, len(p.src))] != "::=" {
		return p.fail("expecting ::=")
	}
	p.pos += 3
	p.space(true)
	if err := p.alternates(name, id, false); err != nil {
		return err
	}
	switch p.peek(0) {
	case '\r':
		p.pos++
		if p.peek(0) == '\n' {
			p.pos++
		}
	case '\n':
		p.pos++
	case 0:
	default:
		return p.fail("expecting newline or end")
	}
	p.space(true)
	return nil
}

func (p *parser) alternates(ruleName string, id uint32, nested bool) error {
	var rule []element
	var err error
	if rule, err = p.sequence(ruleName, rule, nested); err != nil {
		return err
	}
	for p.peek(0) == '|' {
		rule = append(rule, element{typeAlt, 0})
		p.pos++
		p.space(true)
		if rule, err = p.sequence(ruleName, rule, nested); err != nil {
			return err
		}
	}
	rule = append(rule, element{typeEnd, 0})
	if err := p.count(len(rule)); err != nil {
		return err
	}
	p.addRule(id, rule)
	return nil
}

// count adds n elements to the running total and checks MaxElements.
func (p *parser) count(n int) error {
	p.elements += n
	if p.elements > MaxElements {
		return limitErr(fmt.Sprintf("the grammar expands to more than %d elements", MaxElements))
	}
	return nil
}

func (p *parser) sequence(ruleName string, rule []element, nested bool) ([]element, error) {
	lastSymStart := len(rule)
	for p.pos < len(p.src) {
		var err error
		switch c := p.src[p.pos]; {
		case c == '"':
			p.pos++
			lastSymStart = len(rule)
			for p.peek(0) != '"' {
				if p.pos >= len(p.src) {
					return nil, p.fail(errEnd.Error())
				}
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				rule = append(rule, element{typeChar, r})
			}
			p.pos++
			p.space(nested)
		case c == '[':
			lastSymStart = len(rule)
			if rule, err = p.class(rule); err != nil {
				return nil, err
			}
			p.space(nested)
		case c == '<' || c == '!':
			return nil, p.limit("token references are not allowed")
		case isWordChar(c):
			name, _ := p.name()
			ref := p.symbolID(name)
			p.space(nested)
			lastSymStart = len(rule)
			rule = append(rule, element{typeRuleRef, ref})
		case c == '(':
			if p.depth++; p.depth > MaxNesting {
				return nil, p.limit(fmt.Sprintf("parentheses nested more than %d deep", MaxNesting))
			}
			p.pos++
			p.space(true)
			sub := p.generatedID(ruleName)
			if err := p.alternates(ruleName, sub, true); err != nil {
				return nil, err
			}
			p.depth--
			lastSymStart = len(rule)
			rule = append(rule, element{typeRuleRef, sub})
			if p.peek(0) != ')' {
				return nil, p.fail("expecting ')'")
			}
			p.pos++
			p.space(nested)
		case c == '.':
			lastSymStart = len(rule)
			rule = append(rule, element{typeCharAny, 0})
			p.pos++
			p.space(nested)
		case c == '*' || c == '+' || c == '?':
			p.pos++
			p.space(nested)
			lo, hi := uint64(0), noMax
			if c == '+' {
				lo = 1
			} else if c == '?' {
				hi = 1
			}
			if rule, err = p.repeat(ruleName, rule, lastSymStart, lo, hi); err != nil {
				return nil, err
			}
		case c == '{':
			p.pos++
			p.space(nested)
			lo, hi, err := p.counts(nested)
			if err != nil {
				return nil, err
			}
			if rule, err = p.repeat(ruleName, rule, lastSymStart, lo, hi); err != nil {
				return nil, err
			}
		default:
			return rule, nil
		}
	}
	return rule, nil
}

// noMax marks a repetition without an upper bound, as llama.cpp's
// UINT64_MAX does.
const noMax = ^uint64(0)

// counts reads the m,n of a {m,n} repetition after its brace.
func (p *parser) counts(nested bool) (lo, hi uint64, err error) {
	if !isDigit(p.peek(0)) {
		return 0, 0, p.fail("expecting an int")
	}
	if lo, err = p.int(); err != nil {
		return 0, 0, err
	}
	p.space(nested)
	hi = noMax
	switch p.peek(0) {
	case '}':
		hi = lo
	case ',':
		p.pos++
		p.space(nested)
		if isDigit(p.peek(0)) {
			if hi, err = p.int(); err != nil {
				return 0, 0, err
			}
			p.space(nested)
		}
		if p.peek(0) != '}' {
			return 0, 0, p.fail("expecting '}'")
		}
	default:
		return 0, 0, p.fail("expecting ','")
	}
	p.pos++
	p.space(nested)
	if lo > MaxRepetition || hi != noMax && hi > MaxRepetition {
		return 0, 0, p.fail(fmt.Sprintf("a repetition count over %d", MaxRepetition))
	}
	return lo, hi, nil
}

func (p *parser) int() (uint64, error) {
	start := p.pos
	for isDigit(p.peek(0)) {
		p.pos++
	}
	n, err := strconv.ParseUint(p.src[start:p.pos], 10, 64)
	if err != nil { // more digits than llama.cpp's stoul takes: it throws too
		return 0, &Error{Offset: start, Reason: "repetition count out of range"}
	}
	return n, nil
}

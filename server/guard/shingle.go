package guard

import (
	"unicode"
	"unicode/utf8"
)

// Prompt overlap is found on words, after normalising both sides the same
// way: a word is a run of letters, digits and combining marks, lower-cased;
// everything else (spaces, line breaks, punctuation, symbols) only
// separates words. So a reply that re-cases, re-punctuates or re-flows
// the system prompt still matches it word for word.

// wordGap is the most separator bytes between two words of a shingle:
// enough for punctuation, markup and a paragraph break, and a bound on
// what a reply padded with spaces makes the detector hold.
const wordGap = 32

// fnv64 constants (FNV-1a), for word hashes.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// seqBase is the base of the polynomial hash of a word sequence:
// H(w1..wk) = w1·B^(k-1) + … + wk (mod 2^64).
const seqBase = 0x9e3779b97f4a7c15 | 1

// seqKey folds a sequence hash and its length into one set key.
func seqKey(h uint64, k int) uint64 {
	x := h + uint64(k)*0xbf58476d1ce4e5b9
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	return x ^ x>>29
}

// wordScanner splits a stream of runes into words and hashes each one.
type wordScanner struct {
	limit  int // a word longer than this (in runes) is dead: 0 means no limit
	inWord bool
	dead   bool
	start  int64 // offset of the word's first byte
	runes  int
	hash   uint64
	onWord func(hash uint64, start, end int64, runes int, dead bool)
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// rune feeds one rune that begins at offset off.
func (w *wordScanner) rune(r rune, off int64) {
	if !isWordRune(r) {
		w.end(off)
		return
	}
	if !w.inWord {
		w.inWord, w.dead, w.start, w.runes, w.hash = true, false, off, 0, fnvOffset
	}
	w.runes++
	if w.limit > 0 && w.runes > w.limit {
		w.dead = true // no system-prompt word is this long: it cannot be in a shingle
		return
	}
	r = unicode.ToLower(r)
	if r < utf8.RuneSelf {
		w.hash = (w.hash ^ uint64(r)) * fnvPrime
		return
	}
	var b [utf8.UTFMax]byte
	for _, c := range b[:utf8.EncodeRune(b[:], r)] {
		w.hash = (w.hash ^ uint64(c)) * fnvPrime
	}
}

// end completes the word in progress, if any, at offset off.
func (w *wordScanner) end(off int64) {
	if w.inWord {
		w.inWord = false
		w.onWord(w.hash, w.start, off, w.runes, w.dead)
	}
}

// shingles is the set of a system prompt's word n-grams, and of their
// prefixes (k-grams, k < n, that begin an n-gram), so a streaming reader
// holds back only words that could still grow into a match.
type shingles struct {
	n       int
	set     map[uint64]int32 // seqKey → index of the prompt (first one that has it)
	maxWord int              // the prompts' longest word, in runes
	pow     []uint64         // seqBase^i, i < n
}

func newShingles(prompts []string, n int) *shingles {
	sh := &shingles{n: n, pow: make([]uint64, n)}
	sh.pow[0] = 1
	for i := 1; i < n; i++ {
		sh.pow[i] = sh.pow[i-1] * seqBase
	}
	total := 0
	for _, p := range prompts {
		total += len(p) / 5
	}
	sh.set = make(map[uint64]int32, total*n)
	var words []uint64
	for pi, p := range prompts {
		words = words[:0]
		ws := wordScanner{onWord: func(h uint64, _, _ int64, runes int, _ bool) {
			words = append(words, h)
			sh.maxWord = max(sh.maxWord, runes)
		}}
		for _, r := range p {
			ws.rune(r, 0)
		}
		ws.end(0)
		sh.add(words, int32(pi))
	}
	return sh
}

// add puts every n-gram of words, and each of its proper prefixes, in the
// set. A prompt shorter than n words adds nothing.
func (sh *shingles) add(words []uint64, prompt int32) {
	for a := 0; a+sh.n <= len(words); a++ {
		h := uint64(0)
		for k := 1; k <= sh.n; k++ {
			h = h*seqBase + words[a+k-1]
			if _, ok := sh.set[seqKey(h, k)]; !ok {
				sh.set[seqKey(h, k)] = prompt
			}
		}
	}
}

// empty reports whether there is nothing to find.
func (sh *shingles) empty() bool { return len(sh.set) == 0 }

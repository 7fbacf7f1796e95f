package guard

import (
	"fmt"
	"unicode/utf8"
)

// outWords follows the reply's words against a system prompt's shingles.
type outWords struct {
	d      *LeakDetector
	sh     *shingles
	ws     wordScanner
	hashes []uint64 // the last n complete words, a ring
	starts []int64  // their offsets
	head   int      // the ring's next slot
	count  int      // live words in the ring
	prefix int64    // first byte of the longest word suffix that begins a shingle; -1 if none
	end    int64    // offset after the last complete word

	rb     [utf8.UTFMax]byte // a rune split between pieces
	rn     int
	rstart int64
}

func (o *outWords) init(d *LeakDetector, sh *shingles) {
	o.d, o.sh, o.prefix = d, sh, -1
	if sh.empty() {
		return
	}
	o.hashes = make([]uint64, sh.n)
	o.starts = make([]int64, sh.n)
	o.ws = wordScanner{limit: sh.maxWord, onWord: o.word}
}

// byte feeds one byte at offset off, decoding runes across pieces.
func (o *outWords) byte(off int64, c byte) {
	if o.sh.empty() {
		return
	}
	if o.rn == 0 && c < utf8.RuneSelf {
		o.ws.rune(rune(c), off)
		return
	}
	if o.rn == 0 {
		o.rstart = off
	}
	o.rb[o.rn] = c
	o.rn++
	for o.rn > 0 && utf8.FullRune(o.rb[:o.rn]) {
		o.decodeOne()
	}
}

// decodeOne feeds the first rune of rb (RuneError for a bad byte).
func (o *outWords) decodeOne() {
	r, size := utf8.DecodeRune(o.rb[:o.rn])
	o.ws.rune(r, o.rstart)
	copy(o.rb[:], o.rb[size:o.rn])
	o.rn -= size
	o.rstart += int64(size)
}

// finish ends the stream: a cut-off rune is a separator, the last word
// is complete.
func (o *outWords) finish() {
	if o.sh.empty() {
		return
	}
	for o.rn > 0 {
		o.decodeOne()
	}
	o.ws.end(o.d.pos)
}

// word takes one complete word: it reports a shingle the last n words
// form, and notes the longest suffix that could still grow into one.
func (o *outWords) word(h uint64, start, end int64, _ int, dead bool) {
	o.prefix = -1
	if dead || start-o.end > wordGap {
		o.count = 0 // no shingle runs through a word longer than any prompt word, or a long gap
	}
	o.end = end
	if dead {
		return
	}
	n := o.sh.n
	o.hashes[o.head], o.starts[o.head] = h, start
	o.head = (o.head + 1) % n
	o.count = min(o.count+1, n)
	var s uint64
	for k := 1; k <= o.count; k++ {
		i := (o.head - k + n) % n
		s += o.hashes[i] * o.sh.pow[k-1] // H(w_i..w_last), built right to left
		prompt, ok := o.sh.set[seqKey(s, k)]
		switch {
		case !ok:
		case k == n:
			o.d.found(KindPromptLeak, o.starts[i], fmt.Sprintf("ngram=%d prompt=%d", n, prompt))
		default:
			o.prefix = o.starts[i]
		}
	}
}

// hold is the first byte that a shingle in progress may include, or -1.
func (o *outWords) hold() int64 {
	next := o.d.pos // where the next word can begin at the earliest
	switch {
	case o.ws.inWord:
		next = o.ws.start
	case o.rn > 0:
		next = o.rstart
	}
	if o.ws.inWord && o.ws.dead || next-o.end > wordGap {
		o.prefix = -1 // the run is broken: nothing before here can join a shingle
	}
	switch {
	case o.sh.empty():
		return -1
	case o.prefix >= 0:
		return o.prefix
	case o.ws.inWord && !o.ws.dead:
		return o.ws.start
	case o.rn > 0 && !o.ws.inWord:
		return o.rstart
	}
	return -1
}

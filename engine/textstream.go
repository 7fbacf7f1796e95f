package engine

import (
	"strings"
	"unicode/utf8"
)

// TextStream turns token pieces into text a client can be sent at once.
//
// Token pieces are bytes, not characters: a byte-fallback tokenizer may split
// one character over several tokens, and a stop string may span tokens. The
// stream holds back an incomplete UTF-8 sequence until it completes (bytes
// that can never become valid are replaced with U+FFFD) and holds back any
// tail that could still grow into a stop string, so emitted text is always
// valid UTF-8 and never contains part of a stop string that then matches.
type TextStream struct {
	stops   []string
	partial []byte // start of a UTF-8 sequence still missing bytes
	held    string // decoded text that may be the start of a stop string
}

// NewTextStream returns a stream that ends at the first of stops.
func NewTextStream(stops []string) *TextStream {
	return &TextStream{stops: stops}
}

// Add appends a piece and returns the text now safe to emit. stopped is true
// when a stop string was found: text is everything before it and the
// stream must not be used further.
func (s *TextStream) Add(piece string) (text string, stopped bool) {
	s.partial = append(s.partial, piece...)
	s.held += s.decode()

	cut := -1
	for _, stop := range s.stops {
		if i := strings.Index(s.held, stop); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		text, s.held = s.held[:cut], ""
		return text, true
	}

	keep := s.stopPrefixLen()
	text, s.held = s.held[:len(s.held)-keep], s.held[len(s.held)-keep:]
	return text, false
}

// Flush returns whatever is held back, at the end of generation. A sequence
// that never completed becomes U+FFFD.
func (s *TextStream) Flush() string {
	text := s.held
	if len(s.partial) > 0 {
		text += string(utf8.RuneError)
	}
	s.held, s.partial = "", nil
	return text
}

// decode consumes the complete characters at the front of s.partial.
func (s *TextStream) decode() string {
	var b strings.Builder
	p := s.partial
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(p) {
				break // a valid start, waiting for its continuation bytes
			}
			b.WriteRune(utf8.RuneError)
			p = p[1:]
			continue
		}
		b.Write(p[:size])
		p = p[size:]
	}
	s.partial = append(s.partial[:0], p...)
	return b.String()
}

// stopPrefixLen is the length of the longest suffix of s.held that is a
// proper prefix of a stop string. Such a suffix starts where the stop string
// starts, so it never splits a character.
func (s *TextStream) stopPrefixLen() int {
	longest := 0
	for _, stop := range s.stops {
		for n := min(len(stop)-1, len(s.held)); n > longest; n-- {
			if strings.HasSuffix(s.held, stop[:n]) {
				longest = n
				break
			}
		}
	}
	return longest
}

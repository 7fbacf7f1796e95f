package guard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// InvisibleMode is what the guard does with characters a human reviewer
// cannot see: Unicode tag characters, zero-width characters and bidi
// controls.
type InvisibleMode string

// The invisible-text modes.
const (
	InvisibleStrip  InvisibleMode = "strip"  // remove them and report (the default)
	InvisibleReject InvisibleMode = "reject" // refuse the request and report
	InvisibleOff    InvisibleMode = "off"    // neither look nor report
)

// ParseInvisibleMode reads a configured mode; the empty string is the
// default, strip.
func ParseInvisibleMode(s string) (InvisibleMode, error) {
	switch m := InvisibleMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return InvisibleStrip, nil
	case InvisibleStrip, InvisibleReject, InvisibleOff:
		return m, nil
	}
	return "", fmt.Errorf("guard: invisible-text mode %q: want strip, reject or off", s)
}

// ErrInvisibleText is returned (wrapped, with where the text was) when
// the mode is reject and the text holds invisible characters.
var ErrInvisibleText = errors.New("text holds invisible characters")

// InvisibleCounts counts the invisible characters of one text by category.
type InvisibleCounts struct {
	Tags      int // U+E0000–U+E007F: the "ASCII smuggling" alphabet
	ZeroWidth int // U+200B–U+200D, U+2060, U+FEFF (not as a leading BOM), U+180E
	Bidi      int // U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C
}

// Total is the number of invisible characters found.
func (c InvisibleCounts) Total() int { return c.Tags + c.ZeroWidth + c.Bidi }

// String is the content-free Detail of an invisible-text event.
func (c InvisibleCounts) String() string {
	b := make([]byte, 0, 40)
	b = append(b, "tags="...)
	b = strconv.AppendInt(b, int64(c.Tags), 10)
	b = append(b, " zero_width="...)
	b = strconv.AppendInt(b, int64(c.ZeroWidth), 10)
	b = append(b, " bidi="...)
	b = strconv.AppendInt(b, int64(c.Bidi), 10)
	return string(b)
}

type invisibleClass uint8

const (
	visible invisibleClass = iota
	classTag
	classZeroWidth
	classBidi
)

// classify says whether r is one of the characters the guard removes.
// U+200C/U+200D (ZWNJ/ZWJ) have honest uses (emoji sequences, Persian and
// Indic orthography); removing them changes rendering, not meaning, and
// they are also the commonest carriers of hidden payloads, so they go too.
func classify(r rune) invisibleClass {
	switch {
	case r >= 0xE0000 && r <= 0xE007F:
		return classTag
	case r >= 0x200B && r <= 0x200D, r == 0x2060, r == 0xFEFF, r == 0x180E:
		return classZeroWidth
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x200E, r == 0x200F, r == 0x061C:
		return classBidi
	}
	return visible
}

// mayBeInvisible reports whether a byte can start the UTF-8 encoding of
// an invisible character (U+061C: D8, U+180E: E1, U+200B–U+206F: E2,
// U+FEFF: EF, U+E00xx: F3). It keeps the scan of ordinary text, ASCII or
// not, to one byte comparison per byte.
func mayBeInvisible(b byte) bool {
	return b == 0xD8 || b == 0xE1 || b == 0xE2 || b == 0xEF || b == 0xF3
}

// ScanInvisible returns s without its invisible characters, the ASCII
// that any tag characters smuggle (U+E0041 is 'A'; the language tag
// U+E0001 and the cancel tag U+E007F carry none), and the counts. A
// leading U+FEFF is a byte-order mark left by an editor, not hidden
// content: it is dropped from clean but not counted.
//
// When nothing is found, s itself is returned and nothing is allocated.
// Otherwise clean is built afresh and any invalid UTF-8 byte in s becomes
// U+FFFD in it: removing a character must never join the fragments either
// side of it into a character, least of all an invisible one.
func ScanInvisible(s string) (clean, smuggled string, counts InvisibleCounts) {
	var (
		out  []byte
		tags []byte
		last int // s[last:i] is not yet copied to out
	)
	for i := 0; i < len(s); {
		if !mayBeInvisible(s[i]) {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		class := classify(r)
		if class == visible {
			i += size
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(s))
		}
		out = appendValid(out, s[last:i])
		last = i + size
		switch {
		case class == classTag:
			counts.Tags++
			if r >= 0xE0020 && r <= 0xE007E {
				tags = append(tags, byte(r-0xE0000))
			}
		case class == classZeroWidth && r == 0xFEFF && i == 0:
			// a byte-order mark: dropped, not counted
		case class == classZeroWidth:
			counts.ZeroWidth++
		default:
			counts.Bidi++
		}
		i += size
	}
	if out == nil {
		return s, "", counts
	}
	out = appendValid(out, s[last:])
	return string(out), string(tags), counts
}

// appendValid appends s to b with each invalid UTF-8 byte replaced by
// U+FFFD.
func appendValid(b []byte, s string) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[:size]...)
		}
		s = s[size:]
	}
	return b
}

// FilterInvisible applies mode to one text (a message, a retrieved chunk,
// a tool result). where names it in the event, never its content. It
// returns the text to use (cleaned under strip, unchanged otherwise), the
// ASCII smuggled in tag characters, which the caller should pass to
// Detect as well, and at most one event. Under reject, a text that holds
// invisible characters yields an error wrapping ErrInvisibleText.
func FilterInvisible(mode InvisibleMode, where, text string) (out, smuggled string, events []Event, err error) {
	if mode == InvisibleOff {
		return text, "", nil, nil
	}
	clean, smuggled, counts := ScanInvisible(text)
	if counts.Total() == 0 {
		// Nothing hidden; clean may still differ by a leading BOM.
		if mode == InvisibleReject {
			return text, "", nil, nil
		}
		return clean, "", nil, nil
	}
	ev := Event{Kind: KindInvisible, Action: ActionStrip, Score: 1, Where: where, Detail: counts.String()}
	if mode == InvisibleReject {
		ev.Action = ActionReject
		return text, smuggled, []Event{ev}, fmt.Errorf("guard: %s: %w (%s)", where, ErrInvisibleText, ev.Detail)
	}
	return clean, smuggled, []Event{ev}, nil
}

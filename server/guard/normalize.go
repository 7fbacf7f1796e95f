package guard

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// quoteMark stands, in normalised text, for any quotation mark of the
// original, so that a rule can tell a phrasing quoted for discussion from
// one addressed to the model.
const quoteMark = '"'

// foldLatin maps the accented Latin letters of French, German and Spanish
// (and their neighbours) to their base letters. It is a hand table rather
// than golang.org/x/text/unicode/norm because the module only has x/text
// indirectly, and a table lookup costs nothing on the request path;
// decomposed accents (e + U+0301) are handled by dropping combining marks.
var foldLatin = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'æ': "ae",
	'ç': "c", 'è': "e", 'é': "e", 'ê': "e", 'ë': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ñ': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'œ': "oe",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ý': "y", 'ÿ': "y", 'ß': "ss",
	'ā': "a", 'ă': "a", 'ą': "a", 'ć': "c", 'č': "c", 'ď': "d", 'ē': "e",
	'ė': "e", 'ę': "e", 'ě': "e", 'ğ': "g", 'ī': "i", 'į': "i", 'ı': "i",
	'ł': "l", 'ń': "n", 'ň': "n", 'ō': "o", 'ő': "o", 'ř': "r", 'ś': "s",
	'ş': "s", 'š': "s", 'ţ': "t", 'ť': "t", 'ū': "u", 'ů': "u", 'ű': "u",
	'ź': "z", 'ż': "z", 'ž': "z",
}

// leet maps the digits and signs of "leetspeak-light" to letters, for the
// second pass of Detect.
func leet(r rune) rune {
	switch r {
	case '0':
		return 'o'
	case '1':
		return 'i'
	case '3':
		return 'e'
	case '4', '@':
		return 'a'
	case '5', '$':
		return 's'
	case '7':
		return 't'
	}
	return r
}

// hasLeet reports whether s holds any character leet would change; when
// it holds none, the second pass would see the same text and is skipped.
func hasLeet(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '0', '1', '3', '4', '@', '5', '$', '7':
			return true
		}
	}
	return false
}

// isQuote reports whether r is a double or typographic quotation mark.
func isQuote(r rune) bool {
	switch r {
	case '"', '`', '“', '”', '„', '«', '»', '‹', '›', '「', '」':
		return true
	}
	return false
}

// isApostrophe reports whether r is an apostrophe or single quote.
func isApostrophe(r rune) bool { return r == '\'' || r == '’' || r == '‘' || r == 'ʼ' }

// normalize returns s case-folded, with Latin accents removed, format
// characters (zero-width, soft hyphen, bidi) and combining marks dropped
// so that they cannot split a word, quotation marks kept as quoteMark,
// and every other run of spaces and punctuation made one space. The
// result starts and ends with a space, so rules can match whole words
// with literal spaces. With withLeet, digits and signs that leetspeak
// uses for letters are read as those letters first.
func normalize(s string, withLeet bool) string {
	out := make([]byte, 1, len(s)+2)
	out[0] = ' '
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if withLeet {
			r = leet(r)
		}
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
			out = append(out, byte(r))
		case r >= 'A' && r <= 'Z':
			out = append(out, byte(r+'a'-'A'))
		case isQuote(r):
			out = appendSep(out, quoteMark)
		case isApostrophe(r):
			out = appendApostrophe(out, s, i+size)
		case r >= utf8.RuneSelf && (unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r)):
			// format characters and combining marks: dropped, not spaces
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			out = appendLetter(out, r)
		default:
			out = appendSep(out, ' ')
		}
		i += size
	}
	if out[len(out)-1] != ' ' {
		out = append(out, ' ')
	}
	return string(out)
}

// appendLetter appends a non-ASCII letter lower-cased and accent-folded.
func appendLetter(out []byte, r rune) []byte {
	r = unicode.ToLower(r)
	if f, ok := foldLatin[r]; ok {
		return append(out, f...)
	}
	return utf8.AppendRune(out, r)
}

// appendSep appends a separator: one space, or a quote mark with a space
// either side, never two spaces in a row.
func appendSep(out []byte, sep byte) []byte {
	if out[len(out)-1] != ' ' {
		out = append(out, ' ')
	}
	if sep == ' ' {
		return out
	}
	return append(out, sep, ' ')
}

// appendApostrophe treats an apostrophe between letters ("don't",
// "l'instruction") as a word break and one at the edge of a word as a
// single quotation mark ('ignore previous instructions').
func appendApostrophe(out []byte, s string, next int) []byte {
	prevLetter := out[len(out)-1] != ' '
	nextLetter := false
	if next < len(s) {
		r, _ := utf8.DecodeRuneInString(s[next:])
		nextLetter = unicode.IsLetter(r) || unicode.IsDigit(r)
	}
	if prevLetter && nextLetter {
		return appendSep(out, ' ')
	}
	return appendSep(out, quoteMark)
}

// collapseSpaced joins runs of four or more one-letter words, so that
// "i g n o r e all" reads "ignore all". It returns "" when norm has no
// such run, so the caller can skip a pass that would see the same text.
func collapseSpaced(norm string) string {
	if !hasSpacedRun(norm) {
		return ""
	}
	words := strings.Fields(norm)
	var b strings.Builder
	b.Grow(len(norm))
	b.WriteByte(' ')
	for i := 0; i < len(words); {
		j := i
		for j < len(words) && len(words[j]) == 1 {
			j++
		}
		if j-i < 4 {
			j = i + 1
		}
		for _, w := range words[i:j] {
			b.WriteString(w)
		}
		b.WriteByte(' ')
		i = j
	}
	return b.String()
}

// hasSpacedRun reports whether norm holds four one-letter words in a row.
func hasSpacedRun(norm string) bool {
	run := 0
	for i := 1; i+1 < len(norm); i++ {
		if norm[i] == ' ' {
			continue
		}
		if norm[i-1] == ' ' && norm[i+1] == ' ' {
			if run++; run >= 4 {
				return true
			}
			continue
		}
		run = 0
		for i+1 < len(norm) && norm[i+1] != ' ' {
			i++
		}
	}
	return false
}

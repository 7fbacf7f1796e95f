package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// findEmails finds e-mail addresses around each '@': a local part of the
// usual unquoted characters or of letters in any script (RFC 6531), then
// a domain of two or more labels, internationalised ones included,
// ending in an alphabetic top-level domain.
func findEmails(s string, ms []Match) []Match {
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], '@')
		if k < 0 {
			break
		}
		at := i + k
		start := localStart(s, at)
		if end := domainEnd(s, at+1); start < at && end > 0 {
			ms = append(ms, Match{Kind: Email, Start: start, End: end})
		}
		i = at + 1
	}
	return ms
}

func isLocalByte(c byte) bool {
	return isAlnum(c) || inSet(c, "._%+-")
}

// localStart returns the start of the local part that ends at s[end]:
// ASCII bytes the local part allows, and letters, digits and marks of
// any script, as in "josé.garcía" or "用户". Leading dots are left out.
func localStart(s string, end int) int {
	start := end
	for start > 0 {
		if c := s[start-1]; c < utf8.RuneSelf {
			if !isLocalByte(c) {
				break
			}
			start--
			continue
		}
		r, n := utf8.DecodeLastRuneInString(s[:start])
		if !isIntlRune(r) {
			break
		}
		start -= n
	}
	for start < end && s[start] == '.' {
		start++
	}
	return start
}

// isIntlRune reports whether r, a non-ASCII rune, may be part of an
// internationalised local part or domain label.
func isIntlRune(r rune) bool {
	return r >= utf8.RuneSelf && r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
}

// domainEnd returns the end of the domain starting at s[i], or 0. The
// top-level domain is the letters that begin the last label, so that in
// "a@example.com2" or "a@example.com-4111…" the address ends at "com".
func domainEnd(s string, i int) int {
	end := 0
	for labels := 1; ; labels++ {
		k := labelEnd(s, i)
		if k == i {
			break
		}
		if t := tldEnd(s, i, k); labels >= 2 && t > 0 {
			end = t
		}
		n := dotLen(s, k)
		if n == 0 || labelEnd(s, k+n) == k+n || s[k+n] == '-' {
			break
		}
		i = k + n
	}
	return end
}

// labelEnd returns the end of the domain label at s[i]: ASCII letters,
// digits and dashes, or letters of any script (an IDNA U-label).
func labelEnd(s string, i int) int {
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if !isAlnum(c) && c != '-' {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isIntlRune(r) {
			break
		}
		i += n
	}
	return i
}

// dotLen returns the length of the label separator at s[i], or 0: a
// full stop, or one of the three that IDNA reads as one (。．｡).
func dotLen(s string, i int) int {
	switch {
	case i >= len(s):
		return 0
	case s[i] == '.':
		return 1
	case strings.HasPrefix(s[i:], "\u3002"), strings.HasPrefix(s[i:], "\uff0e"), strings.HasPrefix(s[i:], "\uff61"):
		return 3
	}
	return 0
}

// tldEnd returns where the top-level domain in the label s[i:k] ends, or
// 0 if the label cannot be one: a whole punycode label ("xn--p1ai"), or
// two or more letters at its start, all ASCII or all not, so that the
// Japanese of "taro@example.jpまで" is not taken for part of the domain.
func tldEnd(s string, i, k int) int {
	if k-i > 4 && strings.EqualFold(s[i:i+4], "xn--") {
		return k
	}
	t, n := i, 0
	for t < k {
		r, size := utf8.DecodeRuneInString(s[t:k])
		if !unicode.IsLetter(r) && !(n > 0 && unicode.IsMark(r)) || n > 0 && (r < utf8.RuneSelf) != (s[i] < utf8.RuneSelf) {
			break
		}
		t, n = t+size, n+1
	}
	if n < 2 {
		return 0
	}
	return t
}

// phoneEnd returns the end of a telephone number starting at s[i], or 0.
func phoneEnd(s string, i int) int {
	switch c := s[i]; {
	case c == '+':
		return intlPhoneEnd(s, i+1)
	case strings.HasPrefix(s[i:], "00"):
		return intlPhoneEnd(s, i+2)
	case c == '0':
		return trunkPhoneEnd(s, i)
	default:
		return nanpEnd(s, i)
	}
}

func isPhoneSep(c byte) bool { return c == ' ' || c == '-' || c == '.' }

// intlPhoneEnd reads an international number after its "+" or "00": a
// country code and subscriber number, 8 to 15 digits in all as E.164
// allows, in groups split by single spaces, dashes or dots. A group may
// be parenthesised, as in "+1 (555) 123-4567"; a "(0)" trunk marker, as
// in "+44 (0)20 7946 0958", does not count.
func intlPhoneEnd(s string, j int) int {
	if j >= len(s) || s[j] < '1' || s[j] > '9' {
		return 0
	}
	n, end := 0, 0
	for {
		k := j
		if s[j] == '(' {
			k = j + 1
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k == j+1 || k-j > 5 || k >= len(s) || s[k] != ')' {
				break
			}
			if s[j:k] != "(0" {
				n += k - j - 1
			}
			k++
		} else {
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k == j {
				break
			}
			if n += k - j; n >= 8 && n <= 15 && endsToken(s, k) {
				end = k
			}
		}
		if n > 15 || k >= len(s) {
			break
		}
		switch {
		case s[k] == '(' || s[k-1] == ')' && isDigit(s[k]):
			j = k
		case isPhoneSep(s[k]) && k+1 < len(s) && (isDigit(s[k+1]) || s[k+1] == '('):
			j = k + 1
		default:
			return end
		}
	}
	return end
}

// trunkPhoneEnd reads a national number with the trunk prefix 0 used
// across Europe: "06 12 34 56 78", "020 7946 0958", "030 123456",
// "089/1234567", "0612345678". That is 9 to 12 digits in groups of two
// or more, one separator throughout.
func trunkPhoneEnd(s string, i int) int {
	if i+1 >= len(s) || s[i+1] < '1' || s[i+1] > '9' {
		return 0
	}
	var sep byte
	n, end := 0, 0
	for j := i; ; {
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k-j < 2 {
			break
		}
		if n += k - j; n > 12 {
			break
		}
		if n >= 9 && endsToken(s, k) {
			end = k
		}
		if k+1 >= len(s) || !isDigit(s[k+1]) || !inSet(s[k], " -./") {
			break
		}
		if sep == 0 {
			sep = s[k]
		} else if s[k] != sep {
			break
		}
		j = k + 1
	}
	return end
}

// nanpEnd reads a North American number: "(555) 123-4567",
// "555-123-4567", "555.123.4567" or "555 123 4567", optionally after a
// "1 " or "1-". Area codes start with 2–9. Without parentheses the
// number must be grouped, one separator throughout: ten bare digits are
// as likely to be an order number.
func nanpEnd(s string, i int) int {
	j := i
	if s[j] == '1' && j+1 < len(s) && isPhoneSep(s[j+1]) {
		j += 2
	}
	if j+5 > len(s) {
		return 0
	}
	if s[j] == '(' {
		if !digitsAt(s, j+1, 3) || s[j+1] < '2' || s[j+4] != ')' {
			return 0
		}
		j += 5
		if j < len(s) && s[j] == ' ' {
			j++
		}
		if !digitsAt(s, j, 3) || j+3 >= len(s) || !isPhoneSep(s[j+3]) {
			return 0
		}
		j += 3
	} else {
		if !digitsAt(s, j, 3) || s[j] < '2' || !isPhoneSep(s[j+3]) {
			return 0
		}
		if !digitsAt(s, j+4, 3) || j+7 >= len(s) || s[j+7] != s[j+3] {
			return 0
		}
		j += 7
	}
	if !digitsAt(s, j+1, 4) || !endsToken(s, j+5) {
		return 0
	}
	return j + 5
}

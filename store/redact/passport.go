package redact

import "strings"

// Passport numbers have no check digit outside the machine-readable
// zone, and their formats (nine digits, a letter and eight digits…) are
// those of order numbers and product codes. So a passport number is
// taken only when a word naming it comes first: "passport", in the
// languages of the countries below, and compounds such as
// "Reisepassnummer".
var passportWords = [...]string{
	"passport", "passeport", "pasaporte", "passaporto", "passaporte", "paspoort",
	"paszport", "reisepass", "passnummer", "passnr", "pass-nr",
}

// passportWindow is how far after the naming word the number may start,
// leaving room for "number is", "No.:", "n° de" and the like.
const passportWindow = 40

// findPassports finds passport numbers after the words that name them.
func findPassports(s string, ms []Match) []Match {
	for i := 0; i < len(s); i++ {
		// A word inside another, or the name of a [PASSPORT]
		// placeholder, names nothing.
		c := s[i] | 0x20
		if c != 'p' && c != 'r' || i > 0 && (isAlnum(s[i-1]) || s[i-1] == '[') {
			continue
		}
		end := passportWordEnd(s, i)
		if end == 0 {
			continue
		}
		if start, stop := passportNumberAfter(s, end); stop > start {
			ms = append(ms, Match{Kind: Passport, Start: start, End: stop})
		}
		i = end - 1
	}
	return ms
}

// passportWordEnd returns the end of the word at s[i] if it starts with
// one of passportWords, or 0.
func passportWordEnd(s string, i int) int {
	for _, w := range passportWords {
		if e := i + len(w); e <= len(s) && strings.EqualFold(s[i:e], w) {
			for e < len(s) && isLetter(s[e]) {
				e++
			}
			return e
		}
	}
	return 0
}

// passportNumberAfter returns the span of the first token with a digit
// that starts within passportWindow bytes of s[i], if it has the form of
// a passport number; words without digits in between are skipped. A '['
// ends the search, as the number would have: after a first pass it
// starts the placeholder of the number, which has no digit.
func passportNumberAfter(s string, i int) (start, end int) {
	for j := i; j < len(s) && j-i <= passportWindow; {
		if s[j] == '[' {
			return 0, 0
		}
		if !isAlnum(s[j]) {
			j++
			continue
		}
		k := j
		digits := 0
		for k < len(s) && isAlnum(s[k]) {
			if isDigit(s[k]) {
				digits++
			}
			k++
		}
		if digits > 0 {
			if startsToken(s, j) && endsToken(s, k) && passportShape(s[j:k]) {
				return j, k
			}
			return 0, 0
		}
		j = k
	}
	return 0, 0
}

// passportShape reports whether v has the form of a passport number of
// a common issuing country, in any case:
//
//	123456789   nine digits: US, UK and many others
//	A1234567    one to three letters, then six to eight digits: US (new),
//	YA1234567   IT, ES, CA, IN, CN, AU…
//	12AB34567   two digits, two letters, five digits: FR
//	C01X00T47   nine letters and digits, a letter first and three digits
//	            or more: DE, NL and other alphanumeric series
func passportShape(v string) bool {
	letters := 0
	for letters < len(v) && isLetter(v[letters]) {
		letters++
	}
	digits := len(v) - letters
	switch {
	case letters == 0 && len(v) == 9 && digitsAt(v, 0, 9):
		return true
	case letters >= 1 && letters <= 3 && digits >= 6 && digits <= 8 && digitsAt(v, letters, digits):
		return true
	case len(v) == 9 && digitsAt(v, 0, 2) && isLetter(v[2]) && isLetter(v[3]) && digitsAt(v, 4, 5):
		return true
	case len(v) == 9 && letters >= 1:
		n := 0
		for k := range len(v) {
			if isDigit(v[k]) {
				n++
			}
		}
		return n >= 3
	}
	return false
}

package redact

import "strings"

// An obfuscated address writes its '@' and dots as words or in
// brackets, so that harvesters miss it: "jane [at] example [dot] fr",
// "jane(at)example.fr", "jane@example(dot)fr", "jane at example dot
// com". Readers, and the audit log, must not.

// atForm is how an obfuscated address writes its '@'.
type atForm uint8

const (
	atPlain     atForm = iota + 1 // "@" itself, with only the dots obfuscated
	atBracketed                   // "[at]", "(at)", "{at}", "<at>", "(@)", "(arobase)", spaced or not
	atSpaced                      // " @ "
	atWord                        // " at ", " AT "
)

// findObfuscatedEmails finds obfuscated e-mail addresses around each
// "at", "@" or "arobase". The bracketed forms are unambiguous and need
// only a top-level domain of two letters or more. The bare word "at"
// is ordinary English, so "jane at example dot com" is taken only with
// a dot spelled out as "dot" and a common top-level domain: "look at
// example.com" stays.
func findObfuscatedEmails(s string, ms []Match) []Match {
	for p := 0; p < len(s); p++ {
		if c := s[p]; c != '@' && c|0x20 != 'a' {
			continue
		}
		form, localEnd, domain := atToken(s, p)
		if form == 0 {
			continue
		}
		start := localStart(s, localEnd)
		if start == localEnd {
			continue
		}
		if end := obfuscatedDomainEnd(s, domain, form); end > 0 {
			ms = append(ms, Match{Kind: Email, Start: start, End: end})
		}
	}
	return ms
}

// atToken reads the '@' of an obfuscated address at s[p]: its form, the
// end of the local part before it and the start of the domain after it.
func atToken(s string, p int) (form atForm, localEnd, domain int) {
	w := atWordLen(s, p)
	if w == 0 {
		return 0, 0, 0
	}
	after := p + w
	// Bracketed: an opening bracket before, its pair after, a space
	// allowed inside and outside.
	open := p
	if open > 0 && s[open-1] == ' ' {
		open--
	}
	if open > 0 {
		if k := strings.IndexByte("[({<", s[open-1]); k >= 0 {
			close := after
			if close < len(s) && s[close] == ' ' {
				close++
			}
			if close < len(s) && s[close] == "])}>"[k] {
				return atBracketed, trimSpaceBefore(s, open-1), trimSpaceAfter(s, close+1)
			}
		}
	}
	spaced := p > 0 && s[p-1] == ' ' && after < len(s) && s[after] == ' '
	switch word := s[p:after]; {
	case word == "@" && spaced:
		return atSpaced, p - 1, after + 1
	case word == "@":
		return atPlain, p, after
	case spaced && (word == "at" || word == "AT"):
		return atWord, p - 1, after + 1
	}
	return 0, 0, 0
}

// atWordLen returns the length of the "@", "at" or "arobase" (French)
// at s[p], or 0. A word must end there: "attach" is not "at".
func atWordLen(s string, p int) int {
	if s[p] == '@' {
		return 1
	}
	for _, w := range [...]string{"at", "arobase"} {
		if e := p + len(w); e <= len(s) && strings.EqualFold(s[p:e], w) && (e == len(s) || !isLetter(s[e])) {
			return len(w)
		}
	}
	return 0
}

// obfuscatedDomainEnd returns the end of the domain at s[i] of an
// address whose '@' has the given form, or 0. Its labels may be split
// by plain dots or obfuscated ones; an address with a plain '@' must
// obfuscate a dot (findEmails takes the others), and one with the word
// "at" must spell a dot as "dot" and end in a common top-level domain.
func obfuscatedDomainEnd(s string, i int, form atForm) int {
	end, obfuscated, spelled := 0, false, false
	for labels := 1; ; labels++ {
		k := labelEnd(s, i)
		if k == i {
			break
		}
		if t := tldEnd(s, i, k); labels >= 2 && t > 0 && (obfuscated || form != atPlain) &&
			(form != atWord && form != atSpaced || commonTLD(s[i:k]) && (spelled || form == atSpaced)) {
			end = t
		}
		n, word := dotToken(s, k)
		if n == 0 || labelEnd(s, k+n) == k+n || s[k+n] == '-' {
			break
		}
		obfuscated = obfuscated || word
		spelled = spelled || word && !strings.ContainsAny(s[k:k+n], "[({<")
		i = k + n
	}
	return end
}

// dotToken returns the length of the label separator at s[i] and
// whether it is obfuscated: a plain dot, "[dot]", "(dot)", "{dot}",
// "<dot>", "(.)", "(point)", "(punkt)" with a space allowed inside and
// outside the brackets, or " dot " or " DOT " as a word.
func dotToken(s string, i int) (n int, obfuscated bool) {
	if n := dotLen(s, i); n > 0 {
		return n, false
	}
	j := i
	if j < len(s) && s[j] == ' ' {
		j++
	}
	if j < len(s) {
		if k := strings.IndexByte("[({<", s[j]); k >= 0 {
			w := j + 1
			if w < len(s) && s[w] == ' ' {
				w++
			}
			for _, word := range [...]string{"dot", ".", "point", "punkt"} {
				e := w + len(word)
				if e > len(s) || !strings.EqualFold(s[w:e], word) {
					continue
				}
				if e < len(s) && s[e] == ' ' {
					e++
				}
				if e < len(s) && s[e] == "])}>"[k] {
					return trimSpaceAfter(s, e+1) - i, true
				}
			}
		}
	}
	for _, word := range [...]string{" dot ", " DOT "} {
		if strings.HasPrefix(s[i:], word) {
			return len(word), true
		}
	}
	return 0, false
}

func trimSpaceBefore(s string, i int) int {
	if i > 0 && s[i-1] == ' ' {
		return i - 1
	}
	return i
}

func trimSpaceAfter(s string, i int) int {
	if i < len(s) && s[i] == ' ' {
		return i + 1
	}
	return i
}

// commonTLD reports whether label, in any case, is one of the top-level
// domains that make "name at domain dot tld" read as an address.
func commonTLD(label string) bool {
	switch strings.ToLower(label) {
	case "com", "org", "net", "edu", "gov", "mil", "int", "io", "info", "biz", "co", "me", "app", "dev",
		"eu", "uk", "us", "ca", "au", "nz", "ie", "fr", "de", "es", "it", "nl", "be", "ch", "at", "lu",
		"pt", "pl", "se", "no", "dk", "fi", "cz", "gr", "jp", "cn", "in", "br", "mx", "ru":
		return true
	}
	return false
}

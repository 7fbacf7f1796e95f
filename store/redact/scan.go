package redact

// scanTokens finds the values that start a token: numbers, IBANs,
// national identifiers and prefixed credentials. It is one pass that
// dispatches on the first byte of each token, so prose costs little more
// than a loop over its bytes.
func scanTokens(s string, ms []Match) []Match {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) {
			if c == '+' || c == '(' {
				// "+33 …" and "(555) …" start a number wherever they stand.
				ms = add(ms, Phone, i, phoneEnd(s, i))
			}
			continue
		}
		if startsToken(s, i) {
			ms = scanToken(s, i, ms)
		}
		// No value starts inside a word: skip to its end.
		for i+1 < len(s) && (isAlnum(s[i+1]) || s[i+1] == '_') {
			i++
		}
	}
	return ms
}

// scanToken runs the parsers that may match at s[i], chosen by its first
// byte.
func scanToken(s string, i int, ms []Match) []Match {
	switch c := s[i]; {
	case isDigit(c):
		// Most numbers in prose are short; an IPv4 address has four digits
		// or more, every other numeric value six or more.
		n := leadingDigits(s, i, 6)
		if n >= 4 {
			ms = add(ms, IP, i, ipv4End(s, i))
		}
		if n >= 6 {
			ms = add(ms, Card, i, cardEnd(s, i))
			ms = add(ms, Phone, i, phoneEnd(s, i))
			ms = add(ms, NationalID, i, nirEnd(s, i))
			ms = add(ms, NationalID, i, belgianEnd(s, i))
			ms = add(ms, NationalID, i, bsnEnd(s, i))
			ms = add(ms, NationalID, i, spanishIDEnd(s, i))
			ms = add(ms, NationalID, i, ssnEnd(s, i))
			ms = add(ms, NationalID, i, steuerIDEnd(s, i))
		}
	case isUpper(c):
		ms = add(ms, IBAN, i, ibanEnd(s, i))
		ms = add(ms, NationalID, i, codiceFiscaleEnd(s, i))
		ms = add(ms, NationalID, i, spanishIDEnd(s, i))
		ms = add(ms, NationalID, i, ninoEnd(s, i))
		ms = add(ms, Secret, i, knownTokenEnd(s, i))
	default:
		ms = add(ms, IBAN, i, ibanEnd(s, i))
		ms = add(ms, Secret, i, knownTokenEnd(s, i))
	}
	return add(ms, Secret, i, authValueEnd(s, i))
}

// leadingDigits counts, up to limit, the digits of the number at s[i]:
// digit groups split by single separators, as in "06 12 34", "1.2.3.4"
// or "(555) 123-4567".
func leadingDigits(s string, i, limit int) int {
	n := 0
	for j := i; j < len(s) && n < limit; j++ {
		switch {
		case isDigit(s[j]):
			n++
		case j+1 >= len(s) || !isDigit(s[j+1]) || !inSet(s[j], " .-/()"):
			return n
		}
	}
	return n
}

// add appends the match s[start:end] when a parser found one (end > start).
func add(ms []Match, k Kind, start, end int) []Match {
	if end > start {
		ms = append(ms, Match{Kind: k, Start: start, End: end})
	}
	return ms
}

// inSet reports whether c is one of the bytes of set. For the few bytes
// of a set here, a loop is cheaper than a call to strings.IndexByte.
func inSet(c byte, set string) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isLetter(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool  { return isLetter(c) || isDigit(c) }

// isTokenByte reports whether c belongs to base64url, the alphabet of
// most API keys.
func isTokenByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// attachedBefore reports whether c, just before a candidate, makes the
// candidate part of a longer word. A ']' counts because it ends a
// placeholder: text next to a redacted value must be judged the same on
// a second pass as on the first, or redaction would not be idempotent.
func attachedBefore(c byte) bool { return isAlnum(c) || c == '_' || c == ']' }

// attachedAfter is attachedBefore for the byte just after a candidate.
func attachedAfter(c byte) bool { return isAlnum(c) || c == '_' || c == '[' }

// startsToken reports whether a value may start at s[i]: not inside a
// word, and not glued by a dot to one, as the "2.3.4.5" of "1.2.3.4.5"
// or the "4111…" of "0.4111…" are.
func startsToken(s string, i int) bool {
	if i == 0 {
		return true
	}
	if attachedBefore(s[i-1]) {
		return false
	}
	return s[i-1] != '.' || i < 2 || !attachedBefore(s[i-2])
}

// endsToken is startsToken for a value ending just before s[i].
func endsToken(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	if attachedAfter(s[i]) {
		return false
	}
	return s[i] != '.' || i+1 >= len(s) || !attachedAfter(s[i+1])
}

// digitsAt reports whether s[i:i+n] are all digits.
func digitsAt(s string, i, n int) bool {
	if i < 0 || i+n > len(s) {
		return false
	}
	for _, c := range []byte(s[i : i+n]) {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// atoi returns the value of a short run of ASCII digits.
func atoi(d []byte) int {
	n := 0
	for _, c := range d {
		n = n*10 + int(c-'0')
	}
	return n
}

// fields reads a value made of fixed-width fields, each of which may be
// preceded by one separator byte from seps, as in "85.07.30-033.28".
type fields struct {
	s    string
	i    int
	seps string
}

// next copies the next field into dst, which sets its width, if all its
// bytes satisfy ok.
func (f *fields) next(dst []byte, ok func(byte) bool) bool {
	j := f.i
	if j > 0 && j < len(f.s) && inSet(f.s[j], f.seps) && isAlnum(f.s[j-1]) {
		j++
	}
	if j+len(dst) > len(f.s) {
		return false
	}
	for k := range dst {
		c := f.s[j+k]
		if !ok(c) {
			return false
		}
		dst[k] = c
	}
	f.i = j + len(dst)
	return true
}

func (f *fields) digits(dst []byte) bool { return f.next(dst, isDigit) }

package redact

import (
	"math"
	"strings"
)

// findPrivateKeys finds PEM private key blocks, from the BEGIN line to
// the END line. A block cut off before its END line runs to the end of
// the text: the rest of a truncated key is still key material.
func findPrivateKeys(s string, ms []Match) []Match {
	const begin, dashes = "-----BEGIN ", "-----"
	for i := 0; ; {
		k := strings.Index(s[i:], begin)
		if k < 0 {
			return ms
		}
		start := i + k
		i = start + len(begin)
		n := strings.Index(s[i:min(i+64, len(s))], dashes)
		if n < 0 {
			continue
		}
		label := s[i : i+n]
		if !strings.Contains(label, "PRIVATE KEY") || strings.ContainsAny(label, "\r\n") {
			continue
		}
		i += n + len(dashes)
		if !hasKeyBody(s[i:]) {
			continue
		}
		end := len(s)
		if e := strings.Index(s[i:], "-----END "+label+dashes); e >= 0 {
			end = i + e + len("-----END ") + len(label) + len(dashes)
		}
		ms = append(ms, Match{Kind: Secret, Start: start, End: end})
		i = end
	}
}

// hasKeyBody reports whether text after a BEGIN line looks like key
// material rather than prose that names the header.
func hasKeyBody(rest string) bool {
	rest = strings.TrimLeft(rest, " \t\r\n")
	if strings.HasPrefix(rest, "Proc-Type:") {
		return true
	}
	n := 0
	for n < len(rest) && (isAlnum(rest[n]) || rest[n] == '+' || rest[n] == '/') {
		n++
	}
	return n >= 16
}

// knownTokenEnd reads at s[i] a credential that its issuer marks with a
// fixed prefix, or returns 0.
func knownTokenEnd(s string, i int) int {
	if i > 0 && s[i-1] == '-' {
		// Inside a base64url run, which the run's first token has covered;
		// rescanning the run from every dash would take quadratic time.
		return 0
	}
	t := s[i:]
	switch t[0] {
	case 'e':
		if strings.HasPrefix(t, "eyJ") {
			return jwtEnd(s, i)
		}
	case 'g':
		switch {
		case strings.HasPrefix(t, "github_pat_"):
			return tokenRunEnd(s, i+len("github_pat_"), 22)
		case len(t) > 4 && t[1] == 'h' && inSet(t[2], "pousr") && t[3] == '_':
			return tokenRunEnd(s, i+4, 30) // GitHub ghp_, gho_, ghu_, ghs_, ghr_
		case strings.HasPrefix(t, "glpat-"):
			return tokenRunEnd(s, i+len("glpat-"), 20) // GitLab
		}
	case 'A':
		switch {
		case strings.HasPrefix(t, "AKIA") || strings.HasPrefix(t, "ASIA"):
			// AWS access key IDs: exactly 16 more upper-case letters and digits.
			j := i + 4
			for j < len(s) && j-i < 20 && (isUpper(s[j]) || isDigit(s[j])) {
				j++
			}
			if j-i == 20 && endsToken(s, j) {
				return j
			}
		case strings.HasPrefix(t, "AIza"):
			return tokenRunEnd(s, i+4, 35) // Google API keys
		}
	case 's', 'r':
		// OpenAI and Anthropic sk-…, Stripe sk_live_… and rk_test_….
		for _, p := range [...]string{"sk-", "sk_live_", "sk_test_", "rk_live_", "rk_test_"} {
			if strings.HasPrefix(t, p) {
				return tokenRunEnd(s, i+len(p), 16)
			}
		}
	case 'x':
		// Slack bot, user and app tokens.
		if len(t) > 5 && strings.HasPrefix(t, "xox") && inSet(t[3], "abprs") && t[4] == '-' ||
			strings.HasPrefix(t, "xapp-") {
			return tokenRunEnd(s, i+5, 10)
		}
	}
	return 0
}

// tokenRunEnd returns the end of the base64url run at s[j] if it holds at
// least least bytes, else 0.
func tokenRunEnd(s string, j, least int) int {
	k := j
	for k < len(s) && isTokenByte(s[k]) {
		k++
	}
	if k-j < least {
		return 0
	}
	return k
}

// jwtEnd reads a JSON Web Token at s[i]: three base64url segments joined
// by dots, the header starting with eyJ (`{"` encoded). The signature is
// empty for unsigned tokens.
func jwtEnd(s string, i int) int {
	j := i
	for seg, least := range [...]int{10, 2, 0} {
		if seg > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0
			}
			j++
		}
		k := j
		for k < len(s) && isTokenByte(s[k]) {
			k++
		}
		if k-j < least {
			return 0
		}
		j = k
	}
	return j
}

// authValueEnd reads the credential after an HTTP authentication scheme,
// "Bearer abc…" or "Basic dXNl…", at s[i]. It must hold a letter and a
// digit, which tells a token from prose such as "Bearer tokens expire".
func authValueEnd(s string, i int) int {
	if i < 2 || s[i-1] != ' ' || s[i-2]|0x20 != 'r' && s[i-2]|0x20 != 'c' {
		return 0 // the common case, checked cheaply
	}
	if !followsWord(s, i, "bearer ") && !followsWord(s, i, "basic ") {
		return 0
	}
	k := i
	for k < len(s) && (isTokenByte(s[k]) || inSet(s[k], ".~+/")) {
		k++
	}
	for k < len(s) && s[k] == '=' {
		k++
	}
	if k-i < 8 || !hasLetterAndDigit(s[i:k]) {
		return 0
	}
	return k
}

// followsWord reports whether s[:i] ends with the word w, in any case.
func followsWord(s string, i int, w string) bool {
	j := i - len(w)
	return j >= 0 && strings.EqualFold(s[j:i], w) && (j == 0 || !attachedBefore(s[j-1]))
}

func hasLetterAndDigit(v string) bool {
	var letter, digit bool
	for i := 0; i < len(v); i++ {
		letter = letter || isLetter(v[i])
		digit = digit || isDigit(v[i])
	}
	return letter && digit
}

// A secretName says how much to trust a value assigned to a name.
type secretName uint8

const (
	notSecret   secretName = iota
	anyValue               // password-like names: every value is secret
	randomValue            // key-like names: only values that look random are
)

// findAssignedSecrets finds values assigned to names that say they are
// secret: password=…, "api_key": "…", X-Auth-Token: …. The value is
// replaced, the name kept.
func findAssignedSecrets(s string, ms []Match) []Match {
	for i := 0; i < len(s); i++ {
		k := strings.IndexAny(s[i:], ":=")
		if k < 0 {
			break
		}
		i += k
		rule := nameBefore(s, i)
		if rule == notSecret {
			continue
		}
		start, end := assignedValue(s, i)
		v := s[start:end]
		if rule == anyValue && len(v) >= 3 || rule == randomValue && looksRandom(v) {
			ms = append(ms, Match{Kind: Secret, Start: start, End: end})
		}
	}
	return ms
}

// nameBefore classifies the name assigned to by the ':' or '=' at s[i],
// skipping a closing quote and a space or two.
func nameBefore(s string, i int) secretName {
	j := i
	for j > 0 && i-j < 2 && s[j-1] == ' ' {
		j--
	}
	if j > 0 && (s[j-1] == '"' || s[j-1] == '\'') {
		j--
	}
	w := j
	for w > 0 && j-w < 64 && (isTokenByte(s[w-1]) || s[w-1] == '.') {
		w--
	}
	name := s[w:j]
	for _, kw := range [...]string{"password", "passwd", "passphrase", "pwd"} {
		if endsWithWord(name, kw) {
			return anyValue
		}
	}
	for _, kw := range [...]string{"key", "token", "secret", "credential", "credentials", "auth"} {
		if len(name) >= len(kw) && strings.EqualFold(name[len(name)-len(kw):], kw) {
			return randomValue
		}
	}
	return notSecret
}

// endsWithWord reports whether name ends with the word kw in any case:
// all of it, or after a separator or a camel-case hump ("dbPassword").
func endsWithWord(name, kw string) bool {
	j := len(name) - len(kw)
	if j < 0 || !strings.EqualFold(name[j:], kw) {
		return false
	}
	return j == 0 || inSet(name[j-1], "_-.") || isLower(name[j-1]) && isUpper(name[j])
}

// assignedValue returns the span of the value after the ':' or '=' at
// s[i]. A colon must be followed by a space or a quote, as in YAML, JSON
// and HTTP headers, so that URLs, clock times and placeholders such as
// [SECRET:3f9a1c2b] are not taken for assignments. A quoted value runs
// to its closing quote on the same line.
func assignedValue(s string, i int) (start, end int) {
	j := i + 1
	if j >= len(s) || s[i] == ':' && !inSet(s[j], " \t\"'") {
		return 0, 0
	}
	for j < len(s) && j-i <= 4 && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j < len(s) && (s[j] == '"' || s[j] == '\'') {
		k := strings.IndexByte(s[j+1:], s[j])
		if k < 0 || strings.ContainsAny(s[j+1:j+1+k], "\r\n") || isPlaceholder(s[j+1:j+1+k]) {
			return 0, 0
		}
		return j + 1, j + 1 + k
	}
	k := unquotedEnd(s, j)
	for k > j && s[k-1] == '.' {
		k--
	}
	return j, k
}

// unquotedEnd returns the end of the unquoted value at s[j]. An '=' may
// only end it as base64 padding: "a=b=c" is two assignments, and "=="
// after a name is a comparison. A placeholder after the '=' counts as a
// value, as the value it replaced did.
func unquotedEnd(s string, j int) int {
	k := j
	for k < len(s) && isValueByte(s[k]) && s[k] != '=' {
		k++
	}
	if k == j {
		return k
	}
	e := k
	for e < len(s) && s[e] == '=' {
		e++
	}
	if e < len(s) && (isValueByte(s[e]) || s[e] == '[') {
		return k
	}
	return e
}

// isValueByte reports whether c may be part of an unquoted value: not a
// space, a control byte, a quote or a delimiter of its surroundings.
func isValueByte(c byte) bool {
	return c > ' ' && c != 0x7f && !inSet(c, "\"'`,;&<>()[]{}")
}

// looksRandom reports whether v starts like a generated credential
// rather than words or an identifier: its first 16 bytes are of the
// base64 and hex alphabets, hold letters and digits, and carry at least
// 2.5 bits of entropy per byte (random hex falls below that about once
// in 700). Only those bytes decide, so that a placeholder further on,
// left by a first pass, cannot change the answer on a second.
func looksRandom(v string) bool {
	const n = 16
	if len(v) < n || !hasLetterAndDigit(v[:n]) {
		return false
	}
	var counts [256]int
	for i := range n {
		if !isTokenByte(v[i]) && !inSet(v[i], "+/=.~") {
			return false
		}
		counts[v[i]]++
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h >= 2.5
}

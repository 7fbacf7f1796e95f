// Package redact finds personal data and secrets in text and replaces
// them with typed placeholders such as [EMAIL] or [CARD], so that
// Warden's audit log never stores them in clear.
//
// Detection is hand-written rather than a set of regular expressions:
// one pass over the text dispatches on the first byte of each token, and
// the rarer triggers ('@', ':', '=', "-----BEGIN") are found with
// strings.IndexByte and friends. Every candidate with a check digit is
// checked (Luhn, mod 97, the national algorithms), so that look-alikes
// such as order numbers stay in clear. docs/redaction.md lists what is
// detected, what is deliberately kept, and the measured speed.
package redact

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Kind is the type of a detected value. Kinds are ordered from the most
// to the least specific: when overlapping detections are equally long,
// the lower Kind names the joined span.
type Kind uint8

// The kinds of detected values.
const (
	Secret     Kind = iota + 1 // API keys, tokens, passwords, private keys
	NationalID                 // FR NIR, ES DNI/NIE, IT codice fiscale, BE, NL, US, UK and DE numbers
	Passport                   // passport numbers named as such by a nearby word
	IBAN                       // international bank account numbers
	Card                       // payment card numbers
	Email                      // e-mail addresses
	Phone                      // telephone numbers
	IP                         // IPv4 and IPv6 addresses

	lastKind = IP // the highest built-in kind; operators' rules come after
)

// String returns the name used in placeholders, such as "EMAIL".
func (k Kind) String() string {
	switch k {
	case Secret:
		return "SECRET"
	case NationalID:
		return "NATIONAL_ID"
	case Passport:
		return "PASSPORT"
	case IBAN:
		return "IBAN"
	case Card:
		return "CARD"
	case Email:
		return "EMAIL"
	case Phone:
		return "PHONE"
	case IP:
		return "IP"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Match is a detected value: s[Start:End] of the text searched.
type Match struct {
	Kind       Kind
	Start, End int
}

// Options configures a Redactor.
type Options struct {
	// Key, when set, turns placeholders into pseudonyms: [EMAIL:3f9a1c2b]
	// carries the first 8 hex digits of HMAC-SHA256(Key, "EMAIL|" +
	// normalized value), so that equal values can be correlated across
	// log entries without being recoverable by anyone without the key.
	Key []byte

	// Patterns are the operator's own rules, each replacing what its
	// regular expression matches with [NAME]; see NewPattern.
	Patterns []Pattern

	// Words are names and other terms to replace with [NAME] wherever
	// they stand as whole words, in any case; see ParseWords.
	Words []string
}

// Redactor replaces personal data and secrets with placeholders. It is
// immutable once built and safe for concurrent use.
type Redactor struct {
	key   []byte
	rules *rules // the operator's patterns and words, nil when none
}

// New returns a Redactor. It keeps its own copy of opts.Key.
func New(opts Options) *Redactor {
	var key []byte
	if len(opts.Key) > 0 {
		key = bytes.Clone(opts.Key)
	}
	return &Redactor{key: key, rules: newRules(opts.Patterns, opts.Words)}
}

// Redact returns s with every value reported by Find, and every match
// of the Redactor's own patterns and words, replaced by its placeholder.
// Redacting the result again changes nothing.
func (r *Redactor) Redact(s string) string {
	var ms []Match
	if r.rules != nil {
		ms = merge(r.rules.find(s, findAll(s)))
	} else {
		ms = Find(s)
	}
	if len(ms) == 0 {
		return s
	}
	var mac hash.Hash
	if r.key != nil {
		mac = hmac.New(sha256.New, r.key)
	}
	var b strings.Builder
	b.Grow(len(s))
	var buf []byte
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m.Start])
		buf = writePlaceholder(&b, r.label(m.Kind), m.Kind, s[m.Start:m.End], mac, buf)
		last = m.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// label names k in placeholders: a built-in kind's name, or the name of
// one of the operator's rules.
func (r *Redactor) label(k Kind) string {
	if k > lastKind && r.rules != nil {
		return r.rules.label(k)
	}
	return k.String()
}

// writePlaceholder writes [LABEL], or [LABEL:id] when mac is keyed. buf
// is scratch space, returned for reuse.
func writePlaceholder(b *strings.Builder, label string, k Kind, value string, mac hash.Hash, buf []byte) []byte {
	b.WriteByte('[')
	b.WriteString(label)
	if mac != nil {
		buf = append(buf[:0], label...)
		buf = append(buf, '|')
		buf = appendNormalized(buf, k, value)
		mac.Reset()
		mac.Write(buf)
		buf = mac.Sum(buf[:0])
		var id [8]byte
		hex.Encode(id[:], buf[:len(id)/2])
		b.WriteByte(':')
		b.Write(id[:])
	}
	b.WriteByte(']')
	return buf
}

// appendNormalized appends v in a form that is the same for every
// spelling of one value, so that its pseudonym does not depend on case,
// spacing or separators.
func appendNormalized(dst []byte, k Kind, v string) []byte {
	switch k {
	case Email:
		for i := 0; i < len(v); i++ {
			c := v[i]
			if isUpper(c) {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst
	case IP:
		if a, err := netip.ParseAddr(v); err == nil {
			return a.AppendTo(dst)
		}
	case Phone:
		// Digits only, with a "+" for international numbers, whether
		// written +44 or 0044, and without a "(0)" trunk marker.
		if rest, ok := strings.CutPrefix(v, "00"); ok || strings.HasPrefix(v, "+") {
			dst, v = append(dst, '+'), rest
		}
		v = strings.Replace(v, "(0)", "", 1)
		for i := 0; i < len(v); i++ {
			if isDigit(v[i]) {
				dst = append(dst, v[i])
			}
		}
		return dst
	case wordKind:
		// A listed name is the same name in any case and spacing.
		return appendKey(dst, wordTokens(v))
	case Card, IBAN, NationalID, Passport:
		for i := 0; i < len(v); i++ {
			if c := v[i]; isAlnum(c) {
				if isLower(c) {
					c -= 'a' - 'A'
				}
				dst = append(dst, c)
			}
		}
		return dst
	}
	return append(dst, v...)
}

// isPlaceholder reports whether v is exactly a placeholder a Redactor
// writes, such as [CARD], [EMAIL:3f9a1c2b] or, for an operator's rule,
// [EMPLOYEE_ID]. Any valid rule name counts, since Find cannot know
// which rules the Redactor that wrote v had.
func isPlaceholder(v string) bool {
	inner, ok := strings.CutPrefix(v, "[")
	if !ok {
		return false
	}
	if inner, ok = strings.CutSuffix(inner, "]"); !ok {
		return false
	}
	name, id, keyed := strings.Cut(inner, ":")
	if keyed {
		if _, err := hex.DecodeString(id); err != nil || len(id) != 8 {
			return false
		}
	}
	return validLabel(name)
}

// Find returns the personal data and secrets in s, sorted by position
// and never overlapping: overlapping detections are joined, so that no
// part of a detected value survives next to a placeholder.
func Find(s string) []Match { return merge(findAll(s)) }

// findAll returns every detection of the built-in detectors, unsorted
// and possibly overlapping.
func findAll(s string) []Match {
	var ms []Match
	ms = findPrivateKeys(s, ms)
	ms = findAssignedSecrets(s, ms)
	ms = findEmails(s, ms)
	ms = findObfuscatedEmails(s, ms)
	ms = findIPv6(s, ms)
	ms = findPassports(s, ms)
	return scanTokens(s, ms)
}

// merge sorts ms and joins overlapping matches. A joined span takes the
// kind of its longest member, ties going to the more specific kind; so
// a private key block wins over anything detected inside it.
func merge(ms []Match) []Match {
	if len(ms) == 0 {
		return nil
	}
	slices.SortFunc(ms, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(b.End, a.End), cmp.Compare(a.Kind, b.Kind))
	})
	out := ms[:1]
	best := ms[0] // the member that names out's last span
	for _, m := range ms[1:] {
		last := &out[len(out)-1]
		if m.Start >= last.End {
			out = append(out, m)
			best = m
			continue
		}
		if n, bn := m.End-m.Start, best.End-best.Start; n > bn || n == bn && m.Kind < best.Kind {
			best = m
			last.Kind = m.Kind
		}
		last.End = max(last.End, m.End)
	}
	return out
}

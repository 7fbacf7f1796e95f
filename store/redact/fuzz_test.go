package redact

import (
	"testing"
	"unicode/utf8"
)

// maxGrowth bounds how much longer redaction can make a text. The worst
// ratio of placeholder to value is a 3-byte password ("pw1") becoming
// the 17 bytes of [SECRET:0123abcd]; every other kind has longer values
// for its placeholder (a DNI is 9 bytes for the 22 of
// [NATIONAL_ID:0123abcd]). So the output is under 17/3 < 6 times the input.
const maxGrowth = 6

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		mixedPrompt()[:600],
		"jane.doe@example.com +33 6 12 34 56 78 4111 1111 1111 1111",
		"GB82 WEST 1234 5698 7654 32 / FR14 2004 1010 0505 0001 3M02 606",
		"192.0.2.1-198.51.100.2 [2001:db8::1]:80 ::ffff:192.0.2.128",
		"NIR 2 90 02 2A 004 123 04, DNI 12345678Z, CF RSSMRA85T10A562S, BSN: 111222333, 85.07.30-033.28",
		`password="a b" token: "[SECRET:3f9a1c2b]" api_key=9f86d081884c7d659a2feaa0c55ad015`,
		"Authorization: Bearer abc123def456ghi\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
		"a@example.com4111111111111111 x@example.com.4111111111111111 [EMAIL]+33612345678",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0. ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
		"1.2.3.4.5 0.4111111111111111 2024-03-15 12:30:45 std::vector x[1::2]",
		"caf\u00e9 \u00e9t\u00e9 \xff\xfe 06\u00a012 34",
		"jos\u00e9 [at] ex\u00e4mple [dot] fr, jane(at)example.fr, jane at example dot com, jane@example[dot]com",
		"\u7528\u6237@\u4f8b\u5b50\u3002\u4e2d\u56fd m\u00fcller@example.com a@example.xn--p1ai",
		"gb82 west 1234 5698 7654 32 SSN 123-45-6789 AB 12 34 56 C 65 258 349 157",
		"passport number 123456789, Reisepassnummer: C01X00T47, passeport 12AB34567",
		"Marie Curie met M. DUPONT (ABC-12) [NAME] [CODE:0123abcd]",
	} {
		f.Add(s)
	}
	for _, l := range readCorpus(f) {
		f.Add(l.Text)
	}
	plain, keyed := New(Options{}), New(Options{Key: []byte("fuzz-key")})
	code, err := NewPattern("CODE", `\b[A-Z]{3}-[0-9]{2}\b`)
	if err != nil {
		f.Fatal(err)
	}
	custom := New(Options{Key: []byte("fuzz-key"), Patterns: []Pattern{code}, Words: []string{"Marie Curie", "Dupont", "name"}})
	f.Fuzz(func(t *testing.T, in string) {
		for _, r := range []*Redactor{plain, keyed, custom} {
			out := r.Redact(in)
			if utf8.ValidString(in) && !utf8.ValidString(out) {
				t.Fatalf("Redact(%q) = %q: not valid UTF-8", in, out)
			}
			if len(out) > maxGrowth*len(in) {
				t.Fatalf("Redact(%q) = %q: %d bytes from %d", in, out, len(out), len(in))
			}
			if again := r.Redact(out); again != out {
				t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", in, out, again)
			}
		}
		checkMatches(t, in, Find(in))
	})
}

// checkMatches checks that matches are in bounds, sorted, disjoint, and
// in valid UTF-8 never start or end inside a multi-byte character.
func checkMatches(t *testing.T, s string, ms []Match) {
	t.Helper()
	prev := 0
	for _, m := range ms {
		if m.Start < prev || m.End <= m.Start || m.End > len(s) {
			t.Fatalf("Find(%q): match %+v out of order or bounds (previous end %d)", s, m, prev)
		}
		if utf8.ValidString(s) && (!utf8.RuneStart(s[m.Start]) || m.End < len(s) && !utf8.RuneStart(s[m.End])) {
			t.Fatalf("Find(%q): match %+v splits a character", s, m)
		}
		prev = m.End
	}
}

package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"sync"
	"testing"
)

// The audit log accepts any value with this method; *Redactor must stay one.
var _ interface{ Redact(string) string } = (*Redactor)(nil)

func TestRedactPlaceholders(t *testing.T) {
	r := New(Options{})
	in := "Jane (jane.doe@example.com, +33 6 12 34 56 78) paid with 4111 1111 1111 1111 " +
		"from GB82 WEST 1234 5698 7654 32 at 192.0.2.10; NIR 1 85 05 78 006 084 91; key sk-proj-Ab3dEf6hIj9kLm2nOp5q."
	want := "Jane ([EMAIL], [PHONE]) paid with [CARD] " +
		"from [IBAN] at [IP]; NIR [NATIONAL_ID]; key [SECRET]."
	if got := r.Redact(in); got != want {
		t.Errorf("Redact:\n got %q\nwant %q", got, want)
	}
}

func TestRedactKeepsCleanText(t *testing.T) {
	in := "Version 1.2.3.4.5 shipped on 2024-03-15 for $1,299.99; see ISBN 978-3-16-148410-0."
	if got := New(Options{Key: []byte("k")}).Redact(in); got != in {
		t.Errorf("Redact(%q) = %q, want it unchanged", in, got)
	}
}

var pseudonymRE = regexp.MustCompile(`^\[(EMAIL|PHONE|CARD|IBAN|IP|NATIONAL_ID|PASSPORT|SECRET):[0-9a-f]{8}\]$`)

func TestPseudonymsAreStableAndKeyed(t *testing.T) {
	r := New(Options{Key: []byte("audit-key-1")})
	other := New(Options{Key: []byte("audit-key-2")})
	same := [][2]string{
		{"Jane.Doe@Example.com", "jane.doe@example.com"},
		{"+44 (0)20 7946 0958", "+44 20 7946 0958"},
		{"4111 1111 1111 1111", "4111-1111-1111-1111"},
		{"GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"},
		{"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
		{"85.07.30-033.28", "85073003328"},
	}
	for _, p := range same {
		a, b := r.Redact(p[0]), r.Redact(p[1])
		if !pseudonymRE.MatchString(a) {
			t.Errorf("Redact(%q) = %q, want one keyed placeholder", p[0], a)
		}
		if a != b {
			t.Errorf("%q and %q got different pseudonyms %q and %q", p[0], p[1], a, b)
		}
		if o := other.Redact(p[0]); o == a {
			t.Errorf("%q got pseudonym %q under two different keys", p[0], a)
		}
	}
	if a, b := r.Redact("jane@example.com"), r.Redact("john@example.com"); a == b {
		t.Errorf("two addresses share the pseudonym %q", a)
	}
}

func TestPseudonymIsTruncatedHMAC(t *testing.T) {
	key := []byte("audit-key")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("EMAIL|jane.doe@example.com"))
	want := "[EMAIL:" + hex.EncodeToString(mac.Sum(nil))[:8] + "]"
	if got := New(Options{Key: key}).Redact("Jane.Doe@example.com"); got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}

func TestNewCopiesKey(t *testing.T) {
	key := []byte("audit-key")
	r := New(Options{Key: key})
	before := r.Redact("jane@example.com")
	key[0] = 'X'
	if after := r.Redact("jane@example.com"); after != before {
		t.Errorf("changing the caller's key changed the pseudonym from %q to %q", before, after)
	}
}

func TestRedactConcurrent(t *testing.T) {
	r := New(Options{Key: []byte("k")})
	text := mixedPrompt()
	want := r.Redact(text)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got := r.Redact(text); got != want {
					errs <- got
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("concurrent Redact gave a different result:\n%s", got)
	}
}

func TestIsPlaceholder(t *testing.T) {
	for v, want := range map[string]bool{
		"[EMAIL]": true, "[NATIONAL_ID:0123abcd]": true, "[SECRET:3f9a1c2b]": true,
		"[PASSPORT]": true, "[NAME]": true, "[EMPLOYEE_ID:0123abcd]": true,
		"[EMAIL:xyz]": false, "[Name]": false, "[_X]": false, "[9X]": false, "EMAIL": false, "[EMAIL": false,
		"[SECRET:3f9a1c2]": false, "[ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456]": false,
	} {
		if got := isPlaceholder(v); got != want {
			t.Errorf("isPlaceholder(%q) = %v, want %v", v, got, want)
		}
	}
}

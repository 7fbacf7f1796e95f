package guard

import (
	"errors"
	"regexp"
	"testing"
	"testing/iotest"
)

func TestNewCanary(t *testing.T) {
	shape := regexp.MustCompile(`^wdn-[0-9a-f]{16}$`)
	a, b := NewCanary(nil), NewCanary(nil)
	if !shape.MatchString(a) || a == b {
		t.Fatalf("canaries %q, %q: want two different wdn-<16 hex>", a, b)
	}
	if got := NewCanary(fixedRand(0x3f)); got != "wdn-3f3f3f3f3f3f3f3f" {
		t.Fatalf("NewCanary(fixed) = %q", got)
	}
	if got := NewCanary(iotest.ErrReader(errors.New("boom"))); !shape.MatchString(got) || got == "wdn-0000000000000000" {
		t.Fatalf("NewCanary(failing reader) = %q, want a random canary", got)
	}
}

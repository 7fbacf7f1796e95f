package guard

import (
	"strings"
	"testing"
)

// The automaton agrees with a plain case-folded search on every prefix of
// a stream, and its depth never understates what could still match.
func TestMatcherAgreesWithSearch(t *testing.T) {
	patterns := []string{"abcab", "bca", "CAB", "", "aaaa", "b"}
	m := newMatcher(patterns)
	stream := "xxABCABCAaaaaBcabxyzb"
	s := int32(0)
	for i := 0; i < len(stream); i++ {
		s = m.step(s, stream[i])
		seen := strings.ToLower(stream[:i+1])
		want := -1
		for j, p := range patterns {
			if p != "" && strings.HasSuffix(seen, strings.ToLower(p)) && (want < 0 || len(p) > len(patterns[want])) {
				want = j
			}
		}
		if got := m.hit(s); (got < 0) != (want < 0) {
			t.Fatalf("after %q: hit %d, want %d", stream[:i+1], got, want)
		}
		for k := 1; k <= len(seen); k++ {
			suffix := seen[len(seen)-k:]
			for _, p := range patterns {
				if p != "" && strings.HasPrefix(strings.ToLower(p), suffix) && k > m.depth(s) {
					t.Fatalf("after %q: depth %d, but the last %d bytes begin %q", stream[:i+1], m.depth(s), k, p)
				}
			}
		}
	}
}

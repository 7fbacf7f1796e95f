package redact

import (
	"net/netip"
	"strings"
)

// ipv4End returns the end of a dotted-quad IPv4 address starting at
// s[i], or 0. net/netip has the last word: it refuses parts over 255
// and leading zeros. Loopback and unspecified addresses (127.0.0.1,
// 0.0.0.0) identify nobody and stay in clear.
func ipv4End(s string, i int) int {
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0
			}
			j++
		}
		k := j
		for k < len(s) && k-j < 3 && isDigit(s[k]) {
			k++
		}
		if k == j {
			return 0
		}
		j = k
	}
	if !endsToken(s, j) || !personalAddr(s[i:j]) {
		return 0
	}
	return j
}

func personalAddr(v string) bool {
	a, err := netip.ParseAddr(v)
	return err == nil && !a.IsLoopback() && !a.IsUnspecified()
}

func isIPv6Byte(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == ':' || c == '.'
}

// findIPv6 finds IPv6 addresses: around each ':', the run of hex digits,
// colons and dots is a candidate that net/netip must accept. To keep
// clock times, C++ scopes and Python slices ("12:30:45", "A::B",
// "x[1::2]") in clear, a candidate also needs two colons, a decimal
// digit and a group of four hex digits, as real addresses have.
func findIPv6(s string, ms []Match) []Match {
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], ':')
		if k < 0 {
			break
		}
		a, b := i+k, i+k+1
		for a > i && isIPv6Byte(s[a-1]) {
			a--
		}
		for b < len(s) && isIPv6Byte(s[b]) {
			b++
		}
		if start, end := ipv6Span(s, a, b); end > start {
			ms = append(ms, Match{Kind: IP, Start: start, End: end})
		}
		i = b
	}
	return ms
}

// ipv6Span trims the run s[a:b] to the address it holds, if any: a lone
// colon before it ("addr:2001:db8::1") and a full stop or lone colon
// after it are punctuation.
func ipv6Span(s string, a, b int) (start, end int) {
	if strings.HasPrefix(s[a:b], ":") && !strings.HasPrefix(s[a:b], "::") {
		a++
	}
	for b > a && s[b-1] == '.' {
		b--
	}
	if strings.HasSuffix(s[a:b], ":") && !strings.HasSuffix(s[a:b], "::") {
		b--
	}
	v := s[a:b]
	if a > 0 && attachedBefore(s[a-1]) || b < len(s) && attachedAfter(s[b]) ||
		strings.Count(v, ":") < 2 || !strings.ContainsAny(v, "0123456789") || !hasHexQuad(v) {
		return 0, 0
	}
	if addr, err := netip.ParseAddr(v); err != nil || !addr.Is6() || !personalAddr(v) {
		return 0, 0
	}
	return a, b
}

// hasHexQuad reports whether v has a group of four hex digits.
func hasHexQuad(v string) bool {
	for g := range strings.SplitSeq(v, ":") {
		if len(g) == 4 && !strings.Contains(g, ".") {
			return true
		}
	}
	return false
}

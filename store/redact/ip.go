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

// maxIPv6Len is the length of the longest IPv6 address text,
// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
const maxIPv6Len = 45

// findIPv6 finds IPv6 addresses in the runs of hex digits, colons and
// dots around each ':'.
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
		for a < b {
			start, end := firstIPv6(s, a, b)
			if end == 0 {
				break
			}
			ms = append(ms, Match{Kind: IP, Start: start, End: end})
			a = end
		}
		i = b
	}
	return ms
}

// firstIPv6 returns the leftmost, then longest, address in the run
// s[a:b]. A run can hold more than an address: "0612345678:2001:db8::1"
// is a phone number, then an address. So an address may start at the
// run's start or after a colon, and end at the run's end or before a
// colon or a full stop.
func firstIPv6(s string, a, b int) (start, end int) {
	for i := a; i < b; i++ {
		if i > a && s[i-1] != ':' || i == a && a > 0 && attachedBefore(s[a-1]) ||
			!hasHexQuad(s[i:min(b, i+maxIPv6Len)]) {
			continue
		}
		for j := min(b, i+maxIPv6Len); j > i; j-- {
			if (j == b || s[j] == ':' || s[j] == '.') && endsToken(s, j) && isIPv6(s[i:j]) {
				return i, j
			}
		}
	}
	return 0, 0
}

// isIPv6 reports whether v is an IPv6 address that may identify someone.
// net/netip must accept it; and to keep clock times, C++ scopes and
// Python slices ("12:30:45", "A::B", "x[1::2]") in clear, it also needs
// two colons, a decimal digit and a group of four hex digits, as real
// addresses have.
func isIPv6(v string) bool {
	if strings.Count(v, ":") < 2 || !strings.ContainsAny(v, "0123456789") || !hasHexQuad(v) {
		return false
	}
	a, err := netip.ParseAddr(v)
	return err == nil && a.Is6() && a.Zone() == "" && personalAddr(v)
}

// hasHexQuad reports whether v has a group of four hex digits.
func hasHexQuad(v string) bool {
	n, dotted := 0, false // the current group's length, and whether it has a dot
	for i := 0; i <= len(v); i++ {
		switch {
		case i == len(v) || v[i] == ':':
			if n == 4 && !dotted {
				return true
			}
			n, dotted = 0, false
		case v[i] == '.':
			dotted = true
		default:
			n++
		}
	}
	return false
}

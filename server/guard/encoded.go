package guard

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on the decoding of blobs, so that a text full of base64 costs
// no more than a few times its length.
const (
	minBlob      = 16       // shorter runs cannot hold a phrasing worth decoding
	maxBlob      = 8 << 10  // longer runs are decoded up to this many characters
	maxBlobs     = 16       // runs decoded per text
	maxBlobBytes = 32 << 10 // characters decoded per text in all
)

// matchEncoded decodes runs of base64 or hex in text and runs the phrase
// and role-tag rules on any that decode to readable text, naming the
// hits "base64:<rule>" or "hex:<rule>".
func (d *Detector) matchEncoded(text string, h *hits) {
	blobs, budget := 0, maxBlobBytes
	for i := 0; i < len(text) && blobs < maxBlobs && budget > 0; {
		if !isBlobByte(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isBlobByte(text[j]) {
			j++
		}
		run := text[i:min(j, i+maxBlob, i+budget)]
		i = j
		if len(run) < minBlob {
			continue
		}
		blobs++
		budget -= len(run)
		kind, plain := decodeBlob(run)
		if plain == "" {
			continue
		}
		d.matchPhrases(normalize(plain, false), kind+":", h)
		matchRoleTags(plain, kind+":", h)
	}
}

func isBlobByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '=' || c == '-' || c == '_'
}

// decodeBlob decodes run as hex if it is all hex digits, else as base64
// (standard or URL alphabet, padded or not), and returns the result only
// if it reads as text.
func decodeBlob(run string) (kind, plain string) {
	if isHex(run) {
		b, err := hex.DecodeString(run[:len(run)&^1])
		if err == nil && readable(b) {
			return "hex", string(b)
		}
		return "", ""
	}
	trimmed := strings.TrimRight(run, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		// A run glued to a word may not decode whole; then the longest
		// prefix of whole quads may.
		for _, s := range []string{trimmed, trimmed[:len(trimmed)&^3]} {
			if b, err := enc.DecodeString(s); err == nil && readable(b) {
				return "base64", string(b)
			}
		}
	}
	return "", ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// readable reports whether b is valid UTF-8 made mostly (90 %) of
// printable characters and spaces: decoded text, not binary.
func readable(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	total, ok := 0, 0
	for _, r := range string(b) {
		total++
		if unicode.IsPrint(r) || r == '\n' || r == '\t' || r == '\r' {
			ok++
		}
	}
	return ok*10 >= total*9
}

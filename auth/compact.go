package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Size caps checked before any parsing, so that a hostile token costs
// little to refuse.
const (
	MaxTokenBytes   = 8 << 10
	maxHeaderBytes  = 1 << 10
	maxKeyIDBytes   = 128
	maxJSONDepth    = 8
	maxClaimStrings = 256
)

// allowedHeader reports whether a token may carry a JOSE header parameter.
// Only alg, typ and kid are allowed; crit (we understand no extensions),
// jwk, jku, x5u, x5c (a token must never choose its own key), zip, b64 and
// the rest are refused.
func allowedHeader(name string) bool { return name == "alg" || name == "typ" || name == "kid" }

// compactToken is a JWS in compact serialization, split and decoded, with
// its header and payload checked for shape. Nothing here is trusted until
// the signature verifies.
type compactToken struct {
	alg, kid string
	payload  []byte
}

// parseCompact does the checks jwx leaves to its caller (RFC 8725):
// compact serialization only, strict base64url, no duplicate JSON keys, a
// small fixed set of header parameters, alg present as a string.
func parseCompact(token string) (compactToken, error) {
	if len(token) > MaxTokenBytes {
		return compactToken{}, fmt.Errorf("token is %d bytes, more than the %d accepted", len(token), MaxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return compactToken{}, errors.New("token is not a compact JWS (three dot-separated parts)")
	}
	for i, name := range []string{"header", "payload", "signature"} {
		if parts[i] == "" {
			return compactToken{}, fmt.Errorf("token %s is empty", name)
		}
	}
	header, err := decodeSegment("header", parts[0])
	if err != nil {
		return compactToken{}, err
	}
	if len(header) > maxHeaderBytes {
		return compactToken{}, fmt.Errorf("token header is %d bytes, more than the %d accepted", len(header), maxHeaderBytes)
	}
	payload, err := decodeSegment("payload", parts[1])
	if err != nil {
		return compactToken{}, err
	}
	if _, err := decodeSegment("signature", parts[2]); err != nil {
		return compactToken{}, err
	}
	if err := checkJSONObject("header", header); err != nil {
		return compactToken{}, err
	}
	if err := checkJSONObject("payload", payload); err != nil {
		return compactToken{}, err
	}

	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		return compactToken{}, fmt.Errorf("token header: %w", err)
	}
	for name := range h {
		if !allowedHeader(name) {
			return compactToken{}, fmt.Errorf("token header parameter %q is not accepted", name)
		}
	}
	t := compactToken{payload: payload}
	var ok bool
	if t.alg, ok = h["alg"].(string); !ok || t.alg == "" {
		return compactToken{}, errors.New("token header has no alg string")
	}
	if typ, present := h["typ"]; present {
		if s, _ := typ.(string); !strings.EqualFold(s, "JWT") && !strings.EqualFold(s, "at+jwt") {
			return compactToken{}, fmt.Errorf("token typ %v is not JWT", typ)
		}
	}
	if kid, present := h["kid"]; present {
		if t.kid, ok = kid.(string); !ok || !validKeyID(t.kid) {
			return compactToken{}, errors.New("token kid is not a short printable string")
		}
	}
	return t, nil
}

// decodeSegment decodes unpadded base64url and nothing else: no padding,
// no standard-alphabet + or /, no whitespace.
func decodeSegment(name, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || strings.ContainsAny(s, "=+/ \t\r\n") {
		return nil, fmt.Errorf("token %s is not unpadded base64url", name)
	}
	return b, nil
}

func validKeyID(kid string) bool {
	if kid == "" || len(kid) > maxKeyIDBytes || !utf8.ValidString(kid) {
		return false
	}
	for _, r := range kid {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// checkJSONObject insists on one JSON object, valid UTF-8, without a key
// repeated at any level: parsers disagree on which duplicate wins, and an
// attacker picks the one the verifier does not look at.
func checkJSONObject(name string, data []byte) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("token %s is not valid UTF-8", name)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("token %s is not a JSON object", name)
	}
	if err := checkObject(dec, 1); err != nil {
		return fmt.Errorf("token %s: %w", name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("token %s has data after its JSON object", name)
	}
	return nil
}

// checkObject walks an object whose '{' has been read.
func checkObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		if err := checkValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func checkValue(dec *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, depth+1)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}

package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Key is one trusted verification key with the single algorithm it may be
// used with. Pinning the algorithm per key is what stops algorithm
// confusion: a token's alg must equal it exactly.
type Key struct {
	ID  string // kid; tokens naming another kid do not use this key
	Alg jwa.SignatureAlgorithm
	key any // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte (HMAC)
}

// KeySpec says where a trusted key comes from: a PEM public key, an HMAC
// secret file or a JWKS file. Its text form, used by flags and the config
// file, is "file=PATH[,alg=ALG][,kid=ID]".
type KeySpec struct {
	File string
	Alg  string // required for HMAC secrets and RSA keys; implied by EC and Ed25519 keys
	ID   string // default: the file's base name without extension
}

// ParseKeySpec reads the text form of a KeySpec.
func ParseKeySpec(s string) (KeySpec, error) {
	var k KeySpec
	for _, field := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || value == "" {
			return KeySpec{}, fmt.Errorf("key %q: want file=PATH[,alg=ALG][,kid=ID]", s)
		}
		switch name {
		case "file":
			k.File = value
		case "alg":
			k.Alg = value
		case "kid":
			k.ID = value
		default:
			return KeySpec{}, fmt.Errorf("key %q: unknown field %q (want file, alg, kid)", s, name)
		}
	}
	if k.File == "" {
		return KeySpec{}, fmt.Errorf("key %q: file= is required", s)
	}
	return k, nil
}

// LoadKeys reads the keys a spec names: one for a PEM or secret file,
// every key of a JWKS file.
func LoadKeys(spec KeySpec) ([]Key, error) {
	data, err := os.ReadFile(spec.File)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	switch {
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")):
		keys, err := parseJWKS(data)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", spec.File, err)
		}
		return keys, nil
	case bytes.Contains(data, []byte("-----BEGIN")):
		k, err := parsePublicPEM(data, spec)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", spec.File, err)
		}
		return []Key{k}, nil
	default:
		k, err := loadSecret(spec, data)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", spec.File, err)
		}
		return []Key{k}, nil
	}
}

func defaultKeyID(file string) string {
	return strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
}

func parsePublicPEM(data []byte, spec KeySpec) (Key, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return Key{}, errors.New(`want a PEM "PUBLIC KEY" block (a private key does not belong in the trust list)`)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return Key{}, err
	}
	id := spec.ID
	if id == "" {
		id = defaultKeyID(spec.File)
	}
	alg, err := algorithmFor(pub, spec.Alg)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, Alg: alg, key: pub}, nil
}

// loadSecret reads an HMAC secret. It must be private to its owner and at
// least as long as the hash (RFC 7518 §3.2).
func loadSecret(spec KeySpec, data []byte) (Key, error) {
	info, err := os.Stat(spec.File)
	if err != nil {
		return Key{}, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("secret is readable by group or others (mode %v); run: chmod 600 %s", info.Mode().Perm(), spec.File)
	}
	secret := bytes.TrimRight(data, "\r\n")
	min := map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[spec.Alg]
	if min == 0 {
		return Key{}, fmt.Errorf("a secret needs alg=HS256, HS384 or HS512 (got %q)", spec.Alg)
	}
	if len(secret) < min {
		return Key{}, fmt.Errorf("%s secret is %d bytes; at least %d are required", spec.Alg, len(secret), min)
	}
	id := spec.ID
	if id == "" {
		id = defaultKeyID(spec.File)
	}
	return Key{ID: id, Alg: jwa.SignatureAlgorithm(spec.Alg), key: secret}, nil
}

// algorithmFor checks that alg suits the key, or picks the only one that
// does. RSA keys need an explicit choice between RS* and PS*.
func algorithmFor(pub any, alg string) (jwa.SignatureAlgorithm, error) {
	var allowed []string
	switch k := pub.(type) {
	case ed25519.PublicKey:
		allowed = []string{"EdDSA"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			allowed = []string{"ES256"}
		case elliptic.P384():
			allowed = []string{"ES384"}
		case elliptic.P521():
			allowed = []string{"ES512"}
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key has %d bits; at least 2048 are required", k.N.BitLen())
		}
		allowed = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
		if alg == "" {
			return "", errors.New("an RSA key needs alg= (RS256, PS256, …)")
		}
	}
	if len(allowed) == 0 {
		return "", fmt.Errorf("unsupported key type %T", pub)
	}
	if alg == "" {
		alg = allowed[0]
	}
	for _, a := range allowed {
		if a == alg {
			return jwa.SignatureAlgorithm(alg), nil
		}
	}
	return "", fmt.Errorf("alg %q does not suit this key (want one of %s)", alg, strings.Join(allowed, ", "))
}

// parseJWKS reads public keys from a JWKS document. Each key must carry
// kid and alg: a key usable with any algorithm invites confusion.
func parseJWKS(data []byte) ([]Key, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	var keys []Key
	for i := 0; i < set.Len(); i++ {
		jk, _ := set.Key(i)
		k, err := keyFromJWK(jk)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no keys")
	}
	return keys, nil
}

// keyFromJWK accepts a public JWK that names its kid and alg.
func keyFromJWK(jk jwk.Key) (Key, error) {
	if jk.KeyID() == "" || jk.Algorithm().String() == "" {
		return Key{}, errors.New("the key lacks kid or alg; both are required")
	}
	if jk.KeyType() == "oct" {
		return Key{}, fmt.Errorf("key %q is a symmetric secret; put secrets in their own file", jk.KeyID())
	}
	var raw any
	if err := jk.Raw(&raw); err != nil {
		return Key{}, fmt.Errorf("key %q: %w", jk.KeyID(), err)
	}
	alg, err := algorithmFor(derefKey(raw), jk.Algorithm().String())
	if err != nil {
		return Key{}, fmt.Errorf("key %q: %w", jk.KeyID(), err)
	}
	return Key{ID: jk.KeyID(), Alg: alg, key: derefKey(raw)}, nil
}

// derefKey normalizes what jwk's Raw returns to the pointer forms x509
// returns, so one type switch covers both.
func derefKey(k any) any {
	switch v := k.(type) {
	case rsa.PublicKey:
		return &v
	case ecdsa.PublicKey:
		return &v
	}
	return k
}

// thumbprint is a short, stable name for a public key.
func thumbprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}

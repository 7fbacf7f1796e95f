package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Signer issues tokens with one private key or secret.
type Signer struct {
	ID  string
	Alg jwa.SignatureAlgorithm
	key any // crypto.Signer or []byte
}

// LoadSigner reads a PKCS#8 PEM private key or an HMAC secret file. The
// file must be private to its owner.
func LoadSigner(spec KeySpec) (Signer, error) {
	info, err := os.Stat(spec.File)
	if err != nil {
		return Signer{}, fmt.Errorf("signing key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return Signer{}, fmt.Errorf("signing key %s is readable by group or others (mode %v); run: chmod 600 %s",
			spec.File, info.Mode().Perm(), spec.File)
	}
	data, err := os.ReadFile(spec.File)
	if err != nil {
		return Signer{}, fmt.Errorf("signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		k, err := loadSecret(spec, data)
		if err != nil {
			return Signer{}, fmt.Errorf("signing key %s: %w", spec.File, err)
		}
		return Signer(k), nil
	}
	if block.Type != "PRIVATE KEY" {
		return Signer{}, fmt.Errorf("signing key %s: want a PKCS#8 \"PRIVATE KEY\" PEM block, got %q", spec.File, block.Type)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Signer{}, fmt.Errorf("signing key %s: %w", spec.File, err)
	}
	cs, ok := priv.(crypto.Signer)
	if !ok {
		return Signer{}, fmt.Errorf("signing key %s: unsupported key type %T", spec.File, priv)
	}
	alg, err := algorithmFor(cs.Public(), spec.Alg)
	if err != nil {
		return Signer{}, fmt.Errorf("signing key %s: %w", spec.File, err)
	}
	id := spec.ID
	if id == "" {
		if id, err = thumbprint(cs.Public()); err != nil {
			return Signer{}, err
		}
	}
	return Signer{ID: id, Alg: alg, key: cs}, nil
}

// Public is the verification key matching the signer.
func (s Signer) Public() Key {
	if cs, ok := s.key.(crypto.Signer); ok {
		return Key{ID: s.ID, Alg: s.Alg, key: cs.Public()}
	}
	return Key(s)
}

// TokenRequest is what a new token grants.
type TokenRequest struct {
	Issuer   string
	Audience string
	Subject  string
	Roles    []Role
	Models   []string
	Team     string
	Project  string
	Teams    []string // more teams the holder belongs to, beside Team
	Projects []string // more projects, beside Project
	TTL      time.Duration
}

// Issue signs a token valid from now for req.TTL, with a random jti.
func (s Signer) Issue(req TokenRequest, now time.Time) (string, error) {
	if req.Subject == "" || len(req.Roles) == 0 || req.TTL <= 0 {
		return "", errors.New("a token needs a subject, at least one role and a positive lifetime")
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	c := map[string]any{
		"iss": req.Issuer, "aud": req.Audience, "sub": req.Subject,
		"jti": hex.EncodeToString(jti),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(req.TTL).Unix(),
		claimRoles: req.Roles,
	}
	if len(req.Models) > 0 {
		c[claimModels] = req.Models
	}
	if req.Team != "" {
		c[claimTeam] = req.Team
	}
	if req.Project != "" {
		c[claimProject] = req.Project
	}
	if len(req.Teams) > 0 {
		c[claimTeams] = req.Teams
	}
	if len(req.Projects) > 0 {
		c[claimProjects] = req.Projects
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, s.ID); err != nil {
		return "", err
	}
	if err := h.Set(jws.TypeKey, "JWT"); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(s.Alg, s.key, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return string(tok), nil
}

// KeyTypes are what GenerateKey can make.
func KeyTypes() []string { return []string{"ed25519", "es256", "rs256", "hs256"} }

// GenerateKey writes a new signing key to prefix+".pem" (mode 0600) and
// its public half to prefix+".pub.pem" (0644), or for hs256 a random
// secret to prefix+".secret" (0600). It never overwrites a file. It
// returns the paths written.
func GenerateKey(kind, prefix string) ([]string, error) {
	if kind == "hs256" {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		path := prefix + ".secret"
		// Hex keeps the secret printable; 64 characters is 32 bytes of entropy.
		return []string{path}, writeNew(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600)
	}
	var priv crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "es256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rs256":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("key type %q: want one of ed25519, es256, rs256, hs256", kind)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	privPath, pubPath := prefix+".pem", prefix+".pub.pem"
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return nil, err
	}
	return []string{privPath, pubPath}, nil
}

// writeNew writes a file that appears complete or not at all, and never
// replaces one: it is written under a temporary name and hard-linked into
// place, which fails if the name exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

// LocalSigner returns the data directory's own Ed25519 signing key,
// generating it on first use. It is what a deployment without configured
// keys trusts, so that the demo works with authentication on.
func LocalSigner(keysDir string) (Signer, error) {
	prefix := filepath.Join(keysDir, "local-ed25519")
	if _, err := os.Stat(prefix + ".pem"); errors.Is(err, os.ErrNotExist) {
		// Another process (serve and token issue started together) may
		// win the race; its complete key is then the one to use.
		if _, err := GenerateKey("ed25519", prefix); err != nil && !errors.Is(err, os.ErrExist) {
			return Signer{}, fmt.Errorf("generate local signing key: %w", err)
		}
	}
	s, err := LoadSigner(KeySpec{File: prefix + ".pem"})
	if err != nil {
		return Signer{}, err
	}
	s.ID = "local-" + s.ID
	return s, nil
}

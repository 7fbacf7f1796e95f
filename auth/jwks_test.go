package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// idp serves a JWKS over TLS and counts fetches; rotate swaps its key.
type idp struct {
	mu      sync.Mutex
	set     []byte
	fetches atomic.Int32
}

func (p *idp) publish(t *testing.T, kid string) Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := jwk.FromRaw(priv.Public())
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.AlgorithmKey, jwa.ES256)
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	data, _ := json.Marshal(set)
	p.mu.Lock()
	p.set = data
	p.mu.Unlock()
	return Signer{ID: kid, Alg: jwa.ES256, key: priv}
}

func (p *idp) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	p.fetches.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(p.set)
}

func TestJWKSFromURL(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &idp{}
	first := p.publish(t, "idp-1")
	ts := httptest.NewTLSServer(p)
	defer ts.Close()

	if _, err := NewJWKS(ctx, strings.Replace(ts.URL, "https://127.0.0.1", "http://example.com", 1), ts.Client()); err == nil {
		t.Fatal("a plain-http JWKS URL beyond loopback was accepted")
	}
	src, err := NewJWKS(ctx, ts.URL, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{
		Remote: src, Issuer: DefaultIssuer, Audience: DefaultAudience,
		MaxLifetime: time.Hour, Revocations: noRevocations{},
	})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(s Signer) error {
		tok, err := s.Issue(request(RoleUser), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(ctx, tok)
		return err
	}
	if err := verify(first); err != nil {
		t.Fatalf("token signed with the published key: %v", err)
	}

	// The provider rotates: the new kid is fetched on first sight.
	second := p.publish(t, "idp-2")
	before := p.fetches.Load()
	if err := verify(second); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if p.fetches.Load() != before+1 {
		t.Fatalf("fetches %d → %d, want one refresh for the new kid", before, p.fetches.Load())
	}

	// Forged kids right after cannot force more fetches.
	rogue := second
	rogue.ID = "forged"
	before = p.fetches.Load()
	for range 5 {
		var te *TokenError
		if err := verify(rogue); !errors.As(err, &te) || te.Reason != ReasonKey {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if p.fetches.Load() != before {
		t.Fatalf("unknown kids caused %d fetches", p.fetches.Load()-before)
	}
}

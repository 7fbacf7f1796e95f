package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// JWKS fetches an identity provider's keys from a URL and keeps them
// cached, refreshing them in the background.
type JWKS struct {
	url   string
	cache *jwk.Cache

	mu          sync.Mutex
	lastRefresh time.Time // of a refresh forced by an unknown kid
}

// Refresh bounds for JWKS: keys rotate rarely, and a kid miss may force a
// refresh at most once per missRefresh so that forged kids cannot make
// Warden hammer the identity provider.
const (
	jwksRefresh = 15 * time.Minute
	missRefresh = time.Minute
)

// NewJWKS registers rawURL and fetches it once, so a wrong URL fails at
// start rather than on the first request. Only https is accepted, except
// on loopback. The cache refreshes until ctx ends.
func NewJWKS(ctx context.Context, rawURL string, client *http.Client) (*JWKS, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("JWKS URL: %w", err)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopback(u.Hostname())) {
		return nil, fmt.Errorf("JWKS URL %s: keys must come over https", rawURL)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	c := jwk.NewCache(ctx)
	if err := c.Register(rawURL, jwk.WithMinRefreshInterval(jwksRefresh), jwk.WithHTTPClient(client)); err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", rawURL, err)
	}
	if _, err := c.Refresh(ctx, rawURL); err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", rawURL, err)
	}
	return &JWKS{url: rawURL, cache: c}, nil
}

// Key finds kid among the provider's keys, refreshing once if it is new.
func (j *JWKS) Key(ctx context.Context, kid string) (Key, bool, error) {
	set, err := j.cache.Get(ctx, j.url)
	if err != nil {
		return Key{}, false, fmt.Errorf("JWKS %s: %w", j.url, err)
	}
	jk, ok := set.LookupKeyID(kid)
	if !ok && j.mayRefresh() {
		if set, err = j.cache.Refresh(ctx, j.url); err == nil {
			jk, ok = set.LookupKeyID(kid)
		}
	}
	if !ok {
		return Key{}, false, nil
	}
	k, err := keyFromJWK(jk)
	if err != nil {
		return Key{}, false, fmt.Errorf("JWKS %s: %w", j.url, err)
	}
	return k, true, nil
}

func (j *JWKS) mayRefresh() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if time.Since(j.lastRefresh) < missRefresh {
		return false
	}
	j.lastRefresh = time.Now()
	return true
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
)

// RevocationList answers whether a token id was revoked.
type RevocationList interface {
	Revoked(ctx context.Context, jti string) (bool, error)
}

// KeySource finds the key for a kid beyond the static list, such as an
// identity provider's JWKS endpoint.
type KeySource interface {
	Key(ctx context.Context, kid string) (Key, bool, error)
}

// VerifierConfig says which tokens are accepted.
type VerifierConfig struct {
	Keys        []Key
	Remote      KeySource // optional
	Issuer      string
	Audience    string
	MaxLifetime time.Duration // exp may be at most this far past iat (or now)
	Skew        time.Duration // tolerance for exp, nbf and iat
	Revocations RevocationList
	Now         func() time.Time // tests; default time.Now
}

// Defaults for VerifierConfig.
const (
	DefaultIssuer      = "warden"
	DefaultAudience    = "warden"
	DefaultMaxLifetime = 24 * time.Hour
	DefaultSkew        = 30 * time.Second
)

// Verifier checks bearer tokens.
type Verifier struct {
	cfg  VerifierConfig
	keys map[string]Key
}

// NewVerifier checks the configuration: at least one key source, unique
// kids, an issuer and an audience.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Keys) == 0 && cfg.Remote == nil {
		return nil, errors.New("no trusted key: configure at least one")
	}
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.MaxLifetime <= 0 || cfg.Skew < 0 || cfg.Revocations == nil {
		return nil, errors.New("verifier needs an issuer, an audience, a positive maximum lifetime, a skew ≥ 0 and a revocation list")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg, keys: map[string]Key{}}
	for _, k := range cfg.Keys {
		if _, dup := v.keys[k.ID]; dup {
			return nil, fmt.Errorf("two trusted keys share kid %q", k.ID)
		}
		v.keys[k.ID] = k
	}
	return v, nil
}

// Reason classifies a rejection, for metrics and the audit log. The
// message in TokenError says more; neither ever contains the token.
type Reason string

const (
	ReasonMissing   Reason = "missing"
	ReasonMalformed Reason = "malformed"
	ReasonKey       Reason = "unknown_key"
	ReasonAlgorithm Reason = "algorithm"
	ReasonSignature Reason = "signature"
	ReasonClaims    Reason = "claims"
	ReasonExpired   Reason = "expired"
	ReasonNotYet    Reason = "not_yet_valid"
	ReasonLifetime  Reason = "lifetime"
	ReasonRevoked   Reason = "revoked"
)

// TokenError is why a token was refused.
type TokenError struct {
	Reason Reason
	Err    error
}

func (e *TokenError) Error() string { return fmt.Sprintf("invalid token (%s): %v", e.Reason, e.Err) }
func (e *TokenError) Unwrap() error { return e.Err }

func reject(r Reason, format string, args ...any) error {
	return &TokenError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// ErrRevocationUnavailable means the revocation list could not be read:
// the token is refused, but the fault is the server's.
var ErrRevocationUnavailable = errors.New("revocation list unavailable")

// Verify checks token and returns whom it identifies. Every check that
// can run without cryptography runs first.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, reject(ReasonMissing, "no bearer token")
	}
	ct, err := parseCompact(token)
	if err != nil {
		return Identity{}, &TokenError{Reason: ReasonMalformed, Err: err}
	}
	key, err := v.key(ctx, ct.kid)
	if err != nil {
		return Identity{}, err
	}
	if ct.alg != string(key.Alg) {
		return Identity{}, reject(ReasonAlgorithm, "alg %q is not the %s pinned for key %q", ct.alg, key.Alg, key.ID)
	}
	c, err := decodeClaims(ct.payload)
	if err != nil {
		return Identity{}, &TokenError{Reason: ReasonClaims, Err: err}
	}
	now := v.cfg.Now()
	if _, err := jwt.Parse([]byte(token),
		jwt.WithKey(key.Alg, key.key),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
		jwt.WithAcceptableSkew(v.cfg.Skew),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithRequiredClaim("exp"),
		jwt.WithRequiredClaim("sub"),
		jwt.WithRequiredClaim("jti"),
	); err != nil {
		return Identity{}, classifyJWT(err)
	}
	if err := v.checkTimes(c, now); err != nil {
		return Identity{}, err
	}
	if len(c.Roles) == 0 {
		return Identity{}, &TokenError{Reason: ReasonClaims, Err: errNoRoles}
	}
	revoked, err := v.cfg.Revocations.Revoked(ctx, c.ID)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrRevocationUnavailable, err)
	}
	if revoked {
		return Identity{}, reject(ReasonRevoked, "token %s was revoked", c.ID)
	}
	return Identity{
		Subject: c.Subject, TokenID: c.ID, Roles: c.Roles, Models: c.Models,
		Team: first(c.Teams), Project: first(c.Projects), Teams: c.Teams, Projects: c.Projects,
		ExpiresAt: time.Unix(c.Expiry, 0),
	}, nil
}

func (v *Verifier) key(ctx context.Context, kid string) (Key, error) {
	if kid == "" {
		if len(v.keys) == 1 && v.cfg.Remote == nil {
			for _, k := range v.keys {
				return k, nil
			}
		}
		return Key{}, reject(ReasonKey, "token has no kid and several keys are trusted")
	}
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if v.cfg.Remote != nil {
		k, ok, err := v.cfg.Remote.Key(ctx, kid)
		if err != nil {
			return Key{}, &TokenError{Reason: ReasonKey, Err: err}
		}
		if ok {
			return k, nil
		}
	}
	return Key{}, reject(ReasonKey, "no trusted key has kid %q", kid)
}

// checkTimes adds what jwx does not check: iat in the future, and a
// lifetime beyond the configured maximum.
func (v *Verifier) checkTimes(c claims, now time.Time) error {
	skew := int64(v.cfg.Skew / time.Second)
	max := int64(v.cfg.MaxLifetime / time.Second)
	unix := now.Unix()
	if c.IssuedAt != 0 && c.IssuedAt > unix+skew {
		return reject(ReasonNotYet, "token issued in the future")
	}
	start := unix
	if c.IssuedAt != 0 {
		start = c.IssuedAt
	}
	if c.Expiry-start > max+skew {
		return reject(ReasonLifetime, "token lifetime exceeds the %s maximum", v.cfg.MaxLifetime)
	}
	return nil
}

func classifyJWT(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		return &TokenError{Reason: ReasonExpired, Err: errors.New("token has expired")}
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		return &TokenError{Reason: ReasonNotYet, Err: errors.New("token is not valid yet")}
	case errors.Is(err, jwt.ErrInvalidIssuer()), errors.Is(err, jwt.ErrInvalidAudience()), errors.Is(err, jwt.ErrRequiredClaim()):
		return &TokenError{Reason: ReasonClaims, Err: err}
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		return &TokenError{Reason: ReasonNotYet, Err: errors.New("token issued in the future")}
	}
	return &TokenError{Reason: ReasonSignature, Err: errors.New("signature does not verify")}
}

// first is a list's first entry, or "" for none.
func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

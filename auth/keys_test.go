package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

type noRevocations struct{}

func (noRevocations) Revoked(context.Context, string) (bool, error) { return false, nil }

func verifierFor(t *testing.T, keys ...Key) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{
		Keys: keys, Issuer: DefaultIssuer, Audience: DefaultAudience,
		MaxLifetime: DefaultMaxLifetime, Skew: DefaultSkew, Revocations: noRevocations{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func request(roles ...Role) TokenRequest {
	return TokenRequest{Issuer: DefaultIssuer, Audience: DefaultAudience, Subject: "alice", Roles: roles,
		Models: []string{"m"}, Team: "t", Project: "p", TTL: time.Hour}
}

// TestGeneratedKeysRoundTrip: every key type GenerateKey makes signs
// tokens that its public half verifies, with the claims intact.
func TestGeneratedKeysRoundTrip(t *testing.T) {
	for _, kind := range KeyTypes() {
		t.Run(kind, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "k")
			paths, err := GenerateKey(kind, prefix)
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(paths[0])
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("private file mode %v, %v; want 0600", info.Mode().Perm(), err)
			}
			if _, err := GenerateKey(kind, prefix); !errors.Is(err, os.ErrExist) {
				t.Fatalf("GenerateKey over an existing key: %v, want ErrExist", err)
			}
			alg := map[string]string{"rs256": "RS256", "hs256": "HS256"}[kind]
			signer, err := LoadSigner(KeySpec{File: paths[0], Alg: alg, ID: "k"})
			if err != nil {
				t.Fatal(err)
			}
			var trusted []Key
			if kind == "hs256" {
				trusted, err = LoadKeys(KeySpec{File: paths[0], Alg: alg, ID: "k"})
			} else {
				trusted, err = LoadKeys(KeySpec{File: paths[1], Alg: alg, ID: "k"})
			}
			if err != nil {
				t.Fatal(err)
			}
			tok, err := signer.Issue(request(RoleUser, RoleAuditor), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			id, err := verifierFor(t, trusted...).Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "alice" || !id.Has(RoleAuditor) || id.Has(RoleAdmin) || !id.MayUse("m") || id.MayUse("n") ||
				id.Team != "t" || id.Project != "p" || len(id.TokenID) != 32 {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestKeyLoadingRefusesWeakOrAmbiguousKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubPEM := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	big, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ec)

	jwksNoAlg, _ := jwk.FromRaw(ec.Public())
	_ = jwksNoAlg.Set(jwk.KeyIDKey, "idp")
	set := jwk.NewSet()
	_ = set.AddKey(jwksNoAlg)
	noAlg, _ := json.Marshal(set)

	for _, tc := range []struct {
		name string
		spec KeySpec
		want string
	}{
		{"short RSA", KeySpec{File: write("small.pem", pubPEM(small.Public()), 0o644), Alg: "RS256"}, "at least 2048"},
		{"RSA without alg", KeySpec{File: write("big.pem", pubPEM(big.Public()), 0o644)}, "needs alg"},
		{"EC key with HS alg", KeySpec{File: write("ec.pem", pubPEM(ec.Public()), 0o644), Alg: "HS256"}, "does not suit"},
		{"private key as trusted key", KeySpec{File: write("priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600)}, "PUBLIC KEY"},
		{"short secret", KeySpec{File: write("short.secret", []byte("0123456789"), 0o600), Alg: "HS256"}, "at least 32"},
		{"secret without HS alg", KeySpec{File: write("s.secret", []byte(strings.Repeat("x", 64)), 0o600), Alg: "RS256"}, "HS256"},
		{"readable secret", KeySpec{File: write("r.secret", []byte(strings.Repeat("x", 64)), 0o644), Alg: "HS256"}, "readable by group or others"},
		{"JWKS key without alg", KeySpec{File: write("keys.json", noAlg, 0o644)}, "lacks kid or alg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeys(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadKeys: %v, want an error containing %q", err, tc.want)
			}
		})
	}

	withAlg, _ := jwk.FromRaw(ec.Public())
	_ = withAlg.Set(jwk.KeyIDKey, "idp-1")
	_ = withAlg.Set(jwk.AlgorithmKey, "ES256")
	good := jwk.NewSet()
	_ = good.AddKey(withAlg)
	data, _ := json.Marshal(good)
	keys, err := LoadKeys(KeySpec{File: write("good.json", data, 0o644)})
	if err != nil || len(keys) != 1 || keys[0].ID != "idp-1" || keys[0].Alg != "ES256" {
		t.Fatalf("JWKS with kid and alg: %+v, %v", keys, err)
	}
}

func TestParseKeySpec(t *testing.T) {
	k, err := ParseKeySpec("file=/k.pem, alg=PS256 ,kid=main")
	if err != nil || k != (KeySpec{File: "/k.pem", Alg: "PS256", ID: "main"}) {
		t.Fatalf("%+v, %v", k, err)
	}
	for _, bad := range []string{"", "alg=RS256", "file=", "file=/k,color=red", "/k.pem"} {
		if _, err := ParseKeySpec(bad); err == nil {
			t.Errorf("ParseKeySpec(%q) accepted", bad)
		}
	}
}

func TestLocalSignerIsStable(t *testing.T) {
	dir := t.TempDir()
	a, err := LocalSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LocalSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || !strings.HasPrefix(a.ID, "local-") || a.Alg != "EdDSA" {
		t.Fatalf("signers %q/%s and %q", a.ID, a.Alg, b.ID)
	}
	tok, err := a.Issue(request(RoleUser), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifierFor(t, b.Public()).Verify(context.Background(), tok); err != nil {
		t.Fatalf("a token from the first load fails under the second: %v", err)
	}
}

func TestVerifierTimeRules(t *testing.T) {
	s, err := LocalSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v := verifierFor(t, s.Public())
	v.cfg.Now = func() time.Time { return now }
	for _, tc := range []struct {
		name   string
		issued time.Time
		ttl    time.Duration
		want   Reason
	}{
		{"fresh", now, time.Hour, ""},
		{"within skew of expiry", now.Add(-time.Hour - 10*time.Second), time.Hour, ""},
		{"expired beyond skew", now.Add(-2 * time.Hour), time.Hour, ReasonExpired},
		{"issued slightly ahead", now.Add(10 * time.Second), time.Hour, ""},
		{"issued in the future", now.Add(time.Hour), time.Hour, ReasonNotYet},
		{"lifetime too long", now, 25 * time.Hour, ReasonLifetime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(RoleUser)
			req.TTL = tc.ttl
			tok, err := s.Issue(req, tc.issued)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tok)
			var te *TokenError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &te) || te.Reason != tc.want):
				t.Fatalf("err %v, want reason %s", err, tc.want)
			}
		})
	}
}

// The team and project claims come first among the token's memberships
// (they are its defaults); the list claims add to them, without repeats.
func TestTeamAndProjectLists(t *testing.T) {
	s, err := LocalSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := verifierFor(t, s.Public())
	for _, tc := range []struct {
		name                 string
		team, project        string
		teams, projects      []string
		wantTeams, wantProjs []string
	}{
		{"singles only", "t", "p", nil, nil, []string{"t"}, []string{"p"}},
		{"single wins as default", "t", "", []string{"u", "t"}, []string{"q", "r"}, []string{"t", "u"}, []string{"q", "r"}},
		{"lists only", "", "", []string{"u", "v"}, nil, []string{"u", "v"}, nil},
		{"none", "", "", nil, nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(RoleUser)
			req.Team, req.Project, req.Teams, req.Projects = tc.team, tc.project, tc.teams, tc.projects
			tok, err := s.Issue(req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(id.Teams, tc.wantTeams) || !slices.Equal(id.Projects, tc.wantProjs) ||
				id.Team != first(tc.wantTeams) || id.Project != first(tc.wantProjs) {
				t.Fatalf("identity teams %q (default %q), projects %q (default %q); want %q, %q",
					id.Teams, id.Team, id.Projects, id.Project, tc.wantTeams, tc.wantProjs)
			}
		})
	}
}

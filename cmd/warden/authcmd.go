package main

import (
	"context"
	"fmt"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/store"
	"github.com/warden-llm/warden/store/redact"
)

// authOptions configure token verification; serve and token share them.
type authOptions struct {
	enabled     bool
	keys        []string       // --auth-key as given
	specs       []auth.KeySpec // parsed from keys by parse
	jwksURL     string
	issuer      string
	audience    string
	maxLifetime time.Duration
	skew        time.Duration
}

func (a *authOptions) register(f *pflag.FlagSet) {
	f.BoolVar(&a.enabled, "auth", true, "require a bearer token (JWT) on every API call; off is allowed on loopback only")
	f.StringArrayVar(&a.keys, "auth-key", nil, "trusted token key, repeatable: file=PATH[,alg=ALG][,kid=ID] (PEM public key, HMAC secret file or JWKS file); default: the data directory's own Ed25519 key")
	f.StringVar(&a.jwksURL, "auth-jwks-url", "", "identity provider's JWKS URL (https): its keys are trusted, cached and refreshed every 15 minutes")
	f.StringVar(&a.issuer, "auth-issuer", auth.DefaultIssuer, "required iss claim")
	f.StringVar(&a.audience, "auth-audience", auth.DefaultAudience, "required aud claim")
	f.DurationVar(&a.maxLifetime, "auth-max-ttl", auth.DefaultMaxLifetime, "longest token lifetime accepted")
	f.DurationVar(&a.skew, "auth-skew", auth.DefaultSkew, "clock skew tolerated for exp, nbf and iat")
}

// parse reads --auth-key into a.specs; serveOptions.validate runs it.
func (a *authOptions) parse() error {
	a.specs = nil
	for _, spec := range a.keys {
		ks, err := auth.ParseKeySpec(spec)
		if err != nil {
			return fmt.Errorf("--auth-key: %w", err)
		}
		a.specs = append(a.specs, ks)
	}
	return nil
}

// usesLocalKey reports whether the data directory's own key is trusted.
func (a *authOptions) usesLocalKey() bool { return len(a.keys) == 0 && a.jwksURL == "" }

// jwksSources keeps one JWKS cache per URL for the life of serve: each
// cache refreshes in the background until serve ends, so a reload must
// reuse the running one rather than start another.
type jwksSources struct {
	ctx   context.Context // serve's
	mu    sync.Mutex
	byURL map[string]*auth.JWKS
}

func newJWKSSources(ctx context.Context) *jwksSources {
	return &jwksSources{ctx: ctx, byURL: map[string]*auth.JWKS{}}
}

func (j *jwksSources) get(url string) (*auth.JWKS, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if src, ok := j.byURL[url]; ok {
		return src, nil
	}
	src, err := auth.NewJWKS(j.ctx, url, nil)
	if err != nil {
		return nil, err
	}
	j.byURL[url] = src
	return src, nil
}

// verifier builds the token verifier serve uses.
func (a *authOptions) verifier(dir store.Dir, revs auth.RevocationList, jwks *jwksSources) (*auth.Verifier, error) {
	keys, err := a.trustedKeys(dir)
	if err != nil {
		return nil, err
	}
	cfg := auth.VerifierConfig{
		Keys: keys, Issuer: a.issuer, Audience: a.audience,
		MaxLifetime: a.maxLifetime, Skew: a.skew, Revocations: revs,
	}
	if a.jwksURL != "" {
		if cfg.Remote, err = jwks.get(a.jwksURL); err != nil {
			return nil, fmt.Errorf("--auth-jwks-url: %w", err)
		}
	}
	return auth.NewVerifier(cfg)
}

// trustedKeys loads --auth-key, or the local signing key when no key
// source is given (generating it on first use), so the demo works with auth on.
func (a *authOptions) trustedKeys(dir store.Dir) ([]auth.Key, error) {
	if len(a.keys) == 0 && a.jwksURL == "" {
		s, err := localSigner(dir)
		if err != nil {
			return nil, err
		}
		return []auth.Key{s.Public()}, nil
	}
	var keys []auth.Key
	for _, ks := range a.specs {
		loaded, err := auth.LoadKeys(ks)
		if err != nil {
			return nil, fmt.Errorf("--auth-key: %w", err)
		}
		keys = append(keys, loaded...)
	}
	return keys, nil
}

func localSigner(dir store.Dir) (auth.Signer, error) {
	keys, err := dir.Keys()
	if err != nil {
		return auth.Signer{}, err
	}
	return auth.LocalSigner(keys)
}

func newTokenCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue and revoke API tokens",
	}
	cmd.AddCommand(newTokenIssueCommand(g), newTokenRevokeCommand(g), newTokenRevokedCommand(g))
	return cmd
}

func newTokenIssueCommand(g *globalOptions) *cobra.Command {
	var (
		req                   auth.TokenRequest
		roles                 []string
		signingKey, ttlString string
	)
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Sign a token and print it (nothing else) on stdout",
		Long: `issue signs a JWT for --sub with the given roles:
  user     call the inference endpoints (/v1/...)
  admin    read the configuration, revoke tokens
  auditor  read the audit log

By default it signs with the data directory's own Ed25519 key, the key
"warden serve" trusts when no --auth-key is configured. With --signing-key it
signs with that key instead (a PKCS#8 PEM private key or an HMAC secret file).`,
		Example: `  TOKEN=$(warden token issue --sub alice --role user)
  warden token issue --sub ops --role admin --ttl 1h
  warden token issue --sub bot --role user --model warden-demo --team search`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ttl, err := time.ParseDuration(ttlString)
			if err != nil || ttl <= 0 {
				return fmt.Errorf("--ttl %q: want a positive duration such as 8h", ttlString)
			}
			req.TTL = ttl
			for _, r := range roles {
				role, err := auth.ParseRole(r)
				if err != nil {
					return fmt.Errorf("--role: %w", err)
				}
				req.Roles = append(req.Roles, role)
			}
			if req.Subject == "" || len(req.Roles) == 0 {
				return fmt.Errorf("--sub and at least one --role are required")
			}
			signer, err := loadSigner(g, signingKey)
			if err != nil {
				return err
			}
			tok, err := signer.Issue(req, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Subject, "sub", "", "subject: who the token identifies")
	f.StringArrayVar(&roles, "role", nil, "role to grant, repeatable: user, admin, auditor")
	f.StringArrayVar(&req.Models, "model", nil, "limit the token to this model, repeatable (default: every model)")
	f.StringVar(&req.Team, "team", "", "team identifier carried in the token")
	f.StringVar(&req.Project, "project", "", "project identifier carried in the token")
	f.StringArrayVar(&req.Teams, "teams", nil, "another team the holder belongs to (teams claim), repeatable")
	f.StringArrayVar(&req.Projects, "projects", nil, "another project the holder belongs to (projects claim), repeatable")
	f.StringVar(&ttlString, "ttl", "8h", "lifetime; the server refuses tokens living longer than its --auth-max-ttl")
	f.StringVar(&signingKey, "signing-key", "", "file=PATH[,alg=ALG][,kid=ID] of the private key or secret (default: the data directory's key)")
	f.StringVar(&req.Issuer, "issuer", auth.DefaultIssuer, "iss claim")
	f.StringVar(&req.Audience, "audience", auth.DefaultAudience, "aud claim")
	return cmd
}

func loadSigner(g *globalOptions, spec string) (auth.Signer, error) {
	if spec == "" {
		dir, err := g.openDataDir()
		if err != nil {
			return auth.Signer{}, err
		}
		return localSigner(dir)
	}
	ks, err := auth.ParseKeySpec(spec)
	if err != nil {
		return auth.Signer{}, fmt.Errorf("--signing-key: %w", err)
	}
	return auth.LoadSigner(ks)
}

func newTokenRevokeCommand(g *globalOptions) *cobra.Command {
	var reason string
	var patterns patternsFlag
	var words wordsFlag
	cmd := &cobra.Command{
		Use:   "revoke JTI",
		Short: "Revoke a token by its id (jti); a running server refuses it from the next request on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			revs, err := g.openRevocations(cmd.Context(), reasonRedactor(patterns, words))
			if err != nil {
				return err
			}
			defer revs.Close()
			err = revs.Revoke(cmd.Context(), store.Revocation{
				TokenID: args[0], RevokedAt: time.Now(), RevokedBy: "cli:" + currentUser(), Reason: reason,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record (stored with personal data and secrets replaced by [EMAIL], [CARD]…)")
	registerRedactRules(cmd.Flags(), &patterns, &words)
	return cmd
}

// openRevocations opens the data directory's revocation list, the one a
// server with the same --data-dir checks; reasons redacts the reasons it
// stores (nil: the built-in rules).
func (g *globalOptions) openRevocations(ctx context.Context, reasons *redact.Redactor) (*store.Revocations, error) {
	dir, err := g.openDataDir()
	if err != nil {
		return nil, err
	}
	return dir.OpenRevocations(ctx, reasons)
}

func newTokenRevokedCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoked",
		Short: "List revoked token ids",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			revs, err := g.openRevocations(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer revs.Close()
			list, err := revs.List(cmd.Context())
			if err != nil {
				return err
			}
			for _, r := range list {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\t%s\n", r.TokenID, r.RevokedAt.Format(time.RFC3339), r.RevokedBy, r.Reason)
			}
			return nil
		},
	}
}

func newKeysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Generate token-signing keys"}
	var kind string
	gen := &cobra.Command{
		Use:   "generate PREFIX",
		Short: "Write a new key pair (PREFIX.pem, mode 0600, and PREFIX.pub.pem) or secret (PREFIX.secret, 0600)",
		Example: `  warden keys generate --type ed25519 /etc/warden/token-signing
  warden serve --auth-key file=/etc/warden/token-signing.pub.pem
  warden token issue --signing-key file=/etc/warden/token-signing.pem --sub alice --role user`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := auth.GenerateKey(kind, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(paths, "\n"))
			return nil
		},
	}
	gen.Flags().StringVar(&kind, "type", "ed25519", "key type: "+strings.Join(auth.KeyTypes(), ", "))
	cmd.AddCommand(gen)
	return cmd
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/auth"
)

// Authenticator turns a bearer token into an identity.
type Authenticator interface {
	Verify(ctx context.Context, token string) (auth.Identity, error)
}

// localIdentity is whom requests act as when authentication is off, which
// the command line allows on loopback only.
func localIdentity() auth.Identity { return auth.Identity{Subject: "local", Roles: auth.Roles()} }

// authenticate verifies the bearer token and records the identity. A
// missing or bad token gets 401 with the RFC 6750 challenge.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		x := exchangeOf(c)
		authn := x.settings.auth
		if authn == nil {
			x.identity = localIdentity()
			return next(c)
		}
		token, err := bearerToken(c.Request())
		if err == nil {
			var id auth.Identity
			id, err = authn.Verify(c.Request().Context(), token)
			if err == nil {
				x.identity = id
				return next(c)
			}
		}
		if errors.Is(err, auth.ErrRevocationUnavailable) {
			s.log.Error("cannot check token revocation", "id", x.id, "err", err)
			return serverError(http.StatusServiceUnavailable, "auth_unavailable",
				"the server cannot check tokens right now; retry shortly")
		}
		x.authFailure = auth.ReasonMalformed
		var te *auth.TokenError
		if errors.As(err, &te) {
			x.authFailure = te.Reason
		}
		// The message explains the refusal; it never echoes the token.
		challenge, msg := `Bearer realm="warden"`, err.Error()
		if x.authFailure == auth.ReasonMissing {
			msg = "this endpoint needs a bearer token: send Authorization: Bearer <token> (warden token issue makes one)"
		} else {
			challenge += fmt.Sprintf(`, error="invalid_token", error_description=%q`, string(x.authFailure))
		}
		c.Response().Header().Set("WWW-Authenticate", challenge)
		return requestError(http.StatusUnauthorized, "invalid_api_key", msg)
	}
}

// bearerToken reads the one Authorization header. Several headers, other
// schemes and tokens passed elsewhere (query strings) are refused.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", &auth.TokenError{Reason: auth.ReasonMissing, Err: errors.New("no bearer token")}
	case 1:
	default:
		return "", &auth.TokenError{Reason: auth.ReasonMalformed, Err: errors.New("several Authorization headers")}
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", &auth.TokenError{Reason: auth.ReasonMalformed, Err: errors.New("the Authorization header is not \"Bearer <token>\"")}
	}
	return token, nil
}

// require admits identities holding role; others get 403.
func require(role auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !identity(c).Has(role) {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="warden", error="insufficient_scope"`)
				return permissionError("insufficient_scope",
					fmt.Sprintf("this endpoint needs the %q role, which your token does not grant", role))
			}
			return next(c)
		}
	}
}

func modelNotAllowed(name string) *apiError {
	return permissionError("model_not_allowed", fmt.Sprintf("your token does not allow the model %q", name)).withParam("model")
}

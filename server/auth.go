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

const identityKey = "warden.identity"

// localIdentity is whom requests act as when authentication is off, which
// the command line allows on loopback only.
func localIdentity() auth.Identity { return auth.Identity{Subject: "local", Roles: auth.Roles()} }

// authenticate verifies the bearer token and stores the identity. A
// missing or bad token gets 401 with the RFC 6750 challenge.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		authn := s.current().auth
		if authn == nil {
			c.Set(identityKey, localIdentity())
			return next(c)
		}
		token, err := bearerToken(c.Request())
		if err == nil {
			var id auth.Identity
			id, err = authn.Verify(c.Request().Context(), token)
			if err == nil {
				c.Set(identityKey, id)
				return next(c)
			}
		}
		if errors.Is(err, auth.ErrRevocationUnavailable) {
			s.log.Error("cannot check token revocation", "id", c.Get(requestIDHeader), "err", err)
			return newAPIError(http.StatusServiceUnavailable, "server_error", "auth_unavailable", "",
				"the server cannot check tokens right now; retry shortly")
		}
		reason := auth.ReasonMalformed
		var te *auth.TokenError
		if errors.As(err, &te) {
			reason = te.Reason
		}
		c.Set(authFailureKey, string(reason))
		// The message explains the refusal; it never echoes the token.
		challenge, msg := `Bearer realm="warden"`, err.Error()
		if reason == auth.ReasonMissing {
			msg = "this endpoint needs a bearer token: send Authorization: Bearer <token> (warden token issue makes one)"
		} else {
			challenge += fmt.Sprintf(`, error="invalid_token", error_description=%q`, string(reason))
		}
		c.Response().Header().Set("WWW-Authenticate", challenge)
		return newAPIError(http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "", msg)
	}
}

const authFailureKey = "warden.auth_failure"

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
				return newAPIError(http.StatusForbidden, "permission_error", "insufficient_scope", "",
					fmt.Sprintf("this endpoint needs the %q role, which your token does not grant", role))
			}
			return next(c)
		}
	}
}

// identity is the caller, as authenticate stored it.
func identity(c echo.Context) auth.Identity {
	id, _ := c.Get(identityKey).(auth.Identity)
	return id
}

func modelNotAllowed(name string) *apiError {
	return newAPIError(http.StatusForbidden, "permission_error", "model_not_allowed", "model",
		fmt.Sprintf("your token does not allow the model %q", name))
}

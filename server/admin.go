package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/store"
)

// Revoker keeps the list of revoked tokens.
type Revoker interface {
	Revoke(ctx context.Context, rev store.Revocation) error
	List(ctx context.Context) ([]store.Revocation, error)
}

// adminConfig serves GET /admin/config: the effective configuration, with
// secrets redacted by whoever built it.
func (s *Server) adminConfig(c echo.Context) error {
	return c.JSON(http.StatusOK, s.cfg.Settings)
}

type revokeRequest struct {
	TokenID string `json:"jti"`
	Reason  string `json:"reason"`
}

// revokeToken serves POST /admin/tokens/revoke.
func (s *Server) revokeToken(c echo.Context) error {
	if s.cfg.Revocations == nil {
		return newAPIError(http.StatusNotImplemented, "invalid_request_error", "", "", "this server keeps no revocation list")
	}
	var body revokeRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	if body.TokenID == "" || len(body.TokenID) > 256 {
		return invalidParam("jti", "jti must name the token to revoke (1 to 256 bytes)")
	}
	c.Set(adminDetailKey, "revoke jti="+body.TokenID)
	err := s.cfg.Revocations.Revoke(c.Request().Context(), store.Revocation{
		TokenID: body.TokenID, RevokedAt: time.Now(), RevokedBy: identity(c).Subject, Reason: body.Reason,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"revoked": body.TokenID})
}

// listRevoked serves GET /admin/tokens/revoked.
func (s *Server) listRevoked(c echo.Context) error {
	if s.cfg.Revocations == nil {
		return newAPIError(http.StatusNotImplemented, "invalid_request_error", "", "", "this server keeps no revocation list")
	}
	list, err := s.cfg.Revocations.List(c.Request().Context())
	if err != nil {
		return err
	}
	type entry struct {
		TokenID   string    `json:"jti"`
		RevokedAt time.Time `json:"revoked_at"`
		RevokedBy string    `json:"revoked_by"`
		Reason    string    `json:"reason"`
	}
	out := []entry{}
	for _, r := range list {
		out = append(out, entry{r.TokenID, r.RevokedAt, r.RevokedBy, r.Reason})
	}
	return c.JSON(http.StatusOK, map[string]any{"object": "list", "data": out})
}

const adminDetailKey = "warden.admin_detail"

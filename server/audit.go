package server

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/store/audit"
)

// AuditLog records every call. Submit hands a record to the log's writer;
// Err is non-nil while the log cannot be written.
type AuditLog interface {
	Submit(ctx context.Context, rec audit.Record) error
	Err() error
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
}

// auditGate refuses requests with 503 while the audit log cannot be
// written and it fails closed, before they cost anything: a call that
// cannot be recorded must not happen. Every other request is recorded
// when it finishes (audit). /healthz is neither refused nor recorded, so
// that a load balancer probing it does not fill the log.
func (s *Server) auditGate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		x := exchangeOf(c)
		if s.cfg.Audit == nil || c.Request().URL.Path == "/healthz" {
			x.unaudited = true
			return next(c)
		}
		if err := s.cfg.Audit.Err(); err != nil && !s.cfg.AuditFailOpen {
			x.unaudited = true
			s.log.Error("refusing request: the audit log cannot be written", "id", x.id, "err", err)
			return serverError(http.StatusServiceUnavailable, "audit_unavailable",
				"the audit log cannot be written, so no request is served until it can (see the server log)")
		}
		return next(c)
	}
}

// audit submits the finished request's record.
func (s *Server) audit(c echo.Context, x *exchange, endpoint string, model modelOutcome, end time.Time) {
	if x.unaudited {
		return
	}
	rec := s.auditRecord(c, x, endpoint, model, end)
	// The request's own context may be over (client gone); the record
	// must still be written.
	if err := s.cfg.Audit.Submit(context.WithoutCancel(c.Request().Context()), rec); err != nil {
		s.log.Error("AUDIT RECORD LOST", "id", rec.RequestID, "err", err)
	}
}

// auditRecord builds the request's record from what the server derived,
// what the verified token says, and client text the audit log redacts:
// never from the raw path, method or model name (record.go).
func (s *Server) auditRecord(c echo.Context, x *exchange, endpoint string, model modelOutcome, end time.Time) audit.Record {
	r := c.Request()
	rec := audit.Record{
		Time:             x.start,
		Kind:             audit.KindRequest,
		RequestID:        x.id,
		Subject:          x.identity.Subject,
		Roles:            roleNames(x.identity.Roles),
		ClientAddr:       c.RealIP(),
		Method:           methodOf(r),
		Endpoint:         endpoint,
		Model:            model.stored,
		ModelSHA256:      model.sha256,
		Status:           x.status,
		ErrorType:        x.errorCode,
		PromptTokens:     x.result.PromptTokens,
		CompletionTokens: x.result.CompletionTokens,
		FinishReason:     string(x.result.FinishReason),
		Queue:            x.result.Queued,
		Total:            end.Sub(x.start),
		Prompt:           x.prompt,
		Response:         x.response.String(),
	}
	if rec.ErrorType == "" && x.authFailure != "" {
		rec.ErrorType = "auth:" + string(x.authFailure)
	}
	if !x.firstToken.IsZero() {
		rec.TTFT = x.firstToken.Sub(x.start)
	}
	rec.Action, rec.Detail = x.action, x.detail
	if x.guard != nil {
		rec.Detail = x.guard.detail(rec.Detail)
	}
	if strings.HasPrefix(r.URL.Path, "/admin/") {
		rec.Kind = audit.KindAdmin
		rec.Action = rec.Method + " " + rec.Endpoint
	}
	return rec
}

func roleNames(roles []auth.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// auditQuery serves GET /admin/audit for auditors: records matching the
// query's filters, a page at a time.
func (s *Server) auditQuery(c echo.Context) error {
	if s.cfg.Audit == nil {
		return requestError(http.StatusNotImplemented, "", "this server keeps no audit log")
	}
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	exchangeOf(c).detail = queryDetail(c.QueryParams())
	page, err := s.cfg.Audit.Query(c.Request().Context(), f)
	if err != nil {
		return err
	}
	data := make([]auditEntry, 0, len(page.Entries))
	for _, e := range page.Entries {
		data = append(data, entryJSON(e))
	}
	return c.JSON(http.StatusOK, map[string]any{"object": "list", "data": data, "next_cursor": page.NextCursor})
}

func auditFilter(c echo.Context) (audit.Filter, error) {
	var f audit.Filter
	var err error
	q := c.QueryParams()
	for name := range q {
		switch name {
		case "since", "until", "subject", "model", "endpoint", "kind", "status", "limit", "after", "guard":
		default:
			return f, invalidParam(name, fmt.Sprintf("unknown filter %q: use since, until, subject, model, endpoint, kind, status, limit, after, guard", name))
		}
	}
	parseTime := func(name string) time.Time {
		v := q.Get(name)
		if v == "" || err != nil {
			return time.Time{}
		}
		t, perr := time.Parse(time.RFC3339, v)
		if perr != nil {
			err = invalidParam(name, name+" must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
		}
		return t
	}
	parseInt := func(name string) int64 {
		v := q.Get(name)
		if v == "" || err != nil {
			return 0
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 0 {
			err = invalidParam(name, name+" must be a non-negative integer")
		}
		return n
	}
	f.Since, f.Until = parseTime("since"), parseTime("until")
	f.Status, f.Limit, f.After = int(parseInt("status")), int(parseInt("limit")), parseInt("after")
	f.Subject, f.Model, f.Endpoint, f.Kind = q.Get("subject"), q.Get("model"), q.Get("endpoint"), audit.Kind(q.Get("kind"))
	switch q.Get("guard") {
	case "", "false":
	case "true":
		f.Guard = true
	default:
		err = cmp.Or(err, error(invalidParam("guard", "guard must be true or false")))
	}
	return f, err
}

// auditEntry is a record as GET /admin/audit shows it.
type auditEntry struct {
	ID               int64    `json:"id"`
	Time             string   `json:"time"`
	Kind             string   `json:"kind"`
	RequestID        string   `json:"request_id,omitempty"`
	Subject          string   `json:"subject,omitempty"`
	Roles            []string `json:"roles,omitempty"`
	ClientAddr       string   `json:"client_addr,omitempty"`
	Method           string   `json:"method,omitempty"`
	Endpoint         string   `json:"endpoint,omitempty"`
	Model            string   `json:"model,omitempty"`
	ModelSHA256      string   `json:"model_sha256,omitempty"`
	Status           int      `json:"status,omitempty"`
	ErrorType        string   `json:"error_type,omitempty"`
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
	QueueMS          float64  `json:"queue_ms"`
	TTFTMS           float64  `json:"ttft_ms"`
	TotalMS          float64  `json:"total_ms"`
	FinishReason     string   `json:"finish_reason,omitempty"`
	Action           string   `json:"action,omitempty"`
	Detail           string   `json:"detail,omitempty"`
	TextPolicy       string   `json:"text_policy"`
	Prompt           string   `json:"prompt,omitempty"`
	Response         string   `json:"response,omitempty"`
}

func entryJSON(e audit.Entry) auditEntry {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return auditEntry{
		ID: e.ID, Time: e.Time.UTC().Format(audit.TimeFormat), Kind: string(e.Kind), RequestID: e.RequestID,
		Subject: e.Subject, Roles: e.Roles, ClientAddr: e.ClientAddr, Method: e.Method, Endpoint: e.Endpoint,
		Model: e.Model, ModelSHA256: e.ModelSHA256, Status: e.Status, ErrorType: e.ErrorType,
		PromptTokens: e.PromptTokens, CompletionTokens: e.CompletionTokens,
		QueueMS: ms(e.Queue), TTFTMS: ms(e.TTFT), TotalMS: ms(e.Total), FinishReason: e.FinishReason,
		Action: e.Action, Detail: e.Detail, TextPolicy: string(e.TextPolicy), Prompt: e.Prompt, Response: e.Response,
	}
}

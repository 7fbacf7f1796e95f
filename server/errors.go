package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
)

// apiError is an error in OpenAI's shape, with the HTTP status to send.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

// The error types of OpenAI's wire format.
const (
	typeInvalidRequest = "invalid_request_error"
	typePermission     = "permission_error"
	typeServer         = "server_error"
	typeRateLimit      = "requests" // what OpenAI sends with 429s
)

func newAPIError(status int, typ, msg string) *apiError {
	return &apiError{Status: status, Type: typ, Message: msg}
}

// recorded is what the audit record keeps of the error: its code, or its
// type when it has none.
func (e *apiError) recorded() string {
	if e.Code != nil {
		return *e.Code
	}
	return e.Type
}

// withCode sets the error's code; "" leaves it null.
func (e *apiError) withCode(code string) *apiError {
	if code != "" {
		e.Code = &code
	}
	return e
}

// withParam names the request parameter at fault.
func (e *apiError) withParam(param string) *apiError {
	if param != "" {
		e.Param = &param
	}
	return e
}

// requestError is the client's fault: a status of 4xx (or 501 for what
// this server does not do) with OpenAI's invalid_request_error type.
func requestError(status int, code, msg string) *apiError {
	return newAPIError(status, typeInvalidRequest, msg).withCode(code)
}

// invalidParam is a 400 naming the parameter with a bad value.
func invalidParam(param, msg string) *apiError {
	return requestError(http.StatusBadRequest, "invalid_value", msg).withParam(param)
}

// serverError is the server's side failing or busy: 5xx or 429.
func serverError(status int, code, msg string) *apiError {
	return newAPIError(status, typeServer, msg).withCode(code)
}

// permissionError is a 403: the caller is known but not allowed.
func permissionError(code, msg string) *apiError {
	return newAPIError(http.StatusForbidden, typePermission, msg).withCode(code)
}

// rateLimited is a 429 for a caller over its budget.
func rateLimited(msg string) *apiError {
	return newAPIError(http.StatusTooManyRequests, typeRateLimit, msg).withCode("rate_limit_exceeded")
}

func modelNotFound(name string) *apiError {
	return requestError(http.StatusNotFound, "model_not_found",
		fmt.Sprintf("the model %q does not exist; GET /v1/models lists the models served", name)).withParam("model")
}

// toAPIError maps any error a handler returns onto OpenAI's error shape.
// Only errors nobody anticipated become 500s.
func toAPIError(err error) *apiError {
	var ae *apiError
	var inv *engine.InvalidError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &inv):
		code := inv.Code
		if code == "" {
			code = "invalid_value"
		}
		return requestError(http.StatusBadRequest, code, inv.Message).withParam(inv.Param)
	case errors.Is(err, engine.ErrQueueFull), errors.Is(err, engine.ErrQueueTimeout):
		return serverError(http.StatusTooManyRequests, "server_busy", err.Error()+"; retry shortly")
	case errors.Is(err, engine.ErrEngineLost):
		return serverError(http.StatusServiceUnavailable, "engine_crashed",
			"the model's engine process stopped while it held this request (the server log and audit log say why); it is restarting: retry shortly")
	case errors.Is(err, engine.ErrEngineUnavailable):
		return serverError(http.StatusServiceUnavailable, "engine_unavailable", err.Error())
	case errors.Is(err, engine.ErrClosed):
		return serverError(http.StatusServiceUnavailable, "model_unloaded", "the model is being unloaded; retry shortly")
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			msg = m
		}
		return requestError(he.Code, "", msg)
	}
	return serverError(http.StatusInternalServerError, "", "internal error; the server log has the details")
}

// errorBody is what OpenAI sends: {"error": {...}}.
type errorBody struct {
	Error *apiError `json:"error"`
}

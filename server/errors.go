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

func newAPIError(status int, typ, code, param, msg string) *apiError {
	e := &apiError{Status: status, Type: typ, Message: msg}
	if code != "" {
		e.Code = &code
	}
	if param != "" {
		e.Param = &param
	}
	return e
}

func invalidParam(param, msg string) *apiError {
	return newAPIError(http.StatusBadRequest, "invalid_request_error", "invalid_value", param, msg)
}

func modelNotFound(name string) *apiError {
	return newAPIError(http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
		fmt.Sprintf("the model %q does not exist; GET /v1/models lists the models served", name))
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
		return newAPIError(http.StatusBadRequest, "invalid_request_error", code, inv.Param, inv.Message)
	case errors.Is(err, engine.ErrQueueFull), errors.Is(err, engine.ErrQueueTimeout):
		return newAPIError(http.StatusTooManyRequests, "server_error", "server_busy", "", err.Error()+"; retry shortly")
	case errors.Is(err, engine.ErrClosed):
		return newAPIError(http.StatusServiceUnavailable, "server_error", "model_unloaded", "", "the model is being unloaded; retry shortly")
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			msg = m
		}
		return newAPIError(he.Code, "invalid_request_error", "", "", msg)
	}
	return newAPIError(http.StatusInternalServerError, "server_error", "", "", "internal error; the server log has the details")
}

// errorBody is what OpenAI sends: {"error": {...}}.
type errorBody struct {
	Error *apiError `json:"error"`
}

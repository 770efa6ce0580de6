package graphapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// APIError is an error response of Microsoft Graph:
// {"error":{"code":…,"message":…,"innerError":{"request-id":…}}}.
type APIError struct {
	Status    int    // HTTP status
	Code      string // Graph's error code, e.g. Authorization_RequestDenied
	Message   string // Graph's message, for people
	RequestID string // Graph's request-id, what Microsoft support asks for
	Method    string
	Path      string // URL path, without the query
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("graph: %s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

// IsForbidden reports whether err is Graph's 403: the app lacks a
// permission (or the tenant a licence) for what was asked.
func IsForbidden(err error) bool { return statusIs(err, http.StatusForbidden) }

// IsNotFound reports whether err is Graph's 404.
func IsNotFound(err error) bool { return statusIs(err, http.StatusNotFound) }

func statusIs(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// apiError reads an error response. Bodies that are not Graph's error
// JSON (a proxy's HTML page) leave Code empty and put the start of the
// body in Message.
func apiError(res *http.Response, body []byte) *APIError {
	e := &APIError{
		Status:    res.StatusCode,
		RequestID: res.Header.Get("request-id"),
		Method:    res.Request.Method,
		Path:      res.Request.URL.Path,
	}
	var doc struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error.Code != "" {
		e.Code, e.Message = doc.Error.Code, doc.Error.Message
		if e.RequestID == "" {
			e.RequestID = doc.Error.InnerError.RequestID
		}
		return e
	}
	const max = 200
	if len(body) > max {
		body = body[:max]
	}
	e.Message = string(body)
	return e
}

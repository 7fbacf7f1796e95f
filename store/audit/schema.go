package audit

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// migrations[i] takes the schema from version i to i+1. STRICT tables, so
// that a value of the wrong type cannot slip into a chained column.
var migrations = []string{`
CREATE TABLE records (
	id                INTEGER PRIMARY KEY, -- assigned by the writer: last id + 1, no gaps
	time_us           INTEGER NOT NULL,    -- Unix microseconds, UTC
	kind              TEXT    NOT NULL,
	request_id        TEXT    NOT NULL,
	subject           TEXT    NOT NULL,
	roles             TEXT    NOT NULL,    -- JSON array of strings
	client_addr       TEXT    NOT NULL,
	method            TEXT    NOT NULL,
	endpoint          TEXT    NOT NULL,
	model             TEXT    NOT NULL,
	model_sha256      TEXT    NOT NULL,
	status            INTEGER NOT NULL,
	error_type        TEXT    NOT NULL,
	prompt_tokens     INTEGER NOT NULL,
	completion_tokens INTEGER NOT NULL,
	queue_us          INTEGER NOT NULL,
	ttft_us           INTEGER NOT NULL,
	total_us          INTEGER NOT NULL,
	finish_reason     TEXT    NOT NULL,
	action            TEXT    NOT NULL,
	detail            TEXT    NOT NULL,
	text_policy       TEXT    NOT NULL,    -- the policy the texts below were stored under
	prompt            TEXT,                -- NULL under policy none
	response          TEXT,
	prev_hash         BLOB    NOT NULL,    -- hash of row id-1 (or of the checkpoint)
	hash              BLOB    NOT NULL     -- HMAC-SHA256(key, prev_hash, canonical row)
) STRICT;
CREATE INDEX records_time ON records (time_us);
CREATE INDEX records_subject ON records (subject);
CREATE TABLE checkpoint (
	one       INTEGER PRIMARY KEY CHECK (one = 1),
	last_id   INTEGER NOT NULL, -- last purged row
	last_hash BLOB    NOT NULL, -- its hash, where the chain now starts
	time_us   INTEGER NOT NULL, -- when the purge ran
	mac       BLOB    NOT NULL  -- HMAC-SHA256(key, the three fields above)
) STRICT;
`, `
-- Version 2 anchors the chain's tail in a head file beside the database
-- (head.go). This row marks a log that predates it: only such a log may
-- be given a head where none exists; the first Open that writes one
-- deletes the row, and from then on a missing head file is refused.
CREATE TABLE unanchored (
	one INTEGER PRIMARY KEY CHECK (one = 1)
) STRICT;
INSERT INTO unanchored (one) VALUES (1);
`}

// columns lists the records table in the order of row.fields.
const columns = `id, time_us, kind, request_id, subject, roles, client_addr, method,
	endpoint, model, model_sha256, status, error_type, prompt_tokens, completion_tokens,
	queue_us, ttft_us, total_us, finish_reason, action, detail, text_policy, prompt,
	response, prev_hash, hash`

const insertRow = `INSERT INTO records (` + columns + `)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// row is a record as stored: the chain is computed over exactly these
// values, so that Verify needs nothing but the table.
type row struct {
	id               int64
	timeUS           int64
	kind             string
	requestID        string
	subject          string
	roles            string
	clientAddr       string
	method           string
	endpoint         string
	model            string
	modelSHA256      string
	status           int64
	errorType        string
	promptTokens     int64
	completionTokens int64
	queueUS          int64
	ttftUS           int64
	totalUS          int64
	finishReason     string
	action           string
	detail           string
	textPolicy       string
	prompt           sql.NullString
	response         sql.NullString
	prevHash         []byte
	hash             []byte
}

// fields returns pointers to r's fields in the order of columns, for Scan;
// their values serve as arguments to insertRow.
func (r *row) fields() []any {
	return []any{&r.id, &r.timeUS, &r.kind, &r.requestID, &r.subject, &r.roles,
		&r.clientAddr, &r.method, &r.endpoint, &r.model, &r.modelSHA256, &r.status,
		&r.errorType, &r.promptTokens, &r.completionTokens, &r.queueUS, &r.ttftUS,
		&r.totalUS, &r.finishReason, &r.action, &r.detail, &r.textPolicy, &r.prompt,
		&r.response, &r.prevHash, &r.hash}
}

func (r *row) args() []any {
	return []any{r.id, r.timeUS, r.kind, r.requestID, r.subject, r.roles,
		r.clientAddr, r.method, r.endpoint, r.model, r.modelSHA256, r.status,
		r.errorType, r.promptTokens, r.completionTokens, r.queueUS, r.ttftUS,
		r.totalUS, r.finishReason, r.action, r.detail, r.textPolicy, r.prompt,
		r.response, r.prevHash, r.hash}
}

// prepare turns rec into the row to store, applying the text policy here
// so that no caller can store a text the deployment did not allow.
func (l *Log) prepare(rec Record) (*row, error) { return newRow(&l.opts, rec) }

// newRow is prepare for rows written outside a Log's writer (Open's and
// Reanchor's system records).
func newRow(opts *Options, rec Record) (*row, error) {
	if rec.Kind == "" {
		rec.Kind = KindRequest
	}
	switch rec.Kind {
	case KindRequest, KindAdmin, KindSystem:
	default:
		return nil, fmt.Errorf("audit record kind %q: want request, admin or system", rec.Kind)
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	if rec.Roles == nil {
		rec.Roles = []string{}
	}
	roles, err := json.Marshal(rec.Roles)
	if err != nil {
		return nil, fmt.Errorf("audit record roles: %w", err)
	}
	r := &row{
		timeUS:           rec.Time.UnixMicro(),
		kind:             string(rec.Kind),
		requestID:        rec.RequestID,
		subject:          rec.Subject,
		roles:            string(roles),
		clientAddr:       rec.ClientAddr,
		method:           rec.Method,
		endpoint:         rec.Endpoint,
		model:            rec.Model,
		modelSHA256:      rec.ModelSHA256,
		status:           int64(rec.Status),
		errorType:        rec.ErrorType,
		promptTokens:     int64(rec.PromptTokens),
		completionTokens: int64(rec.CompletionTokens),
		queueUS:          rec.Queue.Microseconds(),
		ttftUS:           rec.TTFT.Microseconds(),
		totalUS:          rec.Total.Microseconds(),
		finishReason:     rec.FinishReason,
		action:           rec.Action,
		detail:           rec.Detail,
		textPolicy:       string(opts.TextPolicy),
	}
	if red := opts.Redactor; red != nil {
		r.detail = red.Redact(rec.Detail)
	}
	switch opts.TextPolicy {
	case TextFull:
		r.prompt = sql.NullString{String: rec.Prompt, Valid: true}
		r.response = sql.NullString{String: rec.Response, Valid: true}
	case TextRedacted:
		r.prompt = sql.NullString{String: opts.Redactor.Redact(rec.Prompt), Valid: true}
		r.response = sql.NullString{String: opts.Redactor.Redact(rec.Response), Valid: true}
	}
	return r, nil
}

// Entry is a stored record as read back.
type Entry struct {
	ID int64
	// TextPolicy is the policy Prompt and Response were stored under;
	// under TextNone they are empty because nothing was kept.
	TextPolicy TextPolicy
	Hash       []byte // this row's link in the chain
	Record
}

func (r *row) entry() (Entry, error) {
	var roles []string
	if err := json.Unmarshal([]byte(r.roles), &roles); err != nil {
		return Entry{}, fmt.Errorf("audit row %d roles: %w", r.id, err)
	}
	return Entry{
		ID:         r.id,
		TextPolicy: TextPolicy(r.textPolicy),
		Hash:       r.hash,
		Record: Record{
			Time:             time.UnixMicro(r.timeUS).UTC(),
			Kind:             Kind(r.kind),
			RequestID:        r.requestID,
			Subject:          r.subject,
			Roles:            roles,
			ClientAddr:       r.clientAddr,
			Method:           r.method,
			Endpoint:         r.endpoint,
			Model:            r.model,
			ModelSHA256:      r.modelSHA256,
			Status:           int(r.status),
			ErrorType:        r.errorType,
			PromptTokens:     int(r.promptTokens),
			CompletionTokens: int(r.completionTokens),
			Queue:            time.Duration(r.queueUS) * time.Microsecond,
			TTFT:             time.Duration(r.ttftUS) * time.Microsecond,
			Total:            time.Duration(r.totalUS) * time.Microsecond,
			FinishReason:     r.finishReason,
			Action:           r.action,
			Detail:           r.detail,
			Prompt:           r.prompt.String,
			Response:         r.response.String,
		},
	}, nil
}

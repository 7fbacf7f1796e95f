package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TimeFormat is how exports write times: UTC, microseconds, fixed width.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// exported is an Entry as exports write it: stable names with units in
// them, texts null where the policy kept none.
type exported struct {
	ID               int64      `json:"id"`
	Time             string     `json:"time"`
	Kind             Kind       `json:"kind"`
	RequestID        string     `json:"request_id"`
	Subject          string     `json:"subject"`
	Roles            []string   `json:"roles"`
	ClientAddr       string     `json:"client_addr"`
	Method           string     `json:"method"`
	Endpoint         string     `json:"endpoint"`
	Model            string     `json:"model"`
	ModelSHA256      string     `json:"model_sha256"`
	Status           int        `json:"status"`
	ErrorType        string     `json:"error_type"`
	PromptTokens     int        `json:"prompt_tokens"`
	CompletionTokens int        `json:"completion_tokens"`
	QueueUS          int64      `json:"queue_us"`
	TTFTUS           int64      `json:"ttft_us"`
	TotalUS          int64      `json:"total_us"`
	FinishReason     string     `json:"finish_reason"`
	Action           string     `json:"action"`
	Detail           string     `json:"detail"`
	TextPolicy       TextPolicy `json:"text_policy"`
	Prompt           *string    `json:"prompt"`
	Response         *string    `json:"response"`
	Hash             string     `json:"hash"`
}

func export(e Entry) exported {
	x := exported{
		ID: e.ID, Time: e.Time.UTC().Format(TimeFormat), Kind: e.Kind, RequestID: e.RequestID,
		Subject: e.Subject, Roles: e.Roles, ClientAddr: e.ClientAddr, Method: e.Method,
		Endpoint: e.Endpoint, Model: e.Model, ModelSHA256: e.ModelSHA256, Status: e.Status,
		ErrorType: e.ErrorType, PromptTokens: e.PromptTokens, CompletionTokens: e.CompletionTokens,
		QueueUS: e.Queue.Microseconds(), TTFTUS: e.TTFT.Microseconds(), TotalUS: e.Total.Microseconds(),
		FinishReason: e.FinishReason, Action: e.Action, Detail: e.Detail, TextPolicy: e.TextPolicy,
		Hash: hex.EncodeToString(e.Hash),
	}
	if e.TextPolicy != TextNone {
		x.Prompt, x.Response = &e.Prompt, &e.Response
	}
	return x
}

// ExportJSONL writes the records matching f, one JSON object per line, in
// id order. f.Limit of 0 exports them all.
func (rd *Reader) ExportJSONL(ctx context.Context, w io.Writer, f Filter) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := rd.each(ctx, f, f.Limit, func(e Entry) error { return enc.Encode(export(e)) })
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

var csvHeader = []string{"id", "time", "kind", "request_id", "subject", "roles", "client_addr",
	"method", "endpoint", "model", "model_sha256", "status", "error_type", "prompt_tokens",
	"completion_tokens", "queue_us", "ttft_us", "total_us", "finish_reason", "action",
	"detail", "text_policy", "prompt", "response", "hash"}

// ExportCSV writes the records matching f as CSV with a header row, in id
// order. f.Limit of 0 exports them all. Text cells that a spreadsheet
// would run as a formula (starting with = + - @) get a leading ' : prompts
// are written by clients, and the file is meant to be opened by auditors.
func (rd *Reader) ExportCSV(ctx context.Context, w io.Writer, f Filter) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	err := rd.each(ctx, f, f.Limit, func(e Entry) error { return cw.Write(export(e).csv()) })
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

func (x exported) csv() []string {
	roles, _ := json.Marshal(x.Roles) // a []string always marshals
	text := func(p *string) string {
		if p == nil {
			return ""
		}
		return cell(*p)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return []string{i(x.ID), x.Time, string(x.Kind), cell(x.RequestID), cell(x.Subject),
		string(roles), cell(x.ClientAddr), cell(x.Method), cell(x.Endpoint), cell(x.Model),
		cell(x.ModelSHA256), strconv.Itoa(x.Status), cell(x.ErrorType), strconv.Itoa(x.PromptTokens),
		strconv.Itoa(x.CompletionTokens), i(x.QueueUS), i(x.TTFTUS), i(x.TotalUS),
		cell(x.FinishReason), cell(x.Action), cell(x.Detail), string(x.TextPolicy),
		text(x.Prompt), text(x.Response), x.Hash}
}

// cell defuses spreadsheet formulas in a text cell.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

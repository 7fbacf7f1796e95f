package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func fullRecord() Record {
	return Record{
		Time:             time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC),
		Kind:             KindAdmin,
		RequestID:        "req-1",
		Subject:          "alice",
		Roles:            []string{"admin", "user"},
		ClientAddr:       "192.0.2.7:51234",
		Method:           "POST",
		Endpoint:         "/v1/chat/completions",
		Model:            "tinyllama",
		ModelSHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Status:           429,
		ErrorType:        "rate_limit_exceeded",
		PromptTokens:     17,
		CompletionTokens: 42,
		Queue:            1500 * time.Microsecond,
		TTFT:             250 * time.Millisecond,
		Total:            3*time.Second + 7*time.Microsecond,
		FinishReason:     "length",
		Action:           "key.create",
		Detail:           "created key for bob",
		Prompt:           "hello\x00 wörld",
		Response:         "hi",
	}
}

func TestRoundTripEveryField(t *testing.T) {
	want := fullRecord()
	// Every field set, so a field added to Record but not stored fails here.
	v := reflect.ValueOf(want)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fullRecord leaves %s zero", v.Type().Field(i).Name)
		}
	}
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	submit(t, l, want)
	closeLog(t, l)

	page, err := openReader(t, path, nil).Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(page.Entries))
	}
	got := page.Entries[0]
	if got.ID != 1 || got.TextPolicy != TextFull || len(got.Hash) != 32 {
		t.Errorf("got id %d, policy %q, hash %x", got.ID, got.TextPolicy, got.Hash)
	}
	if !reflect.DeepEqual(got.Record, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got.Record, want)
	}
}

func TestDefaultsAndTruncation(t *testing.T) {
	path := dbPath(t)
	l := openLog(t, path, Options{})
	before := time.Now()
	submit(t, l, Record{Queue: 1999 * time.Nanosecond, Time: time.Time{}})
	closeLog(t, l)
	page, err := openReader(t, path, nil).Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	e := page.Entries[0]
	if e.Kind != KindRequest {
		t.Errorf("kind %q, want request", e.Kind)
	}
	if e.Time.Before(before.Truncate(time.Microsecond)) || e.Time.Location() != time.UTC {
		t.Errorf("time %v: want now (%v) in UTC", e.Time, before)
	}
	if e.Queue != time.Microsecond {
		t.Errorf("queue %v, want 1µs", e.Queue)
	}
	if e.Roles == nil || len(e.Roles) != 0 {
		t.Errorf("roles %#v, want empty", e.Roles)
	}
}

func TestOpenRefuses(t *testing.T) {
	key := newKey(t)
	for name, opts := range map[string]Options{
		"redacted without redactor": {Key: key},
		"short key":                 {Key: key[:16], TextPolicy: TextFull},
		"unknown policy":            {Key: key, TextPolicy: "some"},
	} {
		t.Run(name, func(t *testing.T) {
			if l, err := Open(context.Background(), dbPath(t), opts); err == nil {
				l.Close(context.Background())
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestSubmitRefusesUnknownKind(t *testing.T) {
	l := openLog(t, dbPath(t), Options{})
	if err := l.Submit(context.Background(), Record{Kind: "other"}); err == nil {
		t.Fatal("Submit accepted kind other")
	}
}

func TestKeyMismatchRefused(t *testing.T) {
	path := dbPath(t)
	l := openLog(t, path, Options{})
	submit(t, l, request(1))
	closeLog(t, l)
	if l, err := Open(context.Background(), path, Options{Key: newKey(t), TextPolicy: TextFull}); err == nil {
		l.Close(context.Background())
		t.Fatal("Open with another key succeeded")
	}
}

// fileBytes is the database and its WAL as they lie on disk.
func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestTextPolicies(t *testing.T) {
	const (
		promptSecret   = "sk-prompt123"
		responseSecret = "sk-answer456"
		detailSecret   = "sk-detail789"
	)
	rec := Record{
		Prompt:   "please use " + promptSecret,
		Response: "done with " + responseSecret,
		Detail:   "rotated " + detailSecret,
	}
	tests := []struct {
		policy           TextPolicy
		prompt, response sql.NullString
		clearTextOnDisk  bool
		detail           string
	}{
		{TextNone, sql.NullString{}, sql.NullString{}, false, "rotated [REDACTED]"},
		{TextRedacted, sql.NullString{String: "please use [REDACTED]", Valid: true},
			sql.NullString{String: "done with [REDACTED]", Valid: true}, false, "rotated [REDACTED]"},
		{TextFull, sql.NullString{String: rec.Prompt, Valid: true},
			sql.NullString{String: rec.Response, Valid: true}, true, "rotated [REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			path := dbPath(t)
			l := openLog(t, path, Options{TextPolicy: tt.policy, Redactor: secretRedactor{}})
			submit(t, l, rec)
			waitFor(t, "the record to be written", func() bool { return countRows(t, path) == 1 })

			var prompt, response sql.NullString
			var detail, policy string
			err := rawDB(t, path).QueryRow(`SELECT prompt, response, detail, text_policy FROM records`).
				Scan(&prompt, &response, &detail, &policy)
			if err != nil {
				t.Fatal(err)
			}
			if prompt != tt.prompt || response != tt.response || detail != tt.detail || policy != string(tt.policy) {
				t.Errorf("stored prompt %+v, response %+v, detail %q, policy %q", prompt, response, detail, policy)
			}
			// While the log is open the rows are in the WAL; after Close,
			// in the database file.
			for _, when := range []string{"open", "closed"} {
				if when == "closed" {
					closeLog(t, l)
				}
				disk := fileBytes(t, path)
				for _, secret := range []string{promptSecret, responseSecret} {
					if got := bytes.Contains(disk, []byte(secret)); got != tt.clearTextOnDisk {
						t.Errorf("log %s: %q on disk: %v, want %v", when, secret, got, tt.clearTextOnDisk)
					}
				}
				if bytes.Contains(disk, []byte(detailSecret)) {
					t.Errorf("log %s: detail secret on disk", when)
				}
			}
		})
	}
}

func TestConcurrentSubmit(t *testing.T) {
	const goroutines, each = 16, 50
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key, QueueSize: 64, BatchSize: 16})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := l.Submit(context.Background(), Record{RequestID: fmt.Sprintf("%d-%d", g, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	closeLog(t, l)

	rd := openReader(t, path, key)
	rep := verifyOK(t, rd)
	if rep.Rows != goroutines*each || rep.FirstID != 1 || rep.LastID != goroutines*each {
		t.Errorf("verified %v, want %d rows", rep, goroutines*each)
	}
	seen := map[string]bool{}
	err := rd.each(context.Background(), Filter{}, 0, func(e Entry) error {
		if seen[e.RequestID] {
			return fmt.Errorf("request %s twice", e.RequestID)
		}
		seen[e.RequestID] = true
		return nil
	})
	if err != nil || len(seen) != goroutines*each {
		t.Errorf("distinct request ids: %d, %v", len(seen), err)
	}
}

func TestCloseFlushesQueue(t *testing.T) {
	const n = 2000
	path := dbPath(t)
	l := openLog(t, path, Options{QueueSize: n, BatchSize: 7})
	for i := range n {
		submit(t, l, request(i))
	}
	closeLog(t, l) // immediately: most records are still queued
	if got := countRows(t, path); got != n {
		t.Fatalf("%d rows after Close, want %d", got, n)
	}
	if err := l.Submit(context.Background(), request(0)); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Purge(context.Background(), time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("Purge after Close: %v, want ErrClosed", err)
	}
}

func TestParseTextPolicy(t *testing.T) {
	for _, s := range []string{"none", "redacted", "full"} {
		if p, err := ParseTextPolicy(s); err != nil || string(p) != s {
			t.Errorf("ParseTextPolicy(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParseTextPolicy("Full"); err == nil || !strings.Contains(err.Error(), "none, redacted or full") {
		t.Errorf("ParseTextPolicy(Full): %v", err)
	}
}

// TestTextPoliciesAreTheOneList: every TextPolicies entry parses to
// itself, and the refusal offers each of them.
func TestTextPoliciesAreTheOneList(t *testing.T) {
	_, refusal := ParseTextPolicy("everything")
	for _, p := range TextPolicies() {
		if got, err := ParseTextPolicy(string(p)); err != nil || got != p || p.Check() != nil {
			t.Errorf("ParseTextPolicy(%q) = %q, %v", p, got, err)
		}
		if refusal == nil || !strings.Contains(refusal.Error(), string(p)) {
			t.Errorf("refusal %v does not offer %q", refusal, p)
		}
	}
	if err := TextPolicy("").Check(); err == nil {
		t.Error("the empty policy passes Check; only Options may default it")
	}
}

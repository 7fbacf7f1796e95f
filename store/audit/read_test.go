package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// mixed writes 30 records: subjects alice/bob alternating, every third a
// 401 on /v1/models, one second apart.
func mixed(t *testing.T) (*Log, string) {
	t.Helper()
	path := dbPath(t)
	l := openLog(t, path, Options{})
	for i := 1; i <= 30; i++ {
		rec := request(i)
		if i%2 == 0 {
			rec.Subject = "bob"
		}
		if i%3 == 0 {
			rec.Endpoint, rec.Status, rec.Model = "/v1/models", 401, ""
		}
		if i%10 == 0 {
			rec.Detail = `guard=[{"kind":"injection","action":"flag","where":"messages[0]"}]`
		}
		submit(t, l, rec)
	}
	waitFor(t, "30 rows", func() bool { return countRows(t, path) == 30 })
	return l, path
}

func ids(entries []Entry) []int64 {
	var out []int64
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func TestQueryFilters(t *testing.T) {
	l, _ := mixed(t)
	start := request(0).Time
	tests := []struct {
		name string
		f    Filter
		want []int64
	}{
		{"status", Filter{Status: 401, Limit: 3}, []int64{3, 6, 9}},
		{"subject and endpoint", Filter{Subject: "bob", Endpoint: "/v1/models"}, []int64{6, 12, 18, 24, 30}},
		{"time window", Filter{Since: start.Add(10 * time.Second), Until: start.Add(13 * time.Second)}, []int64{10, 11, 12}},
		{"model", Filter{Model: "demo", After: 25}, []int64{26, 28, 29}},
		{"kind", Filter{Kind: KindAdmin}, nil},
		{"guard events", Filter{Guard: true}, []int64{10, 20, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := l.Query(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Entries); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueryPages(t *testing.T) {
	l, _ := mixed(t)
	var all []int64
	f := Filter{Subject: "alice", Limit: 4}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, err := l.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(page.Entries)...)
		if page.NextCursor == 0 {
			break
		}
		f.After = page.NextCursor
	}
	want := []int64{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("paged ids %v, want %v", all, want)
	}

	page, err := l.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 30 || page.NextCursor != 0 {
		t.Errorf("default page: %d entries, cursor %d", len(page.Entries), page.NextCursor)
	}
	page, err = l.Query(context.Background(), Filter{Limit: 5000})
	if err != nil || len(page.Entries) != 30 {
		t.Errorf("limit above the maximum: %d entries, %v", len(page.Entries), err)
	}
}

func TestExportJSONL(t *testing.T) {
	l, _ := mixed(t)
	var buf bytes.Buffer
	if err := l.ExportJSONL(context.Background(), &buf, Filter{Status: 401}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var got []exported
	for sc.Scan() {
		var x exported
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, x)
	}
	if len(got) != 10 {
		t.Fatalf("%d lines, want 10", len(got))
	}
	first := got[0]
	if first.ID != 3 || first.Status != 401 || first.Time != "2026-03-01T12:00:03.000000Z" ||
		first.Prompt == nil || *first.Prompt != "prompt 3" || len(first.Hash) != 64 {
		t.Errorf("first line %+v", first)
	}
}

func TestExportCSV(t *testing.T) {
	path := dbPath(t)
	l := openLog(t, path, Options{})
	rec := request(1)
	rec.Prompt = "=HYPERLINK(\"http://evil\")"
	rec.Response = "plain, with \"quotes\"\nand a newline"
	submit(t, l, rec)
	submit(t, l, request(2))
	closeLog(t, l)

	var buf bytes.Buffer
	if err := openReader(t, path, nil).ExportCSV(context.Background(), &buf, Filter{Limit: 1}); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 2 || !reflect.DeepEqual(records[0], csvHeader) {
		t.Fatalf("csv %q, want a header and one row", records)
	}
	row := map[string]string{}
	for i, name := range csvHeader {
		row[name] = records[1][i]
	}
	want := map[string]string{"id": "1", "subject": "alice", "roles": `["user"]`, "status": "200",
		"prompt": "'" + rec.Prompt, "response": rec.Response, "text_policy": "full"}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %q, want %q", k, row[k], v)
		}
	}
}

func TestReaderAlongsideWriter(t *testing.T) {
	path := dbPath(t)
	key := newKey(t)
	l := openLog(t, path, Options{Key: key})
	submit(t, l, request(1))
	waitFor(t, "a row", func() bool { return countRows(t, path) == 1 })
	rd := openReader(t, path, key)
	for i := 2; i <= 5; i++ {
		submit(t, l, request(i))
	}
	waitFor(t, "5 rows", func() bool { return countRows(t, path) == 5 })
	if rep := verifyOK(t, rd); rep.LastID != 5 {
		t.Errorf("reader sees up to %d, want 5", rep.LastID)
	}
	closeLog(t, l)
	// The writer gone and its WAL removed, the reader still reads.
	if rep := verifyOK(t, rd); rep.LastID != 5 {
		t.Errorf("after Close, reader sees up to %d, want 5", rep.LastID)
	}
	if rep := verifyOK(t, openReader(t, path, key)); rep.LastID != 5 {
		t.Errorf("new reader sees up to %d, want 5", rep.LastID)
	}
	if _, err := OpenReader(context.Background(), path+".missing", key); err == nil {
		t.Error("OpenReader on a missing file succeeded")
	}
	if _, err := rd.db.Exec(`DELETE FROM records`); err == nil {
		t.Error("the reader's connection can write")
	}
	if n := countRows(t, path); n != 5 {
		t.Errorf("%d rows, want 5", n)
	}
}

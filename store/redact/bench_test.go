package redact

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// cleanParagraphs is chat text without personal data, with the numbers,
// versions, code and punctuation that prompts to a local model carry.
var cleanParagraphs = []string{
	"You are a helpful assistant. Answer briefly and cite the section you rely on. " +
		"If the question is ambiguous, ask one clarifying question before answering.",
	"I'm migrating a Go service from 1.21 to 1.26. The build fails with `undefined: slices.Concat` " +
		"in internal/merge/merge.go:42. We vendor golang.org/x/exp v0.0.0-20230713183714-613f0c0eb8a1. " +
		"What changed, and should I drop the x/exp dependency entirely?",
	"Here is the relevant function:\n\n```go\nfunc mergeAll(parts [][]int) []int {\n\tout := make([]int, 0, 64)\n" +
		"\tfor i := range parts {\n\t\tout = append(out, parts[i]...)\n\t}\n\treturn out\n}\n```\n",
	"Our nightly job processed 1,284,331 rows in 14.2 s on 2024-03-15, up from 9.8 s last week. " +
		"Memory peaked at 3.7 GiB. The config sets workers=8, batch_size=512 and timeout: 30s.",
	"Please summarise the attached release notes for v2.14.3 in three bullet points, then list any " +
		"breaking changes. The notes mention commit 9fceb02 and issue #4821.",
	"The quarterly report shows revenue of EUR 2.4 million (+12% year on year), with the Lyon office " +
		"contributing 38% of new contracts. Headcount rose from 41 to 47.",
}

// piiParagraphs carry a few fake personal values in ordinary sentences.
var piiParagraphs = []string{
	"My colleague Jane asked me to forward this: reach her at jane.doe@example.com or on +33 6 12 34 56 78 " +
		"if the invoice is wrong.",
	"The refund should go to IBAN FR14 2004 1010 0505 0001 3M02 606; the original payment used card " +
		"4111 1111 1111 1111.",
	"Logs show repeated logins from 203.0.113.54 and 2001:db8::7334 before the account was locked.",
	"For the test environment use OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t and password=Tr0ub4dor!3.",
}

// buildPrompt cycles through paragraphs until about size bytes, putting
// each of the inserts, in order, after every other paragraph.
func buildPrompt(size int, paragraphs, inserts []string) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		p := paragraphs[i%len(paragraphs)]
		if i%2 == 1 && i/2 < len(inserts) {
			p = inserts[i/2]
		}
		b.WriteString(p)
		b.WriteString("\n\n")
	}
	return b.String()
}

// mixedPrompt is ~4 KB of chat text with eight personal values.
func mixedPrompt() string { return buildPrompt(4096, cleanParagraphs, piiParagraphs) }

// cleanPrompt is ~4 KB of chat text without personal values.
func cleanPrompt() string { return buildPrompt(4096, cleanParagraphs, nil) }

// benchRules are an operator's rules of a realistic size: two patterns
// and a word list of 1,000 one- and two-word names.
func benchRules() Options {
	var words []string
	for i := range 1000 {
		w := fmt.Sprintf("Name%03d", i)
		if i%2 == 1 {
			w += " Surname" + strconv.Itoa(i)
		}
		words = append(words, w)
	}
	emp, _ := NewPattern("EMPLOYEE_ID", `\bEMP-[0-9]{6}\b`)
	room, _ := NewPattern("ROOM", `\b[A-Z]-[0-9]{3}\b`)
	return Options{Patterns: []Pattern{emp, room}, Words: words}
}

func BenchmarkRedact(b *testing.B) {
	for _, bc := range []struct {
		name string
		text string
		opts Options
	}{
		{"mixed", mixedPrompt(), Options{}},
		{"mixed-keyed", mixedPrompt(), Options{Key: []byte("audit-key")}},
		{"clean", cleanPrompt(), Options{}},
		{"mixed-rules", mixedPrompt(), benchRules()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := New(bc.opts)
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				r.Redact(bc.text)
			}
		})
	}
}

func TestBenchPromptsAreWhatTheyClaim(t *testing.T) {
	if ms := Find(cleanPrompt()); len(ms) != 0 {
		t.Errorf("the clean prompt has detections: %v", ms)
	}
	mixed := mixedPrompt()
	if n := len(Find(mixed)); n != 8 {
		t.Errorf("the mixed prompt has %d detections, want 8, two per personal paragraph", n)
	}
	for _, v := range []string{"jane.doe@example.com", "4111 1111 1111 1111", "203.0.113.54", "Tr0ub4dor!3"} {
		if strings.Contains(New(Options{}).Redact(mixed), v) {
			t.Errorf("%q survives redaction of the mixed prompt", v)
		}
	}
}

// BenchmarkRedactAdversarial feeds inputs built to make a scanner rescan
// the same bytes from many starting points. Each must run at a speed
// comparable to prose: a quadratic scan would show as a collapse in MB/s
// (it took seconds per 400 KB before the scans were bounded).
func BenchmarkRedactAdversarial(b *testing.B) {
	const size = 64 << 10
	for _, bc := range []struct{ name, unit string }{
		{"sk-run", "sk-"},
		{"jwt-run", "eyJ-"},
		{"pem-headers", "-----BEGIN PRIVATE KEY-----x"},
		{"assignments", "password="},
		{"padding", "="},
		{"emails", "a@a."},
		{"colons", "1:"},
		{"digit-groups", "1 "},
		{"iban-heads", "GB82 "},
		{"at-words", "a at b dot "},
		{"brackets", "a[at]b[dot]"},
		{"plain-at-dots", "a@b(dot)"},
		{"intl-local", "é@"},
		{"passport-words", "passport "},
		{"ssn-groups", "123-45-"},
	} {
		text := strings.Repeat(bc.unit, size/len(bc.unit))
		b.Run(bc.name, func(b *testing.B) {
			r := New(Options{})
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				r.Redact(text)
			}
		})
	}
}

package extract

import (
	"context"
	"errors"
	"testing"
	"unicode/utf8"
)

// fuzzNames picks the format under test from the fuzzer's byte, so one
// target covers every extractor and the detection in front of them.
var fuzzNames = []struct{ filename, contentType string }{
	{"a.txt", ""}, {"a.md", ""}, {"a.html", ""}, {"a.json", ""}, {"a.csv", ""}, {"a.pdf", ""},
	{"upload", "application/pdf"}, {"a.csv", "text/plain"},
}

// FuzzText checks that no input panics, that text is valid UTF-8 within the
// limit, and that every error is one of the three sentinels.
func FuzzText(f *testing.F) {
	// Each table case seeds every name of its extension.
	for _, tc := range textCases {
		for i, n := range fuzzNames {
			if extension(n.filename) == extension(tc.filename) {
				f.Add(uint8(i), []byte(tc.data))
			}
		}
	}
	for _, p := range pdfSeeds() {
		f.Add(uint8(5), p)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		n := fuzzNames[int(which)%len(fuzzNames)]
		checkText(t, n.filename, n.contentType, data)
	})
}

// FuzzPDF is FuzzText for PDF alone: random bytes rarely make a PDF the
// library opens, so mutations of valid files are where its bugs are.
func FuzzPDF(f *testing.F) {
	for _, p := range pdfSeeds() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkText(t, "a.pdf", "", data)
	})
}

func pdfSeeds() [][]byte {
	return [][]byte{
		makePDF("Hello (PDF) world\nline two"),
		makePDF("1", "2", "3"),
		richPDF(false),
		richPDF(true),
		writePDF([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
			"<< /Length 16 >>\nstream\nBT (x) Tj end ET\nendstream",
		}),
	}
}

const fuzzMax = 4096

// checkText asserts what must hold for any input: no panic, text valid
// UTF-8 within the limit, and every error one of the three sentinels.
func checkText(t *testing.T, filename, contentType string, data []byte) {
	t.Helper()
	lim := Limits{MaxTextBytes: fuzzMax, MaxPDFPages: 50, MaxJSONDepth: 16}
	doc, err := Text(context.Background(), filename, contentType, data, lim)
	if err != nil {
		if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if doc != (Doc{}) {
			t.Fatalf("error with a document: %v", err)
		}
		return
	}
	if !utf8.ValidString(doc.Text) {
		t.Fatalf("invalid UTF-8 in %q", doc.Text)
	}
	if len(doc.Text) > fuzzMax {
		t.Fatalf("text of %d bytes over the limit %d", len(doc.Text), fuzzMax)
	}
}

package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// xrefBomb is a tiny PDF whose one cross-reference entry is numbered n: the
// library would size its object table (32 bytes an entry) by n.
func xrefBomb(n int) []byte {
	body := "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
	return []byte(body + fmt.Sprintf("xref\n0 1\n0000000000 65535 f \n%d 1\n0000000009 00000 n \ntrailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", n, 2, len(body)))
}

func TestPDFObjectCountBound(t *testing.T) {
	ok := string(makePDF("a", "b"))
	cases := []struct {
		name string
		data string
		bad  bool
	}{
		{"valid", ok, false},
		{"xref subsection far out", string(xrefBomb(10_000_000)), true},
		{"xref subsection within bound", string(xrefBomb(1000)), false},
		{"xref second subsection on one line", "%PDF-1.4\nxref 0 1 0000000000 65535 f 99999999 1 0000000009 00000 n trailer", true},
		{"size", strings.Replace(ok, "/Size 8", "/Size 99999999", 1), true},
		{"size escaped name", strings.Replace(ok, "/Size 8", "/S#69ze 99999999", 1), true},
		{"size overflowing int64", strings.Replace(ok, "/Size 8", "/Size 99999999999999999999999", 1), true},
		{"index", "%PDF-1.7\n<< /Type /XRef /Size 5 /Index [0 2 88888888 1] >>", true},
		{"index within bound", "%PDF-1.7\n<< /Type /XRef /Size 5 /Index [0 2 3 1] >>", false},
		{"object stream count", "%PDF-1.7\n<< /Type /ObjStm /N 9999999999 /First 10 >>", true},
		{"size in a comment is not a value", "%PDF-1.7\n/Size % 99999999\n", false},
		{"startxref is not xref", "%PDF-1.7\nstartxref 99999999 1\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPDFNumbers([]byte(tc.data))
			if tc.bad != (err != nil) || err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want refused: %v", err, tc.bad)
			}
		})
	}
}

func TestPDFXrefBombRefused(t *testing.T) {
	_, err := Text(context.Background(), "a.pdf", "", xrefBomb(2_000_000_000), Limits{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more objects") {
		t.Fatalf("err = %v, want ErrInvalid for too many objects", err)
	}
}

// xrefStreamPDF writes objs (numbered from 1) with a cross-reference
// stream whose entries are given: for object i, inStream[i] > 0 says it is
// in that object stream rather than at its offset.
func xrefStreamPDF(objs []string, inStream map[int]int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	offsets := map[int]int{}
	for i, o := range objs {
		offsets[i+1] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	n := len(objs) + 1
	offsets[n] = xref
	var e bytes.Buffer
	e.Write([]byte{0, 0, 0, 0, 0, 0xff, 0xff})
	for i := 1; i <= n; i++ {
		if s := inStream[i]; s > 0 {
			e.Write([]byte{2, 0, 0, 0, byte(s), 0, 0})
			continue
		}
		off := offsets[i]
		e.Write([]byte{1, byte(off >> 24), byte(off >> 16), byte(off >> 8), byte(off), 0, 0})
	}
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n", n, n+1, e.Len())
	b.Write(e.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// Hand-made files on which the library recurses or loops without end.
// Before checkObjectStreams the first killed the test binary with a fatal
// stack overflow; without guardedReader's bounds the second and third ran
// until a timeout (60 s, 30 s) stopped them. The last is bounded by the
// library itself (its lexer stops at 1000 levels) and stays as a check.
func TestPDFHostileStructure(t *testing.T) {
	catalog := "<< /Type /Catalog /Pages 2 0 R >>"
	cases := []struct {
		name    string
		data    []byte
		wantErr error
		msg     string
	}{
		{"object stream in itself", xrefStreamPDF([]string{catalog, "null"}, map[int]int{2: 2}), ErrInvalid, "object stream"},
		{"object stream whose /Type is in itself", xrefStreamPDF([]string{
			catalog, "null", "5",
			"<< /Type 3 0 R /N 1 /First 4 /Length 9 >>\nstream\n3 0 /X\nendstream",
		}, map[int]int{2: 4, 3: 4}), ErrInvalid, "too deeply"},
		{"object stream extending itself", xrefStreamPDF([]string{
			catalog, "null",
			"<< /Type /ObjStm /N 1 /First 4 /Extends 3 0 R /Length 9 >>\nstream\n9 0 null\nendstream",
		}, map[int]int{2: 3}), ErrTooLarge, "too much reading"},
		{"arrays nested deeply", writePDF([]string{
			"<< /Type /Catalog /Deep " + strings.Repeat("[", 100_000) + " /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [] /Count 0 >>",
		}), ErrInvalid, ""}, // the library's own lexer stops at 1000 levels
	}
	defer func(s int64) { pdfReadSlack = s }(pdfReadSlack)
	pdfReadSlack = 4 << 20
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Text(context.Background(), "a.pdf", "", tc.data, Limits{})
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.wantErr, tc.msg)
			}
		})
	}
}

func TestPDFCMapCountBound(t *testing.T) {
	pdfWithCMap := func(cmap, encoding string) []byte {
		enc := ""
		if encoding != "" {
			enc = "/Encoding " + encoding
		}
		return writePDF([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 6 0 R >>",
			"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 5 0 R " + enc + " >>",
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(cmap), cmap),
			"<< /Length 23 >>\nstream\nBT /F1 12 Tf (AB) Tj ET\nendstream",
		})
	}
	const space = "1 begincodespacerange <00> <FF> endcodespacerange\n"
	cases := []struct{ name, cmap, encoding, want string }{
		// A sane CMap is used: A and B map to X and Y.
		{"used", space + "2 beginbfchar <41> <0058> <42> <0059> endbfchar", "", "XY"},
		// Codes are hex strings, not counts, and strings hold no counts.
		{"hex and strings skipped", space + "% 99999999 beginbfchar\n(99999999) pop 1 beginbfchar <41> <99999999> endbfchar", "", "\u9999\u9999\uFFFD"}, // B is not in it
		// The library would append 20 million entries here, reading
		// nothing; the CMap is refused and the bytes shown as they are.
		{"count beyond its size", space + "20000000 beginbfrange endbfrange", "", "AB"},
		// Without a CMap, /Differences decodes: 65 (A) is named "eacute".
		{"differences used", "", "<< /Differences [65 /eacute] >>", "éB"},
		// One the library would scan for every byte is refused.
		{"differences too long", "", "<< /Differences [65 " + strings.Repeat("/eacute ", maxDifferences) + "] >>", "AB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Text(context.Background(), "a.pdf", "", pdfWithCMap(tc.cmap, tc.encoding), Limits{})
			if err != nil || doc.Text != tc.want {
				t.Fatalf("got %q, %v; want %q", doc.Text, err, tc.want)
			}
		})
	}
}

package extract

import (
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

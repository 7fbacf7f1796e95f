package extract

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// makePDF writes a minimal PDF by hand, one page per entry of pages, each
// showing its text in Helvetica with one Tj per line. The xref offsets are
// computed here, so the file is valid, and no binary fixture is committed.
func makePDF(pages ...string) []byte {
	var objs []string
	// 1: catalog, 2: page tree, 3: font, then a page and its contents per page.
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 4+2*i)
	}
	objs = append(objs,
		"<< /Type /Catalog /Pages 2 0 R >>",
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	)
	for i, text := range pages {
		var content strings.Builder
		content.WriteString("BT /F1 12 Tf 72 720 Td\n")
		for _, line := range strings.Split(text, "\n") {
			fmt.Fprintf(&content, "(%s) Tj T*\n", pdfEscape(line))
		}
		content.WriteString("ET")
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", content.Len()+1, content.String()),
		)
	}
	return writePDF(objs)
}

// writePDF lays out numbered objects (1-based) with an xref table.
func writePDF(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func pdfEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}

func TestPDF(t *testing.T) {
	ctx := context.Background()
	t.Run("text found", func(t *testing.T) {
		doc, err := Text(ctx, "report.pdf", "application/pdf", makePDF("Hello (PDF) world\nsecond line", "Page two"), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		want := "Hello (PDF) world\nsecond line\n\nPage two"
		if doc.Text != want || doc.Format != FormatPDF {
			t.Fatalf("got %q (%s), want %q", doc.Text, doc.Format, want)
		}
	})
	t.Run("type only", func(t *testing.T) {
		doc, err := Text(ctx, "upload", "application/pdf", makePDF("x"), Limits{})
		if err != nil || doc.Text != "x" {
			t.Fatalf("got %q, %v", doc.Text, err)
		}
	})
	t.Run("too many pages", func(t *testing.T) {
		_, err := Text(ctx, "a.pdf", "", makePDF("1", "2", "3"), Limits{MaxPDFPages: 2})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("text too large", func(t *testing.T) {
		_, err := Text(ctx, "a.pdf", "", makePDF(strings.Repeat("word ", 100)), Limits{MaxTextBytes: 100})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		_, err := Text(c, "a.pdf", "", makePDF("x"), Limits{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled within a page", func(t *testing.T) {
		// The first check, before the page, passes; the one after
		// ctxCheckEvery operators inside it must stop the page.
		c := &cancelAfter{Context: ctx, calls: 1}
		_, err := Text(c, "a.pdf", "", makePDF(strings.Repeat("w\n", ctxCheckEvery)), Limits{})
		if !errors.Is(err, context.Canceled) || c.calls > -1 {
			t.Fatalf("err = %v after %d checks, want context.Canceled from inside the page", err, 1-c.calls)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		p := makePDF("x")
		_, err := Text(ctx, "a.pdf", "", p[:len(p)/2], Limits{})
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("cyclic page tree", func(t *testing.T) {
		p := writePDF([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
			"<< /Type /Pages /Kids [2 0 R] /Count 1 >>",
		})
		_, err := Text(ctx, "a.pdf", "", p, Limits{})
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	bad := "<< /Length 16 >>\nstream\nBT (x) Tj end ET\nendstream" // "end" without "begin" panics in the library
	t.Run("malformed page skipped", func(t *testing.T) {
		p := writePDF([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
			"<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>",
			"<< /Type /Page /Parent 2 0 R /Contents 6 0 R >>",
			bad,
			"<< /Length 15 >>\nstream\nBT (fine) Tj ET\nendstream",
		})
		doc, err := Text(ctx, "a.pdf", "", p, Limits{})
		if err != nil || doc.Text != "fine" {
			t.Fatalf("got %q, %v; want the readable page's text", doc.Text, err)
		}
	})
	t.Run("no readable page", func(t *testing.T) {
		p := writePDF([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
			bad,
		})
		_, err := Text(ctx, "a.pdf", "", p, Limits{})
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

// cancelAfter is a context whose Err is nil for its first calls checks
// and Canceled after, so a test can cancel at a chosen check.
type cancelAfter struct {
	context.Context
	calls int
}

func (c *cancelAfter) Err() error {
	c.calls--
	if c.calls >= 0 {
		return nil
	}
	return context.Canceled
}

// writePDFXrefStream lays out objs like writePDF but with a
// cross-reference stream (PDF 1.5) instead of a table.
func writePDFXrefStream(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	var entries bytes.Buffer
	entries.Write([]byte{0, 0, 0, 0, 0, 0xff, 0xff})
	for _, off := range append(offsets, xref) {
		entries.Write([]byte{1, byte(off >> 24), byte(off >> 16), byte(off >> 8), byte(off), 0, 0})
	}
	n := len(objs) + 1
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n", n, n+1, entries.Len())
	b.Write(entries.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// flateStream is a stream object of content compressed with FlateDecode.
func flateStream(content string) string {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write([]byte(content))
	w.Close()
	return fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.String())
}

// richPDF uses what makePDF does not: a font with a ToUnicode CMap, TJ
// arrays, a compressed content stream and a nested page tree, so the
// fuzzer starts from the paths of real files.
func richPDF(xrefStream bool) []byte {
	cmap := "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n1 begincodespacerange <00> <FF> endcodespacerange\n" +
		"2 beginbfchar <01> <0048> <02> <00E9> endbfchar\n1 beginbfrange <03> <05> <0041> endbfrange\nendcmap end end"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 2 >>",
		"<< /Type /Pages /Parent 2 0 R /Kids [4 0 R 5 0 R] /Count 2 >>",
		"<< /Type /Page /Parent 3 0 R /Resources << /Font << /F1 6 0 R /F2 8 0 R >> >> /Contents 9 0 R >>",
		"<< /Type /Page /Parent 3 0 R /Resources << /Font << /F1 6 0 R >> >> /Contents [10 0 R 11 0 R] >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 7 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(cmap), cmap),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding /MacRomanEncoding >>",
		flateStream("BT /F1 12 Tf 72 700 Td <0102> Tj [(\x03\x04) -300 (\x05)] TJ ET\nBT /F2 10 Tf 0 -14 TD (caf\x8e) ' ET"),
		"<< /Length 27 >>\nstream\nBT /F1 12 Tf (\x01\x02) Tj ET\nendstream",
		"<< /Length 31 >>\nstream\nBT /F1 12 Tf 1 2 (\x03) \" ET q Q\nendstream",
	}
	if xrefStream {
		return writePDFXrefStream(objs)
	}
	return writePDF(objs)
}

func TestRichPDF(t *testing.T) {
	// Page 1: CMap codes, a TJ with a word gap, then MacRoman 0x8E (é) on a
	// new line; page 2, of two content streams: CMap text and the " operator.
	const want = "HéAB C\ncafé\n\nHé\nA"
	for _, xs := range []bool{false, true} {
		doc, err := Text(context.Background(), "a.pdf", "", richPDF(xs), Limits{})
		if err != nil || doc.Text != want {
			t.Errorf("xref stream %v: got %q, %v; want %q", xs, doc.Text, err, want)
		}
	}
}

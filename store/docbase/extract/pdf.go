package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
)

// pdfLimits of the page tree walk: a tree deeper than this, or with more
// nodes than pages allow, is malformed or hostile (a tree whose Kids refer
// back to an ancestor would otherwise be walked forever).
const (
	maxPageTreeDepth = 64
	ctxCheckEvery    = 1024 // content stream operators between ctx checks
)

// abort is panicked from inside the library (from the content stream
// callback, or from guardedReader) to stop it, which it offers no other
// way to do; openPDF, pageList and pageText recover it.
type abort struct{ err error }

// pdfText extracts the text of each page, in order, a blank line between
// pages. The library panics on malformed input, so every call into it runs
// under recover; pages are bounded by lim.MaxPDFPages, the text by
// lim.MaxTextBytes, and ctx is checked between pages and every
// ctxCheckEvery operators within one. A page the library cannot read is
// skipped: partial text of a slightly broken file is more use to retrieval
// than none, but a file no page of which can be read is ErrInvalid.
func pdfText(ctx context.Context, data []byte, lim Limits) (string, error) {
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return "", fmt.Errorf("%w: the data does not start with %%PDF-, so it is not a PDF", ErrInvalid)
	}
	if err := checkPDFNumbers(data); err != nil {
		return "", err
	}
	g := newGuardedReader(ctx, data)
	r, err := openPDF(g, data)
	if err != nil || g.err != nil {
		return "", guardErr(g, err)
	}
	if err := checkObjectStreams(r); err != nil {
		return "", err
	}
	pages, err := pageList(r, lim)
	if err != nil || g.err != nil {
		// The library recovers some panics itself, so the guard's may
		// have been swallowed on the way: g.err is checked, not only err.
		return "", guardErr(g, err)
	}
	out := newSink(lim)
	failed := 0
	for i, p := range pages {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("pdf page %d: %w", i+1, err)
		}
		text, err := pageText(ctx, p, out.max-int64(out.Len()), lim)
		if err != nil || g.err != nil {
			if err = guardErr(g, err); errors.Is(err, ErrTooLarge) || g.err != nil || ctx.Err() != nil {
				return "", fmt.Errorf("pdf page %d: %w", i+1, err)
			}
			failed++
			continue
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if out.Len() > 0 {
			text = "\n\n" + text
		}
		if err := out.WriteString(text); err != nil {
			return "", err
		}
	}
	if failed > 0 && failed == len(pages) {
		return "", fmt.Errorf("%w: no page of the PDF could be read", ErrInvalid)
	}
	return out.String(), nil
}

// guardErr prefers the guarded reader's error, when it stopped the
// library, to the one the library made of that (it recovers some panics
// itself and returns them as errors of its own).
func guardErr(g *guardedReader, err error) error {
	if g.err != nil {
		return g.err
	}
	return err
}

// openPDF parses the header, cross-reference table and trailer. The
// library's error text is not passed on: it may quote bytes of the file.
func openPDF(g *guardedReader, data []byte) (r *pdf.Reader, err error) {
	defer func() {
		if x := recover(); x != nil {
			r, err = nil, guardErr(g, fmt.Errorf("%w: malformed PDF", ErrInvalid))
		}
	}()
	r, err = pdf.NewReader(g, int64(len(data)))
	if err != nil && g.err != nil {
		return nil, g.err
	}
	if errors.Is(err, pdf.ErrInvalidPassword) {
		return nil, fmt.Errorf("%w: encrypted PDF (a password is needed to read it)", ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable PDF (only PDF 1.0 to 1.7 with a cross-reference table or stream)", ErrInvalid)
	}
	return r, nil
}

// pageList walks the page tree itself rather than calling Reader.Page for
// each number, which walks from the root each time (quadratic in pages)
// and loops forever on a tree whose Kids refer back to an ancestor.
func pageList(r *pdf.Reader, lim Limits) (pages []pdf.Page, err error) {
	defer func() {
		if x := recover(); x != nil {
			pages, err = nil, fmt.Errorf("%w: malformed PDF page tree", ErrInvalid)
		}
	}()
	root := r.Trailer().Key("Root").Key("Pages")
	if root.Kind() != pdf.Dict {
		return nil, fmt.Errorf("%w: PDF has no page tree", ErrInvalid)
	}
	// Each node is visited once in a tree; a budget of nodes bounds the walk
	// in a graph with cycles or shared subtrees.
	budget := 4*lim.MaxPDFPages + 64
	var walk func(node pdf.Value, depth int) error
	walk = func(node pdf.Value, depth int) error {
		budget--
		if budget < 0 || depth > maxPageTreeDepth {
			return fmt.Errorf("%w: malformed PDF page tree (cyclic or too deep)", ErrInvalid)
		}
		if node.Key("Type").Name() == "Page" || node.Key("Kids").Kind() != pdf.Array {
			if len(pages) >= lim.MaxPDFPages {
				return fmt.Errorf("%w: PDF has more than %d pages", ErrTooLarge, lim.MaxPDFPages)
			}
			pages = append(pages, pdf.Page{V: node})
			return nil
		}
		kids := node.Key("Kids")
		for i := 0; i < kids.Len(); i++ {
			kid := kids.Index(i)
			if kid.Kind() != pdf.Dict {
				continue
			}
			if err := walk(kid, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return pages, nil
}

// pageText interprets one page's content stream, keeping the text shown
// by Tj, TJ, ' and ". It is the library's Page.GetPlainText with the
// bounds that one lacks: the text of a page stops at max bytes (a small
// compressed stream can show gigabytes), and ctx stops it between
// operators.
func pageText(ctx context.Context, p pdf.Page, max int64, lim Limits) (text string, err error) {
	defer func() {
		if x := recover(); x != nil {
			text = ""
			if a, ok := x.(abort); ok {
				err = a.err
				return
			}
			err = fmt.Errorf("%w: malformed PDF page", ErrInvalid)
		}
	}()
	contents := p.V.Key("Contents")
	if contents.IsNull() {
		return "", nil
	}
	var b strings.Builder
	show := func(s string) {
		s = cleanPDFText(s)
		if int64(b.Len())+int64(len(s)) > max {
			panic(abort{tooLarge(lim)})
		}
		b.WriteString(s)
	}
	var enc pdf.TextEncoding = noEncoding{}
	fonts := map[string]pdf.TextEncoding{}
	ops := 0
	pdf.Interpret(contents, func(stk *pdf.Stack, op string) {
		ops++
		if ops%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				panic(abort{err})
			}
		}
		args := make([]pdf.Value, stk.Len())
		for i := len(args) - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		switch op {
		case "BT", "T*":
			// A new text object or line: a break, so words of different
			// lines do not run together.
			show("\n")
		case "Td", "TD", "Tm":
			// A move within a text object may start a line or a word;
			// a space keeps the words apart either way.
			show(" ")
		case "Tf":
			if len(args) != 2 {
				return
			}
			name := args[0].Name()
			e, ok := fonts[name]
			if !ok {
				f := p.Font(name)
				if f.V.IsNull() || !checkFont(f.V) {
					e = noEncoding{}
				} else {
					e = f.Encoder()
				}
				fonts[name] = e
			}
			enc = e
		case "'", "\"", "Tj":
			if len(args) == 0 {
				return
			}
			if op != "Tj" {
				show("\n")
			}
			show(enc.Decode(args[len(args)-1].RawString()))
		case "TJ":
			if len(args) != 1 {
				return
			}
			v := args[0]
			for i := 0; i < v.Len(); i++ {
				x := v.Index(i)
				if x.Kind() == pdf.String {
					show(enc.Decode(x.RawString()))
				} else if x.Float64() < -200 {
					// A large negative adjustment is how PDF writers space words.
					show(" ")
				}
			}
		}
	})
	return collapseLines(b.String()), nil
}

// noEncoding passes the bytes through, as the library does for a page
// without a usable font.
type noEncoding struct{}

func (noEncoding) Decode(raw string) string { return raw }

// cleanPDFText makes a decoded string valid UTF-8 without control
// characters: decoders pass raw bytes through for unknown fonts, and a NUL
// or escape has no place in indexed text.
func cleanPDFText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, isBadControl) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if isBadControl(r) {
			return -1
		}
		return r
	}, s)
}

func isBadControl(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }

// collapseLines trims each line and drops empty ones: text operators each
// start a line, and most PDFs position every few words separately.
func collapseLines(s string) string {
	lines := strings.Split(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}

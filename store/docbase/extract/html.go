package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipped elements hold no text a reader sees: code, styling, fallbacks
// for disabled scripts, inert templates, and the head's metadata.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true, atom.Head: true,
}

// blocks start and end on a line of their own, so paragraphs, list items
// and table rows do not run together into one line of words.
var blocks = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true, atom.Body: true,
	atom.Br: true, atom.Caption: true, atom.Dd: true, atom.Details: true, atom.Dialog: true,
	atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true,
	atom.Figure: true, atom.Footer: true, atom.Form: true, atom.H1: true, atom.H2: true,
	atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Header: true, atom.Hr: true,
	atom.Li: true, atom.Main: true, atom.Nav: true, atom.Ol: true, atom.P: true, atom.Pre: true,
	atom.Section: true, atom.Summary: true, atom.Table: true, atom.Tbody: true, atom.Td: true,
	atom.Tfoot: true, atom.Th: true, atom.Thead: true, atom.Title: true, atom.Tr: true, atom.Ul: true,
}

// htmlText returns the visible text of an HTML document: entities decoded,
// whitespace collapsed, a line break for each block element. The tokenizer
// is used rather than the parser: no tree is built, so memory stays
// proportional to the output, and text is all that is wanted.
func htmlText(data []byte, lim Limits) (string, error) {
	z := html.NewTokenizer(bytes.NewReader(data))
	w := &htmlWriter{out: newSink(lim)}
	skip := map[atom.Atom]int{}
	inSkip := func() bool {
		for _, n := range skip {
			if n > 0 {
				return true
			}
		}
		return false
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%w: html: %v", ErrInvalid, err)
			}
			return strings.TrimSpace(w.out.String()), nil
		case html.TextToken:
			if inSkip() {
				continue
			}
			if err := w.text(string(z.Text())); err != nil {
				return "", err
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skipped[a] && tt != html.SelfClosingTagToken {
				if tt == html.StartTagToken {
					skip[a]++
				} else if skip[a] > 0 {
					skip[a]--
				}
			}
			// A page that never closes its head still shows its body.
			if a == atom.Body && tt == html.StartTagToken {
				skip[atom.Head] = 0
			}
			if blocks[a] {
				w.lineBreak()
			}
		}
	}
}

// htmlWriter collapses whitespace: runs of it become one space, and block
// boundaries one line break, with none at the start of the output.
type htmlWriter struct {
	out          *sink
	pendingSpace bool
	pendingLine  bool
}

func (w *htmlWriter) lineBreak() { w.pendingLine = true }

func (w *htmlWriter) text(s string) error {
	if s != "" && isSpace(s[0]) {
		w.pendingSpace = true
	}
	for _, word := range strings.Fields(s) {
		if w.out.Len() > 0 {
			sep := ""
			switch {
			case w.pendingLine:
				sep = "\n"
			case w.pendingSpace:
				sep = " "
			}
			if err := w.out.WriteString(sep); err != nil {
				return err
			}
		}
		if err := w.out.WriteString(word); err != nil {
			return err
		}
		// Words within one text node are separated by the space between them.
		w.pendingLine, w.pendingSpace = false, true
	}
	if s != "" && !isSpace(s[len(s)-1]) {
		w.pendingSpace = false
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

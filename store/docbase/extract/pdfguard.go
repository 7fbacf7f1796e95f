package extract

import (
	"bytes"
	"fmt"
	"strconv"
)

// maxPDFObjects bounds the object numbers a PDF may declare: the PDF 1.7
// specification's own limit (ISO 32000-1, Annex C), and no more than one
// object per byte of the file (plus some slack for tiny files).
func maxPDFObjects(size int) int64 { return min(8_388_607, int64(size)+1024) }

// checkPDFNumbers refuses a PDF whose cross-reference data declares more
// objects than maxPDFObjects, before the library sees it. The library
// sizes its object table from these numbers: a 165-byte file with one
// cross-reference entry numbered 10,000,000 made it take 300 MB, and one
// numbered in the billions would take more memory than the machine has,
// which Go cannot recover from. Checked, lexically and over the whole file
// (binary stream data included, where a match is harmless): the start and
// count of every xref table subsection, and the values of /Size, /Index
// and /N (the object count of an object stream, which the library loops
// over) wherever they occur, names with #xx escapes decoded as the library
// does.
func checkPDFNumbers(data []byte) error {
	limit := maxPDFObjects(len(data))
	tooMany := func(what string) error {
		return fmt.Errorf("%w: PDF declares more objects (%s) than its size allows", ErrInvalid, what)
	}
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '/':
			name, next := pdfName(data, i+1)
			switch name {
			case "Size", "N":
				if v, _, ok := pdfInt(data, next); ok && v > limit {
					return tooMany("/" + name)
				}
			case "Index":
				j := skipPDFSpace(data, next)
				if j < len(data) && data[j] == '[' {
					for j++; ; {
						v, k, ok := pdfInt(data, j)
						if !ok {
							break
						}
						if v > limit {
							return tooMany("/Index")
						}
						j = k
					}
				}
			}
			i = next - 1
		case bytes.HasPrefix(data[i:], []byte("xref")) && (i == 0 || !isPDFRegular(data[i-1])):
			next, err := checkXrefTable(data, i+len("xref"), limit)
			if err != nil {
				return tooMany("xref")
			}
			// The table's tokens are numbers and keywords, none of the
			// names looked for: going on after it keeps the scan linear.
			i = next - 1
		}
	}
	return nil
}

// checkXrefTable reads subsection headers ("start count") and skips their
// entries (three tokens each), as the library does, until something else.
// It returns where it stopped.
func checkXrefTable(data []byte, i int, limit int64) (int, error) {
	for {
		start, j, ok1 := pdfInt(data, i)
		count, k, ok2 := pdfInt(data, j)
		if !ok1 || !ok2 {
			return i, nil
		}
		if start > limit || count > limit || start+count > limit {
			return i, ErrInvalid
		}
		i = k
		for n := int64(0); n < 3*count; n++ {
			tok, next := pdfToken(data, i)
			if !isXrefEntryToken(tok) {
				return i, nil
			}
			i = next
		}
	}
}

func isXrefEntryToken(tok []byte) bool {
	if len(tok) == 1 && (tok[0] == 'f' || tok[0] == 'n') {
		return true
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(tok) > 0
}

// pdfName reads a name's characters from i, decoding #xx escapes.
func pdfName(data []byte, i int) (string, int) {
	var b []byte
	for i < len(data) && isPDFRegular(data[i]) {
		c := data[i]
		if c == '#' && i+2 < len(data) {
			if v, err := strconv.ParseUint(string(data[i+1:i+3]), 16, 8); err == nil {
				c = byte(v)
				i += 2
			}
		}
		b = append(b, c)
		i++
		if len(b) > 16 { // longer than any name checked for
			for i < len(data) && isPDFRegular(data[i]) {
				i++
			}
			return "", i
		}
	}
	return string(b), i
}

// pdfInt reads an unsigned integer token after white space (and comments);
// one too long for int64 is returned as the largest.
func pdfInt(data []byte, i int) (v int64, next int, ok bool) {
	i = skipPDFSpace(data, i)
	if i < len(data) && data[i] == '+' {
		i++
	}
	j := i
	for j < len(data) && '0' <= data[j] && data[j] <= '9' {
		if v > (1<<62)/10 {
			v = 1 << 62
		} else {
			v = v*10 + int64(data[j]-'0')
		}
		j++
	}
	if j == i || j < len(data) && isPDFRegular(data[j]) {
		return 0, i, false
	}
	return v, j, true
}

func skipPDFSpace(data []byte, i int) int {
	for i < len(data) {
		switch c := data[i]; {
		case c == '%':
			for i < len(data) && data[i] != '\n' && data[i] != '\r' {
				i++
			}
		case isPDFSpace(c):
			i++
		default:
			return i
		}
	}
	return i
}

// pdfToken returns the token at i (after white space): a run of regular
// characters, or one delimiter.
func pdfToken(data []byte, i int) ([]byte, int) {
	i = skipPDFSpace(data, i)
	j := i
	if j < len(data) && !isPDFRegular(data[j]) {
		return data[i : j+1], j + 1
	}
	for j < len(data) && isPDFRegular(data[j]) {
		j++
	}
	return data[i:j], j
}

func isPDFSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

// isPDFRegular: neither white space nor a delimiter (PDF 1.7, 7.2.2).
func isPDFRegular(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return false
	}
	return !isPDFSpace(c)
}

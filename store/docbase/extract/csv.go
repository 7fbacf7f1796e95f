package extract

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// csvText reads a CSV file whose first record is its header and returns
// one paragraph per row, each field on its own line as "header: value",
// so a chunk of the text keeps each value next to the column it is in.
// Quotes are strict (a bare quote is an error rather than a guess), and
// rows may have any number of fields: a field past the header's is named
// by its column number. Empty fields are left out.
func csvText(data []byte, lim Limits) (string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.LazyQuotes = false
	r.FieldsPerRecord = -1
	out := newSink(lim)

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return "", nil
	}
	if err != nil {
		return "", csvError(err)
	}
	header = append([]string(nil), header...)
	for i, h := range header {
		header[i] = oneLine(h)
	}
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", csvError(err)
		}
		var para []string
		for i, field := range rec {
			field = oneLine(field)
			if field == "" {
				continue
			}
			name := "column " + strconv.Itoa(i+1)
			if i < len(header) && header[i] != "" {
				name = header[i]
			}
			para = append(para, name+": "+field)
		}
		if len(para) == 0 {
			continue
		}
		sep := ""
		if rows > 0 {
			sep = "\n\n"
		}
		if err := out.WriteString(sep + strings.Join(para, "\n")); err != nil {
			return "", err
		}
		rows++
	}
	if rows == 0 {
		// Only a header: its names are the text there is.
		if err := out.WriteString(strings.Join(header, ", ")); err != nil {
			return "", err
		}
	}
	return out.String(), nil
}

// oneLine collapses whitespace, line breaks in quoted fields included, so
// a field stays on its line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// csvError keeps the position of a parse error but not the csv package's
// whole message, which may in future quote the field.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: csv: line %d, column %d: %v", ErrInvalid, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%w: csv: %v", ErrInvalid, err)
}

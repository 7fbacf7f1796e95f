package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// jsonText validates a JSON document and returns one line per scalar
// value, "path: value" (for example "items[0].name: Ada"), so the words of
// both keys and values are indexed and a chunk still says what a value
// means. Nulls are left out; they carry no text.
func jsonText(data []byte, lim Limits) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out := newSink(lim)
	j := jsonWalker{dec: dec, out: out, lim: lim}
	if err := j.value("", 0); err != nil {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%w: json: empty document", ErrInvalid)
		}
		return "", err
	}
	// Decoder accepts a stream of values; a document is exactly one.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%w: json: data after the top-level value", ErrInvalid)
	}
	return strings.TrimSuffix(out.String(), "\n"), nil
}

type jsonWalker struct {
	dec *json.Decoder
	out *sink
	lim Limits
}

// token wraps a syntax error with ErrInvalid. The decoder's messages name
// the offending character and offset, not the document's text.
func (j *jsonWalker) token() (json.Token, error) {
	t, err := j.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: json: %v", ErrInvalid, err)
	}
	return t, nil
}

// value reads one value whose key path is path, at nesting depth depth.
func (j *jsonWalker) value(path string, depth int) error {
	t, err := j.token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case json.Delim:
		if depth >= j.lim.MaxJSONDepth {
			return fmt.Errorf("%w: json nesting deeper than %d", ErrTooLarge, j.lim.MaxJSONDepth)
		}
		if v == '{' {
			return j.object(path, depth+1)
		}
		return j.array(path, depth+1)
	case string:
		return j.line(path, v)
	case json.Number:
		return j.line(path, v.String())
	case bool:
		return j.line(path, strconv.FormatBool(v))
	case nil:
		return nil
	}
	return fmt.Errorf("%w: json: unexpected token", ErrInvalid)
}

func (j *jsonWalker) object(path string, depth int) error {
	for j.dec.More() {
		t, err := j.token()
		if err != nil {
			return unexpectedEOF(err)
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("%w: json: object key is not a string", ErrInvalid)
		}
		child := key
		if path != "" {
			child = path + "." + key
		}
		if err := j.value(child, depth); err != nil {
			return unexpectedEOF(err)
		}
	}
	_, err := j.token() // the closing '}'
	return unexpectedEOF(err)
}

func (j *jsonWalker) array(path string, depth int) error {
	for i := 0; j.dec.More(); i++ {
		if err := j.value(path+"["+strconv.Itoa(i)+"]", depth); err != nil {
			return unexpectedEOF(err)
		}
	}
	_, err := j.token() // the closing ']'
	return unexpectedEOF(err)
}

// unexpectedEOF turns an end of input inside a container into ErrInvalid.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: json: unexpected end of input", ErrInvalid)
	}
	return err
}

func (j *jsonWalker) line(path, value string) error {
	if path != "" {
		if err := j.out.WriteString(path + ": "); err != nil {
			return err
		}
	}
	if err := j.out.WriteString(value); err != nil {
		return err
	}
	return j.out.WriteString("\n")
}

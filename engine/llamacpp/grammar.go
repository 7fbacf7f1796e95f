package llamacpp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/ollama/ollama/llama"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/gbnf"
)

// jsonObjectGrammar is GBNF for any JSON object, after llama.cpp's
// grammars/json.gbnf. Whitespace is at most one space, so that a model
// cannot spend its whole budget on indentation: the JSON comes compact.
const jsonObjectGrammar = `warden-json ::= object
value ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " "
`

// compactSpace replaces the whitespace rule of llama.cpp's schema grammars,
// which allows up to two newlines and twenty tabs between tokens: a weak
// model spends its tokens there.
const compactSpace = `space ::= | " "`

var spaceRule = regexp.MustCompile(`(?m)^space ::= .*$`)

// maxSchemaDepth bounds the nesting of a JSON schema before llama.cpp's
// converter reads it: the converter recurses once per level on the C
// stack. engine.MaxSchemaBytes bounds its size.
const maxSchemaDepth = 64

// grammarFor turns a Format into GBNF whose root rule is the JSON between
// the format's prefix and suffix, and checks the result as llama.cpp would
// read it, and against what the model's tokens can write. Whatever fails
// here is the request's fault, and would otherwise crash the process:
// llama.cpp reports neither a grammar it cannot use nor one no token can
// satisfy, it aborts.
func grammarFor(f engine.Format, alphabet *gbnf.Alphabet) (string, error) {
	if !f.JSON {
		return "", nil
	}
	rules := jsonObjectGrammar
	if f.Schema != nil {
		if err := checkSchema(f.Schema); err != nil {
			return "", invalidFormat(err.Error())
		}
		g := llama.SchemaToGrammar(f.Schema)
		if g == nil {
			return "", invalidFormat("the JSON schema is not valid, or uses features Warden cannot enforce")
		}
		if len(g) >= schemaGrammarBuffer(f.Schema)-1 { // cut short at the buffer's end
			return "", invalidFormat("the JSON schema is too complex to enforce")
		}
		rules = renameRule(string(g), "root", "warden-json")
		rules = spaceRule.ReplaceAllLiteralString(rules, compactSpace)
	}
	root := "root ::= warden-json"
	if f.Prefix != "" || f.Suffix != "" {
		root = "root ::= " + gbnfLiteral(f.Prefix) + " warden-json " + gbnfLiteral(f.Suffix)
	}
	grammar := root + "\n" + rules
	g, err := gbnf.Parse(grammar)
	if err != nil {
		return "", invalidFormat("the JSON schema cannot be enforced: " + err.Error())
	}
	if err := g.CheckAlphabet(alphabet); err != nil {
		return "", invalidFormat("the JSON schema cannot be enforced with this model: " + err.Error())
	}
	return grammar, nil
}

// schemaGrammarBuffer is the size of the buffer llama.SchemaToGrammar gives
// the converter for schema (llama.go of the pinned module): a grammar that
// fills it was truncated, silently.
func schemaGrammarBuffer(schema []byte) int { return max(32<<10, min(1<<20, len(schema)*4)) }

func invalidFormat(msg string) error {
	return &engine.InvalidError{Param: "response_format", Message: msg}
}

// checkSchema refuses a schema that is not JSON or nests too deep, or one
// of whose patterns would crash or hang llama.cpp's converter
// (checkPattern), before the converter sees it.
func checkSchema(schema []byte) error {
	dec := json.NewDecoder(bytes.NewReader(schema))
	// Each open object or array; for objects, whether a key comes next.
	var open []struct{ object, wantKey bool }
	key := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the JSON schema is not valid JSON: %w", err)
		}
		inObject := len(open) > 0 && open[len(open)-1].object
		if inObject && open[len(open)-1].wantKey {
			if k, ok := tok.(string); ok {
				key, open[len(open)-1].wantKey = k, false
				continue
			}
		}
		switch tok {
		case json.Delim('}'), json.Delim(']'):
			open = open[:len(open)-1]
			continue
		}
		if inObject {
			open[len(open)-1].wantKey = true
			if p, ok := tok.(string); ok && key == "pattern" {
				if err := checkPattern(p); err != nil {
					return err
				}
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(open) >= maxSchemaDepth {
				return fmt.Errorf("the JSON schema nests deeper than %d levels", maxSchemaDepth)
			}
			open = append(open, struct{ object, wantKey bool }{tok == json.Delim('{'), tok == json.Delim('{')})
		}
	}
}

// vocabAlphabet is what the model's tokens can write, for CheckAlphabet:
// the text of every token but those that end generation, which grammars
// treat apart.
func vocabAlphabet(model *llama.Model) *gbnf.Alphabet {
	pieces := make([]string, 0, model.NumVocab())
	for id := range model.NumVocab() {
		if !model.TokenIsEog(id) {
			pieces = append(pieces, model.TokenToPiece(id))
		}
	}
	return gbnf.NewAlphabet(pieces)
}

// gbnfLiteral quotes s as a GBNF string literal.
func gbnfLiteral(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// renameRule renames a rule of a GBNF grammar, definitions and references
// alike, leaving literals and character classes untouched.
func renameRule(g, from, to string) string {
	var b strings.Builder
	for i := 0; i < len(g); {
		c := g[i]
		switch {
		case c == '"' || c == '[':
			end := skipQuoted(g, i)
			b.WriteString(g[i:end])
			i = end
		case c == '#': // a comment runs to the end of the line
			end := strings.IndexByte(g[i:], '\n')
			if end < 0 {
				end = len(g) - i
			}
			b.WriteString(g[i : i+end])
			i += end
		case isWordByte(c):
			j := i
			for j < len(g) && isWordByte(g[j]) {
				j++
			}
			if g[i:j] == from {
				b.WriteString(to)
			} else {
				b.WriteString(g[i:j])
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// skipQuoted returns the index just past the literal or class at g[i].
func skipQuoted(g string, i int) int {
	closer := byte('"')
	if g[i] == '[' {
		closer = ']'
	}
	for j := i + 1; j < len(g); j++ {
		switch g[j] {
		case '\\':
			j++
		case closer:
			return j + 1
		}
	}
	return len(g)
}

func isWordByte(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

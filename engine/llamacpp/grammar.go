package llamacpp

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ollama/ollama/llama"

	"github.com/warden-llm/warden/engine"
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

// maxRepeat bounds the counts in a grammar's {m,n} repetitions, which
// llama.cpp expands into one rule per count: a schema asking for
// maxLength 10^9 must not become a billion rules.
const maxRepeat = 4096

// maxGrammarBytes bounds the GBNF a schema may turn into.
const maxGrammarBytes = 1 << 20

// grammarFor turns a Format into GBNF whose root rule is the JSON between
// the format's prefix and suffix. A schema llama.cpp cannot convert, or
// whose grammar would be too large, is the request's fault.
func grammarFor(f engine.Format) (string, error) {
	if !f.JSON {
		return "", nil
	}
	rules := jsonObjectGrammar
	if f.Schema != nil {
		g := llama.SchemaToGrammar(f.Schema)
		if g == nil {
			return "", &engine.InvalidError{Param: "response_format", Message: "the JSON schema is not valid, or uses features Warden cannot enforce"}
		}
		if len(g) >= maxGrammarBytes-1 { // SchemaToGrammar truncates at its buffer's end
			return "", &engine.InvalidError{Param: "response_format", Message: "the JSON schema is too complex to enforce"}
		}
		var err error
		if rules, err = renameRule(string(g), "root", "warden-json"); err != nil {
			return "", &engine.InvalidError{Param: "response_format", Message: "the JSON schema cannot be enforced: " + err.Error()}
		}
		rules = spaceRule.ReplaceAllLiteralString(rules, compactSpace)
	}
	root := "root ::= warden-json"
	if f.Prefix != "" || f.Suffix != "" {
		root = "root ::= " + gbnfLiteral(f.Prefix) + " warden-json " + gbnfLiteral(f.Suffix)
	}
	return root + "\n" + rules, nil
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
// alike, leaving literals and character classes untouched. It also checks
// every {m,n} repetition against maxRepeat.
func renameRule(g, from, to string) (string, error) {
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
		case c == '{':
			end := strings.IndexByte(g[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated repetition")
			}
			if err := checkRepeat(g[i+1 : i+end]); err != nil {
				return "", err
			}
			b.WriteString(g[i : i+end+1])
			i += end + 1
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
	return b.String(), nil
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

func checkRepeat(counts string) error {
	for _, n := range strings.Split(counts, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		v, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("bad repetition {%s}", counts)
		}
		if v > maxRepeat {
			return fmt.Errorf("a repetition of %d exceeds the limit of %d (maxLength, maxItems and patterns count)", v, maxRepeat)
		}
	}
	return nil
}

func isWordByte(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

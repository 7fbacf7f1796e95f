package gbnf

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// jsonGrammar is llama.cpp's grammars/json.gbnf, the shape Warden's own
// JSON grammar and the schema converter's output take.
const jsonGrammar = `root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
`

func TestParseAccepts(t *testing.T) {
	for _, src := range []string{
		jsonGrammar,
		"root ::= \"a\"\r\nb ::= [x-z]\r\n",
		`root ::= "\x41\u00e9\U0001F600\t\r\n\\\"\[\]" [^a-c\]] .`,
		`root ::= ("a" | "b")+ "c"? "d"* "e"{2} "f"{1,} "g"{0,3}`,
		`root ::= "(" root ")" | "x"`, // recursive, but not on the left
		"root ::= a\na ::= \"\" | \"x\"",
		`root ::= []`, // llama.cpp reads an empty class as nothing
	} {
		if _, err := Parse(src); err != nil {
			t.Errorf("Parse(%q): %v", src, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		src, want string
		limit     bool
	}{
		{`root ::= root "a"`, "left-recursive", false},
		{"root ::= a \"x\"\na ::= b\nb ::= root", "left-recursive", false},
		{"root ::= e root\ne ::= | \"x\"", "left-recursive", false},   // through a rule that may be empty
		{`root ::= "x"* root`, "left-recursive", false},               // x* expands into one
		{`root ::= a`, `rule "a" is used but not defined`, false},     // the recursive $ref of issue 13 becomes these
		{`a ::= "x"`, "no root", false},                               //
		{`root ::= "x"{2001}`, "over 2000", false},                    // llama.cpp's own limit
		{`root ::= "x"{5,2}`, "maximum below its minimum", true},      // llama.cpp loops ~2^64 times
		{`root ::= "x"{99999999999999999999}`, "out of range", false}, //
		{`root ::= <[12]>`, "token references", true},                 //
		{`root ::= !<x>`, "token references", true},                   //
		{`root ::= "\q"`, "unknown escape", false},                    //
		{`root ::= "\x4"`, "hex", false},                              //
		{`root ::= "abc`, "end of input", false},                      //
		{`root ::= [abc`, "end of input", false},                      //
		{`root ::= ("a"`, "expecting ')'", false},                     //
		{`root ::= * "a"`, "expecting an item", false},                //
		{`root = "a"`, "expecting ::=", false},                        //
		{"root ::= \"a\" )", "newline or end", false},                 //
		{"root ::= \"a\x00\"", "NUL", true},                           //
		{"root ::= \"\xff\"", "UTF-8", true},                          //
		{"root ::= " + strings.Repeat("(", 65) + `"a"` + strings.Repeat(")", 65), "nested", true},
		{`root ::= ("abcdefghij"{2000}){2000}`, "", false}, // fits: a group repeats by reference
		{"root ::= \"" + strings.Repeat("a", 1000) + "\"{2000}", "elements", true},
	} {
		_, err := Parse(tc.src)
		if tc.want == "" {
			if err != nil {
				t.Errorf("Parse(%.60q): %v", tc.src, err)
			}
			continue
		}
		var gerr *Error
		if !errors.As(err, &gerr) || !strings.Contains(err.Error(), tc.want) || gerr.Limit != tc.limit {
			t.Errorf("Parse(%.60q) = %v; want an error with %q, limit %v", tc.src, err, tc.want, tc.limit)
		}
	}
}

// llama.cpp's left-recursion walk forgets what it has walked: rules whose
// alternatives share their first reference double its work per level.
func TestBranchingBeyondTheWalkLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("root ::= r0\n")
	const levels = 30
	for i := range levels {
		next := "\"x\""
		if i < levels-1 {
			next = "r" + strconv.Itoa(i+1)
		}
		b.WriteString("r" + strconv.Itoa(i) + " ::= " + next + " \"a\" | " + next + " \"b\"\n")
	}
	_, err := Parse(b.String())
	var gerr *Error
	if !errors.As(err, &gerr) || !gerr.Limit {
		t.Fatalf("2^%d walk: %v", levels, err)
	}
	// Ten levels are fine.
	short := strings.Join(strings.Split(b.String(), "\n")[:11], "\n") + "\nr10 ::= \"x\"\n"
	if _, err := Parse(short); err != nil {
		t.Errorf("2^10 walk: %v", err)
	}
}

func TestCheckAlphabet(t *testing.T) {
	ascii := make([]string, 0, 95)
	for c := ' '; c <= '~'; c++ {
		ascii = append(ascii, string(c))
	}
	noNewline := NewAlphabet(ascii)
	asciiOnly := NewAlphabet(append(ascii, "\n", "\t", "hello", "é!"))
	var everyByte []string
	for b := range 256 {
		everyByte = append(everyByte, string([]byte{byte(b)}))
	}
	bytesToo := NewAlphabet(everyByte)
	lettersOnly := NewAlphabet([]string{"a", "b", "ab", "€x"})

	for _, tc := range []struct {
		grammar  string
		alphabet *Alphabet
		ok       bool
	}{
		{jsonGrammar, asciiOnly, true},
		{jsonGrammar, lettersOnly, false},  // no '{'
		{jsonGrammar, noNewline, false},    // strict: any set of any alternative
		{`root ::= "é"`, asciiOnly, false}, // only inside a longer token
		{`root ::= "é€😀"`, bytesToo, true}, // written byte by byte
		{`root ::= [^a-z]`, lettersOnly, false},
		{`root ::= [^a]`, lettersOnly, true},
		{`root ::= [^\x01-\U0010FFFF]`, bytesToo, false},
		{`root ::= [^\x01-\uD7FF\uE000-\U0010FFFF]`, bytesToo, false}, // leaves only surrogates
		{`root ::= [\uD800-\uDFFF]`, bytesToo, false},
		{`root ::= [c-z] | "a"`, lettersOnly, false}, // every set is checked, reachable or not
		{`root ::= [z-a]`, bytesToo, false},          // an empty range
		{`root ::= .`, lettersOnly, true},
		{`root ::= .`, NewAlphabet([]string{"ab"}), false},
		{`root ::= "\x00"`, bytesToo, false},
	} {
		g, err := Parse(tc.grammar)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.grammar, err)
		}
		if err := g.CheckAlphabet(tc.alphabet); (err == nil) != tc.ok {
			t.Errorf("CheckAlphabet(%.40q) = %v; want ok %v", tc.grammar, err, tc.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{jsonGrammar, `root ::= "x"{1,3} [a-c]* ("y" | z)?`, "root ::= a\na ::= \"\" | root"} {
		f.Add(s)
	}
	alphabet := NewAlphabet([]string{"a", "{", "\"", " "})
	f.Fuzz(func(t *testing.T, src string) {
		g, err := Parse(src)
		if err != nil {
			if errors.As(err, new(*Error)) {
				return
			}
			t.Fatalf("error of another type: %v", err)
		}
		_ = g.CheckAlphabet(alphabet)
	})
}

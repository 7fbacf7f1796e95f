package redact

import (
	"strings"
	"testing"
)

func mustPattern(t *testing.T, spec string) Pattern {
	t.Helper()
	p, err := ParsePattern(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPatternsAndWords(t *testing.T) {
	words, err := ParseWords(strings.NewReader("# staff\nMarie Curie\n\nDupont\nO'Brien\nZoë\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := New(Options{
		Patterns: []Pattern{mustPattern(t, `EMPLOYEE_ID=\bEMP-[0-9]{6}\b`), mustPattern(t, `EMAIL=\bjdoe\b`)},
		Words:    words,
	})
	for in, want := range map[string]string{
		"ask MARIE CURIE or marie-curie":      "ask [NAME] or [NAME]",
		"M. Dupont (EMP-004211) signed":       "M. [NAME] ([EMPLOYEE_ID]) signed",
		"O’Brien and o'brien, not Obrien":     "[NAME] and [NAME], not Obrien",
		"zoë wrote; ZOË too":                  "[NAME] wrote; [NAME] too",
		"Dupontel and dupont_x stay":          "Dupontel and dupont_x stay",
		"Marie alone stays, Curie too":        "Marie alone stays, Curie too",
		"jdoe is an e-mail rule's match":      "[EMAIL] is an e-mail rule's match",
		"Dupont at dupont@example.com":        "[NAME] at [EMAIL]",
		"EMP-0042110 is too long":             "EMP-0042110 is too long",
		"password: \"Marie Curie\" was typed": "password: \"[SECRET]\" was typed",
	} {
		got := r.Redact(in)
		if got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		if again := r.Redact(got); again != got {
			t.Errorf("Redact(%q) = %q, not idempotent", got, again)
		}
	}
}

// A rule that matches its own placeholder must leave it alone on a
// second pass.
func TestRulesSparePlaceholders(t *testing.T) {
	words, err := ParseWords(strings.NewReader("name\nsecret\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := New(Options{
		Key:      []byte("k"),
		Patterns: []Pattern{mustPattern(t, `CODE=[A-Z]{4,}`), mustPattern(t, `HEX=[0-9a-f]{8}`)},
		Words:    words,
	})
	for _, in := range []string{"name ABCD deadbeef", "password=hunter2 and name", "[NAME] [CODE:0123abcd] [SECRET]"} {
		once := r.Redact(in)
		if twice := r.Redact(once); twice != once {
			t.Errorf("Redact(%q): once %q, twice %q", in, once, twice)
		}
	}
	if got := r.Redact("[NAME] [CODE:0123abcd] [SECRET]"); got != "[NAME] [CODE:0123abcd] [SECRET]" {
		t.Errorf("placeholders were redacted: %q", got)
	}
}

func TestPseudonymsOfWordsIgnoreCase(t *testing.T) {
	r := New(Options{Key: []byte("k"), Words: []string{"Marie Curie"}})
	a, b := r.Redact("Marie Curie"), r.Redact("MARIE  CURIE")
	if !strings.HasPrefix(a, "[NAME:") || a != b {
		t.Errorf("pseudonyms %q and %q, want one [NAME:…] for both spellings", a, b)
	}
}

func TestBadRules(t *testing.T) {
	for _, spec := range []string{
		"EMPLOYEE_ID=EMP-[0-9", // bad syntax
		"employee=EMP",         // lower-case name
		"9X=EMP",               // name starting with a digit
		"NO_EQUALS",            // no regexp
		"ANY=a*",               // matches the empty string
		"LONG=" + strings.Repeat("a", maxPatternLen+1),
	} {
		if _, err := ParsePattern(spec); err == nil {
			t.Errorf("ParsePattern(%q) accepted it", spec)
		}
	}
	for _, list := range []string{"ok\n---\n", "ok\n" + strings.Repeat("a ", maxWordTokens+1) + "\n", "\xff\xfe\n"} {
		if _, err := ParseWords(strings.NewReader(list)); err == nil {
			t.Errorf("ParseWords(%q) accepted it", list)
		}
	}
}

func TestNoRulesNoChange(t *testing.T) {
	in := mixedPrompt()
	if a, b := New(Options{}).Redact(in), New(Options{Words: []string{"zzzz"}}).Redact(in); a != b {
		t.Errorf("an unused word list changed the output")
	}
}

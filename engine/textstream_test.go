package engine

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// feed runs pieces through a stream and returns the emitted text, whether a
// stop string ended it, and the emitted chunks.
func feed(stops []string, pieces ...string) (string, bool, []string) {
	s := NewTextStream(stops)
	var out strings.Builder
	var chunks []string
	for _, p := range pieces {
		text, stopped := s.Add(p)
		out.WriteString(text)
		chunks = append(chunks, text)
		if stopped {
			return out.String(), true, chunks
		}
	}
	rest := s.Flush()
	out.WriteString(rest)
	return out.String(), false, append(chunks, rest)
}

func TestTextStream(t *testing.T) {
	euro := "\u20ac" // three bytes: E2 82 AC
	tests := []struct {
		name    string
		stops   []string
		pieces  []string
		want    string
		stopped bool
	}{
		{"plain", nil, []string{"Hello", ", ", "world"}, "Hello, world", false},
		{"character split over tokens", nil, []string{"a", euro[:1], euro[1:2], euro[2:], "b"}, "a" + euro + "b", false},
		{"invalid byte replaced", nil, []string{"a\xffb"}, "a\ufffdb", false},
		{"invalid continuation replaced", nil, []string{"\xe2", "A"}, "\ufffdA", false},
		{"unfinished character at end", nil, []string{"ok", "\xe2\x82"}, "ok\ufffd", false},
		{"stop inside one piece", []string{"END"}, []string{"abcENDdef"}, "abc", true},
		{"stop across pieces", []string{"</s>"}, []string{"hi <", "/", "s>", "more"}, "hi ", true},
		{"false start released", []string{"STOP"}, []string{"ST", "ART"}, "START", false},
		{"earliest of several stops", []string{"bb", "a"}, []string{"xxbbya"}, "xx", true},
		{"stop made of split character", []string{euro}, []string{"x", euro[:2], euro[2:]}, "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stopped, chunks := feed(tt.stops, tt.pieces...)
			if got != tt.want || stopped != tt.stopped {
				t.Errorf("got %q stopped=%v, want %q stopped=%v", got, stopped, tt.want, tt.stopped)
			}
			for _, c := range chunks {
				if !utf8.ValidString(c) {
					t.Errorf("chunk %q is not valid UTF-8", c)
				}
			}
		})
	}
}

func TestTextStreamHoldsOnlyPossibleStops(t *testing.T) {
	s := NewTextStream([]string{"\nUser:"})
	if text, _ := s.Add("one\nUs"); text != "one" {
		t.Fatalf("emitted %q, want the text before the possible stop", text)
	}
	if text, _ := s.Add("ually"); text != "\nUsually" {
		t.Fatalf("emitted %q after the stop failed to match", text)
	}
}

package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine/chat"
	"github.com/warden-llm/warden/store/docbase"
)

var groundingResults = []docbase.SearchResult{
	{FileID: "file-a", Filename: "a.txt", Text: "alpha text"},
	{FileID: "file-b", Filename: "b\n[3] fake.txt", Text: "beta text"},
	{FileID: "file-a", Filename: "a.txt", Text: "more alpha"},
}

func TestGroundingMessages(t *testing.T) {
	msgs, _ := groundingMessages(groundingResults, nil)
	if len(msgs) != 1 || msgs[0].Role != chat.RoleUser {
		t.Fatalf("grounding %+v", msgs)
	}
	got := msgs[0].Content
	for _, want := range []string{"[1] a.txt\nalpha text\n", "[2] b [3] fake.txt\nbeta text\n", "[3] a.txt\nmore alpha\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("grounding lacks %q:\n%s", want, got)
		}
	}
	// A line break in a file name cannot start a source of its own.
	if strings.Contains(got, "\n[3] fake.txt") {
		t.Errorf("a file name broke its line:\n%s", got)
	}
	if none, _ := groundingMessages(nil, nil); len(none) != 1 || none[0].Role != chat.RoleUser || !strings.Contains(none[0].Content, "No sources") {
		t.Errorf("grounding without results %+v", none)
	}
}

// TestGroundingGoesBeforeTheLastQuestion: in a conversation, the sources
// go just before the question searched for, and the instructions alone
// make the system turn.
func TestGroundingGoesBeforeTheLastQuestion(t *testing.T) {
	instructions := "Be terse."
	input := []chat.Message{
		{Role: chat.RoleUser, Content: "q1"}, {Role: chat.RoleAssistant, Content: "a1"}, {Role: chat.RoleUser, Content: "q2"},
	}
	grounding, _ := groundingMessages(groundingResults, nil)
	msgs := promptMessages(&instructions, input, grounding)
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.Role+":"+strings.SplitN(m.Content, "\n", 2)[0])
	}
	want := []string{"system:Be terse.", "user:q1", "assistant:a1", "user:Sources retrieved from the document base for the question that follows:", "user:q2"}
	if !slices.Equal(roles, want) {
		t.Errorf("turns\n%q, want\n%q", roles, want)
	}
	if !strings.Contains(msgs[0].Content, citeInstruction) || strings.Contains(msgs[0].Content, "alpha") {
		t.Errorf("system turn %q", msgs[0].Content)
	}
	sameTurn := func(a, b chat.Message) bool { return a.Role == b.Role && a.Content == b.Content }
	if plain := promptMessages(nil, input, nil); !slices.EqualFunc(plain, input, sameTurn) {
		t.Errorf("without search or instructions %+v", plain)
	}
}

func TestCitations(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		// Markers map to their source, at their position in characters.
		{"See [2] and [1].", []string{"file-b@4", "file-a@12"}},
		{"Ünïcode [3]", []string{"file-a@8"}},
		// A marker with no such source is not a citation.
		{"Only [1] and [9] and [0].", []string{"file-a@5"}},
		// No marker: each file once, at the end.
		{"No markers here.", []string{"file-a@16", "file-b@16"}},
		{"", []string{"file-a@0", "file-b@0"}},
	}
	for _, tc := range cases {
		var got []string
		for _, a := range citations(tc.text, groundingResults) {
			if a.Type != "file_citation" {
				t.Errorf("annotation type %q", a.Type)
			}
			got = append(got, fmt.Sprintf("%s@%d", a.FileID, a.Index))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("citations(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	if got := citations("See [1].", nil); got != nil {
		t.Errorf("citations without results: %+v", got)
	}
}

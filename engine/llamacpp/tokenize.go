package llamacpp

import (
	"fmt"
	"strings"

	"github.com/warden-llm/warden/engine"
)

// CountTokens returns how many tokens text takes, without special tokens:
// what a piece of a document costs wherever it lands in a prompt.
func (m *Model) CountTokens(text string) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, engine.ErrClosed
	}
	tokens, err := m.model.Tokenize(text, false, false)
	if err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	return len(tokens), nil
}

// tokenize turns a request into prompt tokens.
//
// Chat messages go through the template, whose scaffolding may contain
// special tokens while message text must never become one. llama.cpp
// tokenizes a string with special tokens by cutting it at each special token
// and tokenizing the raw text runs between them; Warden does the same cut
// itself, but looks for special tokens only in scaffolding. Message text
// stays raw, and a prompt without injected markers tokenizes exactly as
// llama.cpp would tokenize the whole rendered string.
func (m *Model) tokenize(req engine.Request) ([]int, error) {
	if len(req.Messages) == 0 {
		tokens, err := m.model.Tokenize(req.Prompt, true, false)
		if err != nil {
			return nil, fmt.Errorf("tokenize prompt: %w", err)
		}
		return tokens, nil
	}
	segments, err := m.template.RenderTools(req.Messages, req.Tools)
	if err != nil {
		return nil, &engine.InvalidError{Param: "messages", Message: err.Error()}
	}

	tokens, err := m.model.Tokenize("", true, false) // BOS, if the model wants one
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	var raw strings.Builder
	flush := func() error {
		if raw.Len() == 0 {
			return nil
		}
		t, err := m.model.Tokenize(raw.String(), false, false)
		if err != nil {
			return fmt.Errorf("tokenize messages: %w", err)
		}
		tokens = append(tokens, t...)
		raw.Reset()
		return nil
	}
	for _, seg := range segments {
		text := seg.Text
		for text != "" {
			if seg.Special {
				if id, n := m.matchSpecial(text); n > 0 {
					if err := flush(); err != nil {
						return nil, err
					}
					tokens = append(tokens, id)
					text = text[n:]
					continue
				}
			}
			raw.WriteByte(text[0])
			text = text[1:]
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return tokens, nil
}

// matchSpecial finds the longest special token at the start of text.
func (m *Model) matchSpecial(text string) (id, n int) {
	for l := min(len(text), m.facts.longest); l > 0; l-- {
		if id, ok := m.facts.special[text[:l]]; ok {
			return id, l
		}
	}
	return 0, 0
}

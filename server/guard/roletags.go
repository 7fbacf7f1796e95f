package guard

import (
	"strings"
	"unicode"
)

// roleTags are the chat-template markers of common model families, as
// they look with whitespace removed and in lower case. Typed into a
// message or a document, they try to open a turn the model will read as
// the system's or the assistant's.
var roleTags = []string{
	"<|im_start|>", "<|im_end|>", "<|system|>", "<|user|>", "<|assistant|>",
	"<|developer|>", "[inst]", "[/inst]", "<<sys>>", "<</sys>>",
	"<start_of_turn>", "<end_of_turn>", "<|start_header_id|>", "<|end_header_id|>",
	"<|eot_id|>", "<|begin_of_text|>", "<|endoftext|>", "<|channel|>",
	"###system:", "###instruction:", "<|start|>system", "<|start|>developer",
}

// roleTagCode is the weight of a role tag that sits in code: inside a
// ``` fence or directly after a quote or backtick, as when a program
// builds a chat template in a string literal.
const roleTagCode = 0.25

// templateCues are words of a text that talks about chat templates
// rather than forging a turn: a question about the format, or code.
var templateCues = []string{
	"template", "format", "chatml", "tokenizer", "token", "what does", "meaning",
	"signifie", "bedeutet", "significa", "```", "code",
}

// matchRoleTags adds a hit "roletag" if text holds a role tag.
func matchRoleTags(text, prefix string, h *hits) {
	if !strings.ContainsAny(text, "<[#") {
		return
	}
	compact := compactLower(text)
	w := 0.0
	for _, tag := range roleTags {
		for off := 0; ; {
			i := strings.Index(compact[off:], tag)
			if i < 0 {
				break
			}
			i += off
			if inCode(compact, i) {
				w = max(w, roleTagCode)
			} else {
				w = 0.9
			}
			off = i + len(tag)
		}
	}
	if w > roleTagCode && containsAny(strings.ToLower(text), templateCues) {
		w = roleTagCode
	}
	if w > 0 {
		h.add(prefix+"roletag", "any", w)
	}
}

// compactLower is text in lower case with all whitespace removed.
func compactLower(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text {
		if !unicode.IsSpace(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// inCode reports whether position i of compact text is in code: after an
// odd number of ``` fences, or right after a quote, backtick or +.
func inCode(compact string, i int) bool {
	if strings.Count(compact[:i], "```")%2 == 1 {
		return true
	}
	if i > 0 {
		switch compact[i-1] {
		case '"', '\'', '`', '+', '(':
			return true
		}
	}
	return false
}

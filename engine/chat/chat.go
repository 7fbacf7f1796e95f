package chat

import (
	"errors"
	"fmt"
	"strings"
)

// Roles a Message may have.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	// RoleDeveloper is OpenAI's newer name for the system role.
	RoleDeveloper = "developer"
)

// Message is one chat message as a client sent it.
type Message struct {
	Role       string
	Content    string
	ToolCalls  []ToolCall // calls an assistant made, rendered after its content
	ToolCallID string     // for RoleTool: the call this result answers
}

// Segment is a piece of a rendered prompt.
type Segment struct {
	Text string
	// Special marks template scaffolding, to be tokenized with
	// special-token parsing. Message content is never Special.
	Special bool
}

// Errors Render reports, wrapped with the offending message's index. Each
// describes a fault in the messages, fit to show the client.
var (
	ErrNoMessages      = errors.New("at least one message is required")
	ErrUnsupportedRole = errors.New("unsupported role")
	ErrInvalidUTF8     = errors.New("content is not valid UTF-8")
	ErrTurnOrder       = errors.New("unsupported message order")
)

// kind identifies a template family. The zero value is the fallback, so a
// zero Template renders plain text.
type kind int

const (
	kindFallback kind = iota
	kindChatML
	kindLlama2
	kindLlama3
	kindMistral
	kindGemma
	kindPhi3
	kindZephyr
	numKinds
)

func (k kind) String() string {
	switch k {
	case kindChatML:
		return "chatml"
	case kindLlama2:
		return "llama2"
	case kindLlama3:
		return "llama3"
	case kindMistral:
		return "mistral"
	case kindGemma:
		return "gemma"
	case kindPhi3:
		return "phi3"
	case kindZephyr:
		return "zephyr"
	}
	return "fallback"
}

// Template renders messages in one family's prompt format. The zero value is
// the fallback family. Templates are small values, safe to copy and to use
// from several goroutines.
type Template struct {
	kind kind
}

// Detect chooses the family for a GGUF chat template's source, which is ""
// when the model has none. It never executes the source; see the package
// documentation for the rules. Unrecognised sources give the fallback.
func Detect(source string) Template {
	has := func(marker string) bool { return strings.Contains(source, marker) }
	switch {
	case has("<|im_start|>"):
		return Template{kindChatML}
	case has("<|start_header_id|>"):
		return Template{kindLlama3}
	case has("<start_of_turn>"):
		return Template{kindGemma}
	case has("<|user|>") && has("<|end|>"):
		return Template{kindPhi3}
	case has("<|user|>") && (has("</s>") || has("eos_token")):
		return Template{kindZephyr}
	case has("[INST]") && has("<<SYS>>"):
		return Template{kindLlama2}
	case has("[INST]"):
		return Template{kindMistral}
	}
	return Template{kindFallback}
}

// ByName returns the family with the given Name, for configuration that
// overrides detection.
func ByName(name string) (Template, error) {
	for k := range numKinds {
		if k.String() == name {
			return Template{k}, nil
		}
	}
	return Template{}, fmt.Errorf("unknown chat template family %q", name)
}

// Name is the family's name: "chatml", "llama2", "llama3", "mistral",
// "gemma", "phi3", "zephyr" or "fallback".
func (t Template) Name() string { return t.kind.String() }

// Stops returns stop strings the engine must apply on top of the model's
// end-of-generation tokens. Only the fallback needs any, since every other
// family ends a turn with a control token. The slice is the caller's own.
func (t Template) Stops() []string {
	if t.kind == kindFallback {
		return []string{"\nUser:"}
	}
	return nil
}

// Render formats msgs as a prompt that ends with the assistant's generation
// prompt, so the model's continuation is the reply. Errors wrap the ones
// declared in this package.
func (t Template) Render(msgs []Message) ([]Segment, error) {
	return t.RenderTools(msgs, nil)
}

// RenderTools is Render with tools offered to the model: their definitions
// open the system text (see the package documentation for the format).
func (t Template) RenderTools(msgs []Message, tools []Tool) ([]Segment, error) {
	turns, err := parseMessages(msgs, t.trimsContent())
	if err != nil {
		return nil, err
	}
	if len(tools) > 0 {
		preamble, err := toolPrompt(tools)
		if err != nil {
			return nil, err
		}
		turns = withSystemText(turns, preamble)
	}
	switch t.kind {
	case kindLlama2, kindMistral:
		return renderInst(t.kind, turns)
	}
	return renderTurns(t.format(), turns), nil
}

// trimsContent reports whether the family's reference template trims the
// whitespace around each message.
func (t Template) trimsContent() bool {
	switch t.kind {
	case kindLlama2, kindLlama3, kindGemma:
		return true
	}
	return false
}

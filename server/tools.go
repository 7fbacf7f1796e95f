package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/chat"
)

// Tools as OpenAI's chat API sends them, and tool_choice.

type toolDef struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

// wireToolCall is a tool call in a message, either way.
type wireToolCall struct {
	Index    *int   `json:"index,omitempty"` // streaming deltas only
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

const maxTools = 128

var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func parseTools(defs []toolDef) ([]chat.Tool, error) {
	if len(defs) > maxTools {
		return nil, invalidParam("tools", fmt.Sprintf("at most %d tools are allowed", maxTools))
	}
	tools := make([]chat.Tool, len(defs))
	seen := map[string]bool{}
	for i, d := range defs {
		param := fmt.Sprintf("tools[%d]", i)
		switch {
		case d.Type != "function":
			return nil, invalidParam(param+".type", `the only tool type is "function"`)
		case !toolName.MatchString(d.Function.Name):
			return nil, invalidParam(param+".function.name", "a function name must be 1 to 64 letters, digits, underscores or dashes")
		case seen[d.Function.Name]:
			return nil, invalidParam(param+".function.name", fmt.Sprintf("function %q is defined twice", d.Function.Name))
		}
		seen[d.Function.Name] = true
		params := bytes.TrimSpace(d.Function.Parameters)
		if len(params) > 0 && !bytes.Equal(params, []byte("null")) && params[0] != '{' {
			return nil, invalidParam(param+".function.parameters", "parameters must be a JSON Schema object")
		}
		tools[i] = chat.Tool{Name: d.Function.Name, Description: d.Function.Description, Parameters: d.Function.Parameters}
	}
	return tools, nil
}

// toolChoice is what tool_choice asks: "none", "auto", "required", or a
// function's name.
type toolChoice struct {
	mode string // "none", "auto" or "required"
	name string // the function required, when one is named
}

func parseToolChoice(raw json.RawMessage, tools []chat.Tool) (toolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		if len(tools) == 0 {
			return toolChoice{mode: "none"}, nil
		}
		return toolChoice{mode: "auto"}, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "none", "auto", "required":
			if mode != "none" && len(tools) == 0 {
				return toolChoice{}, invalidParam("tool_choice", "tool_choice "+mode+" needs tools")
			}
			return toolChoice{mode: mode}, nil
		}
		return toolChoice{}, invalidParam("tool_choice", `tool_choice must be "none", "auto", "required" or a function`)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" {
		return toolChoice{}, invalidParam("tool_choice", `tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}`)
	}
	for _, t := range tools {
		if t.Name == named.Function.Name {
			return toolChoice{mode: "required", name: t.Name}, nil
		}
	}
	return toolChoice{}, invalidParam("tool_choice", fmt.Sprintf("tool_choice names %q, which is not among the tools", named.Function.Name))
}

// format is the grammar that forces a call when one is required: the
// named function, or any of the tools.
func (tc toolChoice) format(tools []chat.Tool) (engine.Format, error) {
	if tc.mode != "required" {
		return engine.Format{}, nil
	}
	if tc.name != "" {
		for _, t := range tools {
			if t.Name == tc.name {
				tools = []chat.Tool{t}
				break
			}
		}
	}
	schema, err := chat.CallSchema(tools)
	if err != nil {
		return engine.Format{}, invalidParam("tools", "tool parameters must be JSON: "+err.Error())
	}
	return engine.Format{JSON: true, Schema: schema, Prefix: chat.ToolCallOpen + "\n", Suffix: "\n" + chat.ToolCallClose}, nil
}

// messageToolCalls converts the calls of an assistant message in the
// history.
func messageToolCalls(i int, calls []wireToolCall) ([]chat.ToolCall, error) {
	out := make([]chat.ToolCall, len(calls))
	for j, c := range calls {
		if c.Function.Name == "" {
			return nil, invalidParam(fmt.Sprintf("messages[%d].tool_calls[%d].function.name", i, j), "a tool call needs a function name")
		}
		out[j] = chat.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments}
	}
	return out, nil
}

// newCallID makes an ID in OpenAI's style for a call the model made.
func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "call_" + hex.EncodeToString(b[:])
}

func wireCalls(calls []chat.ToolCall) []wireToolCall {
	out := make([]wireToolCall, len(calls))
	for i, c := range calls {
		out[i] = wireToolCall{ID: newCallID(), Type: "function"}
		out[i].Function.Name = c.Name
		out[i].Function.Arguments = c.Arguments
	}
	return out
}

// toolStream separates tool calls from content in streamed text. Text that
// may be the start of a call's opening tag is held back until it is known
// not to be; a call goes out whole once its closing tag arrives; and
// whitespace is held until content follows, so the blank lines around
// calls do not reach the client as content.
type toolStream struct {
	pending string // text not yet classified
	inCall  bool   // pending is the body of an open call
	space   string // whitespace held back until content follows
	called  bool   // a call went out
}

// streamPart is content or a complete tool call.
type streamPart struct {
	content string
	call    *chat.ToolCall
}

func (t *toolStream) add(piece string) []streamPart {
	t.pending += piece
	var parts []streamPart
	for {
		if t.inCall {
			end := strings.Index(t.pending, chat.ToolCallClose)
			if end < 0 {
				return parts
			}
			parts = t.closeCall(parts, t.pending[:end])
			t.pending = t.pending[end+len(chat.ToolCallClose):]
			t.inCall = false
			continue
		}
		open := strings.Index(t.pending, chat.ToolCallOpen)
		if open < 0 {
			keep := partialSuffix(t.pending, chat.ToolCallOpen)
			parts = t.content(parts, t.pending[:len(t.pending)-keep])
			t.pending = t.pending[len(t.pending)-keep:]
			return parts
		}
		parts = t.content(parts, t.pending[:open])
		t.pending = t.pending[open+len(chat.ToolCallOpen):]
		t.inCall = true
	}
}

// flush ends the stream: a call the model left open is still a call if
// its body parses. Trailing whitespace is dropped after a call, and kept,
// like any text, in a reply without one.
func (t *toolStream) flush() []streamPart {
	var parts []streamPart
	if t.inCall {
		parts = t.closeCall(parts, t.pending)
	} else {
		parts = t.content(parts, t.pending)
	}
	if !t.called && t.space != "" {
		parts = append(parts, streamPart{content: t.space})
	}
	t.pending, t.inCall, t.space = "", false, ""
	return parts
}

func (t *toolStream) closeCall(parts []streamPart, body string) []streamPart {
	if call, ok := chat.ParseToolCall(body); ok {
		t.space, t.called = "", true
		return append(parts, streamPart{call: &call})
	}
	return t.content(parts, chat.ToolCallOpen+body+chat.ToolCallClose)
}

func (t *toolStream) content(parts []streamPart, s string) []streamPart {
	if strings.TrimFunc(s, unicode.IsSpace) == "" {
		t.space += s
		return parts
	}
	s, t.space = t.space+s, ""
	return append(parts, streamPart{content: s})
}

// partialSuffix is the length of the longest suffix of s that is a proper
// prefix of tag.
func partialSuffix(s, tag string) int {
	for n := min(len(tag)-1, len(s)); n > 0; n-- {
		if strings.HasSuffix(s, tag[:n]) {
			return n
		}
	}
	return 0
}

package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// RoleTool is the role of a message carrying a tool's result.
const RoleTool = "tool"

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema of the arguments object; nil for none
}

// ToolCall is one call of a Tool, as the model wrote it or as a client
// sends it back in an assistant message.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // a JSON object
}

// The tags that delimit a tool call in generated text, as Hermes and Qwen
// models write them.
const (
	ToolCallOpen  = "<tool_call>"
	ToolCallClose = "</tool_call>"
)

// ErrToolCall describes a malformed tool call in a message.
var ErrToolCall = errors.New("invalid tool call")

// toolPrompt is the system text that offers tools, in every family. It is
// the Hermes format, which Qwen 2.5 and many fine-tunes were trained on;
// models trained on other formats still follow it well enough when told
// to, and grammar-constrained sampling enforces it when a call is required.
func toolPrompt(tools []Tool) (string, error) {
	var b strings.Builder
	b.WriteString("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
		"You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
	for i, t := range tools {
		line, err := toolJSON(t)
		if err != nil {
			return "", fmt.Errorf("tools[%d]: %w", i, err)
		}
		b.WriteString("\n")
		b.Write(line)
	}
	b.WriteString("\n</tools>\n\nFor each function call, return a json object with function name and arguments " +
		"within " + ToolCallOpen + ToolCallClose + " XML tags:\n" +
		ToolCallOpen + "\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n" + ToolCallClose)
	return b.String(), nil
}

// toolJSON is a tool's definition as one line of OpenAI's JSON.
func toolJSON(t Tool) ([]byte, error) {
	type function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	line, err := json.Marshal(struct {
		Type     string   `json:"type"`
		Function function `json:"function"`
	}{"function", function(t)})
	if err != nil {
		return nil, fmt.Errorf("%w: parameters are not JSON", ErrToolCall)
	}
	return line, nil
}

// formatCall writes a call the way the model is asked to write one.
func formatCall(c ToolCall) (string, error) {
	args := []byte(c.Arguments)
	if len(bytes.TrimSpace(args)) == 0 {
		args = []byte("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(args, &obj); err != nil {
		return "", fmt.Errorf("%w: arguments of %q are not a JSON object", ErrToolCall, c.Name)
	}
	name, _ := json.Marshal(c.Name)
	var compact bytes.Buffer
	if err := json.Compact(&compact, args); err != nil {
		return "", fmt.Errorf("%w: arguments of %q: %v", ErrToolCall, c.Name, err)
	}
	return ToolCallOpen + "\n{\"name\": " + string(name) + ", \"arguments\": " + compact.String() + "}\n" + ToolCallClose, nil
}

// ParseToolCalls finds the tool calls in generated text. content is the
// text outside them, trimmed. A tag pair whose body is not a call's JSON is
// left in content, as text: the model wrote something, and the client sees
// it rather than losing it. IDs are left for the caller to assign.
func ParseToolCalls(text string) (content string, calls []ToolCall) {
	var rest strings.Builder
	for {
		open := strings.Index(text, ToolCallOpen)
		if open < 0 {
			break
		}
		body := text[open+len(ToolCallOpen):]
		end := strings.Index(body, ToolCallClose)
		if end < 0 {
			end = len(body) // the model stopped before closing the tag
		}
		call, ok := ParseToolCall(body[:end])
		if !ok {
			rest.WriteString(text[:open+len(ToolCallOpen)])
			text = body
			continue
		}
		calls = append(calls, call)
		rest.WriteString(text[:open])
		text = body[min(end+len(ToolCallClose), len(body)):]
	}
	rest.WriteString(text)
	return strings.TrimSpace(rest.String()), calls
}

// ParseToolCall reads the JSON between a call's tags:
// {"name": ..., "arguments": {...}}. Arguments come back compact.
func ParseToolCall(body string) (ToolCall, bool) {
	var v struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(body)), &v); err != nil || v.Name == "" {
		return ToolCall{}, false
	}
	args := bytes.TrimSpace(v.Arguments)
	if len(args) == 0 || bytes.Equal(args, []byte("null")) {
		args = []byte("{}")
	}
	if args[0] == '"' { // some models write the arguments as a JSON string
		var s string
		if json.Unmarshal(args, &s) == nil {
			args = []byte(s)
		}
	}
	var compact bytes.Buffer
	if json.Compact(&compact, args) != nil || compact.Len() == 0 || compact.Bytes()[0] != '{' {
		return ToolCall{}, false
	}
	return ToolCall{Name: v.Name, Arguments: compact.String()}, true
}

// CallSchema is the JSON Schema of one tool call's body, as ParseToolCall
// reads it, for any of tools. With it a grammar can force a valid call.
func CallSchema(tools []Tool) ([]byte, error) {
	variants := make([]any, 0, len(tools))
	for _, t := range tools {
		params := t.Parameters
		if len(bytes.TrimSpace(params)) == 0 || bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
			params = json.RawMessage(`{"type":"object"}`)
		}
		// A struct keeps "name" before "arguments", the order the prompt
		// shows and the grammar will enforce.
		type properties struct {
			Name      map[string]string `json:"name"`
			Arguments json.RawMessage   `json:"arguments"`
		}
		variants = append(variants, map[string]any{
			"type":                 "object",
			"properties":           properties{map[string]string{"const": t.Name}, params},
			"required":             []string{"name", "arguments"},
			"additionalProperties": false,
		})
	}
	if len(variants) == 1 {
		return json.Marshal(variants[0])
	}
	return json.Marshal(map[string]any{"anyOf": variants})
}

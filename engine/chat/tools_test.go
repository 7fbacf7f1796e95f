package chat

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

var weather = Tool{
	Name:        "get_weather",
	Description: "Current weather in a city",
	Parameters:  json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`),
}

func TestRenderToolsRoundTrip(t *testing.T) {
	tmpl, _ := ByName("chatml")
	msgs := []Message{
		sys("Be brief."),
		user("Weather in Paris?"),
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{ "city": "Paris" }`}}},
		{Role: RoleTool, ToolCallID: "call_1", Content: `{"temp": 21}`},
		{Role: RoleTool, ToolCallID: "call_2", Content: `{"temp": 22}`},
	}
	segs, err := tmpl.RenderTools(msgs, []Tool{weather})
	if err != nil {
		t.Fatal(err)
	}
	checkSegments(t, segs)
	got := show(segs)
	want := "⟦<|im_start|>system\n⟧Be brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
		"You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
		`{"type":"function","function":{"name":"get_weather","description":"Current weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}` +
		"\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
		"<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>" +
		"⟦<|im_end|>\n<|im_start|>user\n⟧Weather in Paris?" +
		"⟦<|im_end|>\n<|im_start|>assistant\n⟧<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>" +
		"⟦<|im_end|>\n<|im_start|>user\n⟧<tool_response>\n{\"temp\": 21}\n</tool_response>\n<tool_response>\n{\"temp\": 22}\n</tool_response>" +
		"⟦<|im_end|>\n<|im_start|>assistant\n⟧"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// What the model is shown as a call, the parser reads back.
	_, calls := ParseToolCalls(strings.SplitN(got, "assistant\n⟧", 2)[1])
	if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].Arguments != `{"city":"Paris"}` {
		t.Errorf("parsed back %+v", calls)
	}
}

func TestRenderToolsEveryFamily(t *testing.T) {
	for _, tmpl := range allTemplates(t) {
		segs, err := tmpl.RenderTools([]Message{user("Hi")}, []Tool{weather})
		if err != nil {
			t.Fatalf("%s: %v", tmpl.Name(), err)
		}
		checkSegments(t, segs)
		text := show(segs)
		if !strings.Contains(text, `"name":"get_weather"`) || strings.Index(text, "<tools>") > strings.Index(text, "Hi") {
			t.Errorf("%s: tools not offered before the user turn:\n%s", tmpl.Name(), text)
		}
		for _, s := range segs {
			if s.Special && strings.Contains(s.Text, "get_weather") {
				t.Errorf("%s: tool definitions rendered as scaffolding: %q", tmpl.Name(), s.Text)
			}
		}
	}
}

func TestParseToolCalls(t *testing.T) {
	tests := []struct {
		text, content string
		calls         []ToolCall
	}{
		{"plain answer", "plain answer", nil},
		{"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>", "", []ToolCall{{Name: "f", Arguments: `{"a":1}`}}},
		{"Let me check.\n<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call><tool_call>{\"name\":\"g\",\"arguments\":\"{\\\"b\\\":2}\"}</tool_call>",
			"Let me check.", []ToolCall{{Name: "f", Arguments: "{}"}, {Name: "g", Arguments: `{"b":2}`}}},
		{"<tool_call>{\"name\":\"f\",\"arguments\":{\"x\":true}}", "", []ToolCall{{Name: "f", Arguments: `{"x":true}`}}}, // unclosed at the end
		{"<tool_call>not json</tool_call>", "<tool_call>not json</tool_call>", nil},
		{"<tool_call>{\"name\":\"f\",\"arguments\":[1]}</tool_call>", "<tool_call>{\"name\":\"f\",\"arguments\":[1]}</tool_call>", nil},
		{"<tool_call>{\"arguments\":{}}</tool_call>", "<tool_call>{\"arguments\":{}}</tool_call>", nil},
	}
	for _, tt := range tests {
		content, calls := ParseToolCalls(tt.text)
		if content != tt.content || !slices.Equal(calls, tt.calls) {
			t.Errorf("ParseToolCalls(%q) = %q, %+v; want %q, %+v", tt.text, content, calls, tt.content, tt.calls)
		}
	}
}

func TestCallSchema(t *testing.T) {
	one, err := CallSchema([]Tool{weather})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Properties json.RawMessage
		Required   []string
	}
	if err := json.Unmarshal(one, &v); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(v.Properties), `{"name":{"const":"get_weather"},"arguments":{"type"`) || !slices.Equal(v.Required, []string{"name", "arguments"}) {
		t.Errorf("schema %s", one)
	}
	two, err := CallSchema([]Tool{weather, {Name: "noop"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(two), `{"anyOf":[`) || !strings.Contains(string(two), `"arguments":{"type":"object"}`) {
		t.Errorf("schema %s", two)
	}
}

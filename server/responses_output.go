package server

import (
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/docbase"
)

// The response object and its output items, shaped as openai-go's
// responses.Response parses them.

type responseObject struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Error              *responseError     `json:"error"`
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []any              `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Store              bool               `json:"store"`
	Temperature        float64            `json:"temperature"`
	TopP               float64            `json:"top_p"`
	ToolChoice         string             `json:"tool_choice"`
	Tools              []fileSearchTool   `json:"tools"`
	Text               textConfig         `json:"text"`
	Truncation         string             `json:"truncation"`
	Usage              *responseUsage     `json:"usage"`
	User               *string            `json:"user"`
	Metadata           map[string]string  `json:"metadata"`
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type textConfig struct {
	Format struct {
		Type string `json:"type"`
	} `json:"format"`
}

type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// fileSearchCall is the output item of the search.
type fileSearchCall struct {
	ID      string                 `json:"id"`
	Type    string                 `json:"type"`
	Status  string                 `json:"status"`
	Queries []string               `json:"queries"`
	Results []fileSearchCallResult `json:"results"` // null unless include asks for them
}

type fileSearchCallResult struct {
	FileID     string             `json:"file_id"`
	Filename   string             `json:"filename"`
	Score      float64            `json:"score"`
	Text       string             `json:"text"`
	Attributes docbase.Attributes `json:"attributes"`
}

// outputMessage is the output item of the model's reply.
type outputMessage struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Role    string       `json:"role"`
	Status  string       `json:"status"`
	Content []outputText `json:"content"`
}

type outputText struct {
	Type        string       `json:"type"`
	Text        string       `json:"text"`
	Annotations []annotation `json:"annotations"`
	Logprobs    []struct{}   `json:"logprobs"`
}

// annotation is a file_citation.
type annotation struct {
	Type     string `json:"type"`
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
	Index    int    `json:"index"`
}

// responseState is one response in the making: the request, its plan,
// what the search found, and the ids of its items.
type responseState struct {
	body    *responsesRequest
	plan    responsePlan
	results []docbase.SearchResult
	model   string
	id      string
	created int64
	fsID    string
	msgID   string
}

func newResponseState(x *exchange, body *responsesRequest, plan responsePlan, model string) *responseState {
	// The response id is the exchange's, as X-Request-Id and the audit
	// record carry it, so a response can be found in the log; like the
	// item ids, it is 96 random bits.
	return &responseState{body: body, plan: plan, model: model, id: "resp_" + x.id,
		created: time.Now().Unix(), fsID: "fs_" + newID(), msgID: "msg_" + newID()}
}

// object is the response with the given status and output.
func (rs *responseState) object(status string, output []any) responseObject {
	r := responseObject{
		ID: rs.id, Object: "response", CreatedAt: rs.created, Status: status,
		Instructions: rs.body.Instructions, MaxOutputTokens: rs.body.MaxOutputTokens, Model: rs.model,
		Output: output, Temperature: defaultTemperature, TopP: defaultTopP, ToolChoice: "auto",
		Tools: []fileSearchTool{}, Truncation: "disabled", Metadata: rs.body.Metadata,
	}
	if output == nil {
		r.Output = []any{}
	}
	if rs.body.Temperature != nil {
		r.Temperature = *rs.body.Temperature
	}
	if rs.body.TopP != nil {
		r.TopP = *rs.body.TopP
	}
	if rs.plan.tool != nil {
		r.Tools = []fileSearchTool{*rs.plan.tool}
	}
	if rs.body.User != "" {
		r.User = &rs.body.User
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	r.Text.Format.Type = "text"
	if t := rs.body.Text; t != nil && t.Format != nil && t.Format.Type != "" {
		r.Text.Format.Type = t.Format.Type
	}
	return r
}

// searchItem is the file_search_call output item, or nil without the tool.
func (rs *responseState) searchItem() *fileSearchCall {
	if rs.plan.search == nil {
		return nil
	}
	item := &fileSearchCall{ID: rs.fsID, Type: "file_search_call", Status: "completed", Queries: []string{rs.plan.query}}
	if rs.plan.include {
		item.Results = make([]fileSearchCallResult, len(rs.results))
		for i, r := range rs.results {
			item.Results[i] = fileSearchCallResult{FileID: r.FileID, Filename: r.Filename, Score: r.Score,
				Text: r.Text, Attributes: r.Attributes}
		}
	}
	return item
}

// messageItem is the reply's output item.
func (rs *responseState) messageItem(status string, content []outputText) outputMessage {
	if content == nil {
		content = []outputText{}
	}
	return outputMessage{ID: rs.msgID, Type: "message", Role: "assistant", Status: status, Content: content}
}

// textPart is the reply's one content part.
func textPart(text string, anns []annotation) outputText {
	if anns == nil {
		anns = []annotation{}
	}
	return outputText{Type: "output_text", Text: text, Annotations: anns, Logprobs: []struct{}{}}
}

// final is the finished response, for the generation's text and result.
func (rs *responseState) final(text string, res engine.Result) responseObject {
	status := statusOf(res)
	var output []any
	if item := rs.searchItem(); item != nil {
		output = append(output, item)
	}
	output = append(output, rs.messageItem(status, []outputText{textPart(text, citations(text, rs.results))}))
	r := rs.object(status, output)
	switch res.FinishReason {
	case engine.FinishLength:
		r.IncompleteDetails = &incompleteDetails{Reason: "max_output_tokens"}
	case engine.FinishContentFilter:
		r.IncompleteDetails = &incompleteDetails{Reason: "content_filter"}
	}
	r.Usage = usageOfResponse(res)
	return r
}

// statusOf is completed, or incomplete when the length limit or the
// guard (a leak, blocked) ended the reply.
func statusOf(res engine.Result) string {
	if res.FinishReason == engine.FinishLength || res.FinishReason == engine.FinishContentFilter {
		return "incomplete"
	}
	return "completed"
}

func usageOfResponse(res engine.Result) *responseUsage {
	u := &responseUsage{InputTokens: res.PromptTokens, OutputTokens: res.CompletionTokens}
	u.TotalTokens = u.InputTokens + u.OutputTokens
	return u
}

// citationMarker is a [n] the model wrote to cite source n.
var citationMarker = regexp.MustCompile(`\[(\d{1,3})\]`)

// citations maps the [n] markers in text to the nth result's file, each
// at the marker's position in characters (code points, as OpenAI counts
// them). A marker with no source of its number is left alone. A reply
// with no marker cites each distinct file it was given once, at the end
// of the text: the model saw them all, and a client that shows sources
// should show those.
func citations(text string, results []docbase.SearchResult) []annotation {
	if len(results) == 0 {
		return nil
	}
	var anns []annotation
	for _, loc := range citationMarker.FindAllStringSubmatchIndex(text, -1) {
		n, err := strconv.Atoi(text[loc[2]:loc[3]])
		if err != nil || n < 1 || n > len(results) {
			continue
		}
		r := results[n-1]
		anns = append(anns, fileCitation(r, utf8.RuneCountInString(text[:loc[0]])))
	}
	if anns != nil {
		return anns
	}
	end := utf8.RuneCountInString(text)
	seen := map[string]bool{}
	for _, r := range results {
		if !seen[r.FileID] {
			seen[r.FileID] = true
			anns = append(anns, fileCitation(r, end))
		}
	}
	return anns
}

func fileCitation(r docbase.SearchResult, index int) annotation {
	return annotation{Type: "file_citation", FileID: r.FileID, Filename: r.Filename, Index: index}
}

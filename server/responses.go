package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/chat"
	"github.com/warden-llm/warden/store/docbase"
)

// POST /v1/responses: OpenAI's Responses API, one turn at a time, with the
// file_search tool run by the server before generation. Responses are not
// kept (store is false), so nothing can continue from one: a conversation
// is sent whole as input. docs/openai-api.md lists what is refused.

type responsesRequest struct {
	Model           string            `json:"model"`
	Input           json.RawMessage   `json:"input"`
	Instructions    *string           `json:"instructions"`
	MaxOutputTokens *int              `json:"max_output_tokens"`
	Temperature     *float64          `json:"temperature"`
	TopP            *float64          `json:"top_p"`
	Stream          bool              `json:"stream"`
	Tools           []json.RawMessage `json:"tools"`
	ToolChoice      json.RawMessage   `json:"tool_choice"`
	Include         []string          `json:"include"`
	User            string            `json:"user"`
	Metadata        map[string]string `json:"metadata"`
	Store           *bool             `json:"store"` // accepted; nothing is stored

	// Known, and refused when set: see check.
	PreviousResponseID *string         `json:"previous_response_id"`
	Background         *bool           `json:"background"`
	Conversation       json.RawMessage `json:"conversation"`
	Prompt             json.RawMessage `json:"prompt"`
	Truncation         *string         `json:"truncation"`
	Text               *struct {
		Format *struct {
			Type   string          `json:"type"`
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		} `json:"format"`
	} `json:"text"`
}

// inputItem is one item of an input list; only messages are accepted.
type inputItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// inputPart is one content part of a message item.
type inputPart struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

// inputMessages reads input: a string (one user message) or a list of
// message items.
func inputMessages(raw json.RawMessage) ([]chat.Message, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && s != "" {
		return []chat.Message{{Role: chat.RoleUser, Content: s}}, nil
	}
	var items []inputItem
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return nil, invalidParam("input", "input must be a non-empty string or list of message items")
	}
	if len(items) > maxMessages {
		return nil, invalidParam("input", fmt.Sprintf("input may hold at most %d items", maxMessages))
	}
	msgs := make([]chat.Message, len(items))
	for i, it := range items {
		var err error
		if msgs[i], err = it.message(fmt.Sprintf("input[%d]", i)); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// message checks one input item and converts it.
func (it inputItem) message(param string) (chat.Message, error) {
	if it.Type != "" && it.Type != "message" {
		return chat.Message{}, invalidParam(param+".type",
			fmt.Sprintf("input items of type %q are not supported; only messages are", it.Type))
	}
	switch it.Role {
	case chat.RoleUser, chat.RoleAssistant, chat.RoleSystem, chat.RoleDeveloper:
	case "":
		return chat.Message{}, invalidParam(param+".role", "every message item needs a role")
	default:
		return chat.Message{}, invalidParam(param+".role",
			fmt.Sprintf("role %q is not supported; use user, assistant, system or developer", it.Role))
	}
	var s string
	if err := json.Unmarshal(it.Content, &s); err == nil {
		return chat.Message{Role: it.Role, Content: s}, nil
	}
	var parts []inputPart
	if err := json.Unmarshal(it.Content, &parts); err != nil {
		return chat.Message{}, invalidParam(param+".content", "content must be a string or a list of content parts")
	}
	// An assistant's earlier reply comes back as output_text, as the SDK
	// sends a previous response's output.
	want := "input_text"
	if it.Role == chat.RoleAssistant {
		want = "output_text"
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != want || p.Text == nil {
			return chat.Message{}, invalidParam(fmt.Sprintf("%s.content[%d].type", param, j),
				fmt.Sprintf("content parts of type %q are not supported in a %s message; only %s is", p.Type, it.Role, want))
		}
		b.WriteString(*p.Text)
	}
	return chat.Message{Role: it.Role, Content: b.String()}, nil
}

// fileSearchTool is the file_search tool as sent, and as echoed back.
type fileSearchTool struct {
	Type           string          `json:"type"`
	VectorStoreIDs []string        `json:"vector_store_ids"`
	MaxNumResults  int             `json:"max_num_results,omitempty"`
	Filters        json.RawMessage `json:"filters,omitempty"`
	RankingOptions *struct {
		Ranker         string   `json:"ranker,omitempty"`
		ScoreThreshold *float64 `json:"score_threshold,omitempty"`
	} `json:"ranking_options,omitempty"`

	filter *docbase.Filter // Filters, parsed
}

const (
	maxFileSearchResults     = 50
	maxFileSearchStores      = 16
	includeResults           = "file_search_call.results"
	maxResponseMetadata      = 16
	maxResponseMetadataKey   = 64
	maxResponseMetadataValue = 512
)

// responsePlan is a checked request: what to search, and what to ask the
// model.
type responsePlan struct {
	search  *retrieval      // nil without the file_search tool
	tool    *fileSearchTool // as echoed back
	include bool            // results go into the file_search_call item
	query   string          // the last user message: what is searched
	req     engine.Request  // its Messages lack the grounding until groundResponse
}

// check refuses what Warden cannot honour and builds the plan.
func (r *responsesRequest) check() (responsePlan, error) {
	var p responsePlan
	switch {
	case r.PreviousResponseID != nil && *r.PreviousResponseID != "":
		return p, invalidParam("previous_response_id", "responses are not stored, so none can be continued: send the whole conversation as input")
	case r.Background != nil && *r.Background:
		return p, invalidParam("background", "background responses are not supported")
	case len(r.Conversation) > 0 && !bytes.Equal(r.Conversation, []byte("null")):
		return p, invalidParam("conversation", "conversations are not supported: send the whole conversation as input")
	case len(r.Prompt) > 0 && !bytes.Equal(r.Prompt, []byte("null")):
		return p, invalidParam("prompt", "prompt templates are not supported")
	case r.Truncation != nil && *r.Truncation != "disabled":
		return p, invalidParam("truncation", `only truncation "disabled" is supported`)
	case r.MaxOutputTokens != nil && (*r.MaxOutputTokens < 1 || *r.MaxOutputTokens > maxMaxTokens):
		return p, invalidParam("max_output_tokens", fmt.Sprintf("max_output_tokens must be between 1 and %d", maxMaxTokens))
	}
	if err := checkResponseMetadata(r.Metadata); err != nil {
		return p, err
	}
	input, err := inputMessages(r.Input)
	if err != nil {
		return p, err
	}
	if p.include, err = checkInclude(r.Include); err != nil {
		return p, err
	}
	if p.tool, err = r.fileSearch(); err != nil {
		return p, err
	}
	if err := r.checkToolChoice(p.tool != nil); err != nil {
		return p, err
	}
	sampling := samplingFields{Model: r.Model, Temperature: r.Temperature, TopP: r.TopP, User: r.User}
	if p.req, err = sampling.toEngine(r.MaxOutputTokens, randomSeed); err != nil {
		return p, err
	}
	p.req.Messages = input
	if p.req.Format, err = r.textFormat(); err != nil {
		return p, err
	}
	if p.tool != nil {
		if p.query = lastUserText(input); strings.TrimSpace(p.query) == "" {
			return p, invalidParam("input", "file_search needs a user message with text to search for")
		}
		p.search = p.tool.retrieval(p.query)
	}
	return p, nil
}

// textFormat is text.format as a grammar-enforced format: the same JSON
// object and JSON Schema modes as chat's response_format, in the
// Responses API's flatter shape.
func (r *responsesRequest) textFormat() (engine.Format, error) {
	if r.Text == nil || r.Text.Format == nil {
		return engine.Format{}, nil
	}
	f := r.Text.Format
	rf := &responseFormat{Type: f.Type}
	if f.Type == "json_schema" {
		rf.JSONSchema = &struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		}{f.Name, f.Schema, f.Strict}
	}
	format, err := rf.toEngine()
	if ae, ok := err.(*apiError); ok {
		param := strings.Replace(*ae.Param, "response_format", "text.format", 1)
		param = strings.Replace(param, ".json_schema", "", 1)
		ae.Param = &param
		ae.Message = strings.ReplaceAll(ae.Message, "response_format type", "text.format type")
	}
	return format, err
}

func checkResponseMetadata(m map[string]string) error {
	if len(m) > maxResponseMetadata {
		return invalidParam("metadata", fmt.Sprintf("metadata may hold at most %d pairs", maxResponseMetadata))
	}
	for k, v := range m {
		if utf8.RuneCountInString(k) > maxResponseMetadataKey || utf8.RuneCountInString(v) > maxResponseMetadataValue {
			return invalidParam("metadata", fmt.Sprintf("metadata keys may be at most %d characters and values %d",
				maxResponseMetadataKey, maxResponseMetadataValue))
		}
	}
	return nil
}

// checkInclude accepts file_search_call.results only.
func checkInclude(include []string) (bool, error) {
	results := false
	for i, v := range include {
		if v != includeResults {
			return false, invalidParam(fmt.Sprintf("include[%d]", i),
				fmt.Sprintf("include value %q is not supported; only %q is", v, includeResults))
		}
		results = true
	}
	return results, nil
}

// fileSearch checks the tools: at most one, of type file_search.
func (r *responsesRequest) fileSearch() (*fileSearchTool, error) {
	var tool *fileSearchTool
	for i, raw := range r.Tools {
		param := fmt.Sprintf("tools[%d]", i)
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, invalidParam(param, "a tool must be an object with a type")
		}
		if head.Type != "file_search" {
			return nil, invalidParam(param+".type",
				fmt.Sprintf("tools of type %q are not supported; only file_search is", head.Type))
		}
		if tool != nil {
			return nil, invalidParam(param, "only one file_search tool may be given")
		}
		tool = new(fileSearchTool)
		if err := json.Unmarshal(raw, tool); err != nil {
			return nil, invalidParam(param, fmt.Sprintf("invalid file_search tool: %v", jsonError(err).Message))
		}
		if err := tool.check(param); err != nil {
			return nil, err
		}
	}
	return tool, nil
}

func (t *fileSearchTool) check(param string) error {
	switch {
	case len(t.VectorStoreIDs) == 0 || len(t.VectorStoreIDs) > maxFileSearchStores:
		return invalidParam(param+".vector_store_ids", fmt.Sprintf("file_search needs 1 to %d vector_store_ids", maxFileSearchStores))
	case slices.Contains(t.VectorStoreIDs, ""):
		return invalidParam(param+".vector_store_ids", "vector store ids may not be empty")
	case t.MaxNumResults < 0 || t.MaxNumResults > maxFileSearchResults:
		return invalidParam(param+".max_num_results", fmt.Sprintf("max_num_results must be between 1 and %d", maxFileSearchResults))
	}
	if ro := t.RankingOptions; ro != nil {
		if ro.Ranker != "" && ro.Ranker != "auto" && ro.Ranker != "default-2024-11-15" {
			return invalidParam(param+".ranking_options.ranker", fmt.Sprintf("ranker %q is not supported; use auto", ro.Ranker))
		}
		if s := ro.ScoreThreshold; s != nil && (*s < 0 || *s > 1) {
			return invalidParam(param+".ranking_options.score_threshold", "score_threshold must be between 0 and 1")
		}
	}
	if bytes.Equal(bytes.TrimSpace(t.Filters), []byte("null")) {
		t.Filters = nil
	}
	if t.Filters != nil {
		f, err := docbase.ParseFilter(t.Filters)
		if err != nil {
			return invalidParam(param+".filters", trimDocPrefix(err.Error()))
		}
		t.filter = f
	}
	return nil
}

// retrieval is the search the tool asks for.
func (t *fileSearchTool) retrieval(query string) *retrieval {
	q := &retrieval{StoreIDs: t.VectorStoreIDs, Query: query, MaxResults: t.MaxNumResults, Filter: t.filter}
	if ro := t.RankingOptions; ro != nil && ro.ScoreThreshold != nil {
		q.ScoreThreshold = *ro.ScoreThreshold
	}
	return q
}

// checkToolChoice accepts the choices that agree with searching always:
// the search runs before generation whatever the model would decide.
func (r *responsesRequest) checkToolChoice(hasTool bool) error {
	if len(r.ToolChoice) == 0 || bytes.Equal(r.ToolChoice, []byte("null")) {
		return nil
	}
	var mode string
	if json.Unmarshal(r.ToolChoice, &mode) == nil && (mode == "auto" || (mode == "required" && hasTool)) {
		return nil
	}
	var named struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(r.ToolChoice, &named) == nil && named.Type == "file_search" && hasTool {
		return nil
	}
	return invalidParam("tool_choice", `tool_choice must be "auto", or "required" or {"type":"file_search"} with the file_search tool`)
}

// lastUserText is the text of the last user message: the search query.
func lastUserText(msgs []chat.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == chat.RoleUser {
			return msgs[i].Content
		}
	}
	return ""
}

// promptMessages is the conversation the model sees: the instructions
// (and, with file_search, how to cite) as the system turn, then the
// input, with the grounding turn just before the last user message.
func promptMessages(instructions *string, input []chat.Message, grounding []chat.Message) []chat.Message {
	msgs := input
	if instructions != nil && *instructions != "" {
		msgs = append([]chat.Message{{Role: chat.RoleSystem, Content: *instructions}}, input...)
	}
	return withGrounding(msgs, grounding)
}

// withGrounding puts the grounding turn just before the last user turn and
// the instruction about sources into the system turn (made if there is
// none). Without grounding it returns msgs as they are.
func withGrounding(msgs, grounding []chat.Message) []chat.Message {
	if grounding == nil {
		return msgs
	}
	msgs = appendToSystem(msgs, citeInstruction) // a new slice: inserting below leaves the caller's alone
	for i := len(msgs) - 1; i > 0; i-- {
		if msgs[i].Role == chat.RoleUser {
			return slices.Insert(msgs, i, grounding...)
		}
	}
	return msgs
}

// responses serves POST /v1/responses.
func (s *Server) responses(c echo.Context) error {
	var body responsesRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	m, release, err := s.acquire(c, body.Model)
	if err != nil {
		return err
	}
	defer release()
	plan, err := body.check()
	if err != nil {
		return err
	}
	rs := newResponseState(exchangeOf(c), &body, plan, m.Info().Name)
	if err := s.groundResponse(c, rs); err != nil {
		return err
	}
	if body.Stream {
		return s.streamResponse(c, m, rs)
	}
	text, res, err := s.generateAll(c, m, rs.plan.req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rs.final(text, res))
}

// groundResponse runs the file_search tool, if the request has one, and
// puts its results into the prompt. The audit record names the stores
// searched and the chunks returned, with their scores, never their text.
func (s *Server) groundResponse(c echo.Context, rs *responseState) error {
	x := exchangeOf(c)
	p := &rs.plan
	msgs := promptMessages(rs.body.Instructions, p.req.Messages, nil)
	// The record keeps what the caller sent, not the retrieved text: the
	// audit log names chunks by id and must not become a second copy of
	// the documents, which auditors may not read.
	x.prompt = promptText(engine.Request{Messages: msgs})
	var err error
	if s.cfg.Guard.on() {
		if msgs, err = s.chatMessages(c, msgs); err != nil {
			return err
		}
	}
	if p.search == nil {
		x.action = "responses"
		p.req.Messages = msgs
		return nil
	}
	x.action = "responses.file_search"
	comp, err := compartment(c)
	if err != nil {
		return err
	}
	ids := p.search.StoreIDs
	results, err := s.retrieve(c.Request().Context(), comp, *p.search)
	if errors.Is(err, docbase.ErrNotFound) {
		missing := s.missingResponseStores(c, comp, ids)
		x.detail = "stores=" + s.auditStoreList(ids, missing)
		first := ids[0]
		if i := slices.IndexFunc(ids, func(id string) bool { return missing[id] }); i >= 0 {
			first = ids[i]
		}
		return docError(err, "vector store", first)
	}
	if err != nil {
		return docError(err, "vector store", "")
	}
	x.detail = searchDetail(ids, results) // as a vector store search's: the ids are all verified now
	rs.results = results
	grounding, err := s.groundingTurn(c, results)
	if err != nil {
		return err
	}
	p.req.Messages = withGrounding(msgs, grounding)
	return nil
}

// missingResponseStores finds which of ids the compartment does not
// hold, as a search says only that one is. An id it cannot look up
// counts as missing.
func (s *Server) missingResponseStores(c echo.Context, comp docbase.Compartment, ids []string) map[string]bool {
	missing := make(map[string]bool, len(ids))
	db, dbErr := s.docs()
	for _, id := range ids {
		missing[id] = true
		if dbErr == nil {
			_, err := db.GetStore(c.Request().Context(), comp, id)
			missing[id] = err != nil
		}
	}
	return missing
}

// auditStoreList is the audit detail's list of store ids after a failed
// search. An id that names no store of the caller's is client text the
// server cannot vouch for, so the record holds its keyed tag instead (see
// unknownValue).
func (s *Server) auditStoreList(ids []string, missing map[string]bool) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if missing[id] {
			out[i] = s.unknownValue("vector_store", id)
		}
	}
	return strings.Join(out, ",")
}

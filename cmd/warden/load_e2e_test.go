package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The load check of issue 3: 32 clients at once against 4 slots and a
// queue of 8, a third of them streaming and hanging up after the first
// chunk, a third streaming to the end, a third waiting for whole replies.
// No 5xx; every client that stays gets a complete answer or a 429 with
// Retry-After; afterwards every slot is free and serves at once.
func TestLoad32Clients(t *testing.T) {
	const parallel, queue, clients, maxTokens = 4, 8, 32, 48
	w := startWarden(t, "--lock", repoLock, "--parallel", fmt.Sprint(parallel), "--queue", fmt.Sprint(queue),
		"--rate-requests", "100000")
	admin := issueToken(t, w.dataDir, "--sub", "load-admin", "--role", "admin")

	outcomes := make([]loadOutcome, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			outcomes[i] = loadClient(w, loadKind(i%3), maxTokens)
		}()
	}
	close(start)
	wg.Wait()

	counts := map[string]int{}
	for i, o := range outcomes {
		counts[o.result]++
		switch o.result {
		case "complete", "cancelled", "rejected":
		default:
			t.Errorf("client %d (%s): %s", i, loadKind(i%3), o.result)
		}
	}
	t.Logf("outcomes: %v", counts)
	if counts["complete"] == 0 || counts["cancelled"] == 0 {
		t.Errorf("the load did not exercise both completion and disconnection: %v", counts)
	}
	if counts["rejected"] == 0 {
		t.Errorf("%d clients against %d slots and a queue of %d: none got 429", clients, parallel, queue)
	}

	if busy, waiting := slotsInUse(t, w, admin); busy != 0 || waiting != 0 {
		t.Errorf("after the load: %d slots busy, %d requests waiting", busy, waiting)
	}
	// Every slot serves again: as many requests as slots, all complete.
	burst := make(chan loadOutcome, parallel)
	for range parallel {
		go func() { burst <- loadClient(w, loadWhole, maxTokens) }()
	}
	for range parallel {
		if o := <-burst; o.result != "complete" {
			t.Errorf("burst after the load: %s", o.result)
		}
	}
}

type loadKind int

const (
	loadHangUp loadKind = iota // streams, disconnects after the first chunk
	loadStream                 // streams to the end
	loadWhole                  // waits for the whole reply
)

func (k loadKind) String() string { return [...]string{"hang-up", "stream", "whole"}[k] }

// loadOutcome is "complete", "cancelled", "rejected" (429 with
// Retry-After), or a description of anything else.
type loadOutcome struct{ result string }

func loadClient(w *instance, kind loadKind, maxTokens int) loadOutcome {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := kind != loadWhole
	payload := map[string]any{
		"model":      demoName,
		"messages":   []map[string]string{{"role": "user", "content": "Tell me a story"}},
		"max_tokens": maxTokens, "ignore_eos": true, "stream": stream,
	}
	if stream {
		payload["stream_options"] = map[string]bool{"include_usage": true}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return loadOutcome{err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return loadOutcome{err.Error()}
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return loadOutcome{"transport: " + err.Error()}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
		return loadOutcome{"rejected"}
	case resp.StatusCode != http.StatusOK:
		data, _ := io.ReadAll(resp.Body)
		return loadOutcome{fmt.Sprintf("status %d: %s", resp.StatusCode, data)}
	}
	if !stream {
		var c struct {
			Choices []struct {
				FinishReason string `json:"finish_reason"`
			}
			Usage struct {
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || len(c.Choices) != 1 {
			return loadOutcome{fmt.Sprintf("reply: %v", err)}
		}
		if c.Choices[0].FinishReason != "length" || c.Usage.CompletionTokens != maxTokens {
			return loadOutcome{fmt.Sprintf("incomplete: %+v", c)}
		}
		return loadOutcome{"complete"}
	}
	return readLoadStream(bufio.NewReader(resp.Body), kind, cancel, maxTokens)
}

// readLoadStream reads a stream to [DONE], checking it finished with all
// its tokens, or hangs up after the first chunk.
func readLoadStream(r *bufio.Reader, kind loadKind, cancel func(), maxTokens int) loadOutcome {
	var finish string
	tokens := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return loadOutcome{"stream ended without [DONE]"}
			}
			return loadOutcome{"read: " + err.Error()}
		}
		data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
		if !ok {
			continue
		}
		if kind == loadHangUp {
			cancel()
			return loadOutcome{"cancelled"}
		}
		if data == "[DONE]" {
			if finish != "length" || tokens != maxTokens {
				return loadOutcome{fmt.Sprintf("incomplete stream: finish %q, %d tokens", finish, tokens)}
			}
			return loadOutcome{"complete"}
		}
		var chunk struct {
			Choices []struct {
				FinishReason *string `json:"finish_reason"`
			}
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
			Error *struct{ Message string }
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return loadOutcome{"chunk: " + err.Error()}
		}
		if chunk.Error != nil {
			return loadOutcome{"error event: " + chunk.Error.Message}
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].FinishReason != nil {
			finish = *chunk.Choices[0].FinishReason
		}
		if chunk.Usage != nil {
			tokens = chunk.Usage.CompletionTokens
		}
	}
}

// slotsInUse reads the model's busy slots and waiting requests from GET
// /admin/models. A disconnected client's slot is freed at the decode
// loop's next step, so it asks a few times before taking the answer.
func slotsInUse(t *testing.T, w *instance, admin string) (busy, waiting int) {
	t.Helper()
	for range 50 {
		req, err := http.NewRequest(http.MethodGet, w.base+"/admin/models", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Data []struct {
				Name  string
				Stats *struct {
					SlotsBusy  int `json:"slots_busy"`
					QueueDepth int `json:"queue_depth"`
				}
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || len(list.Data) != 1 || list.Data[0].Stats == nil {
			t.Fatalf("GET /admin/models: %v, %+v", err, list)
		}
		busy, waiting = list.Data[0].Stats.SlotsBusy, list.Data[0].Stats.QueueDepth
		if busy == 0 && waiting == 0 {
			return 0, 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return busy, waiting
}

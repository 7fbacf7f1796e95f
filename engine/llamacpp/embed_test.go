package llamacpp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/models/testmodel"
)

// embedModels are the two kinds of embedding model: a generative one whose
// token states Warden pools (the demo model, last token), and one that
// llama.cpp pools itself (BERT, mean), which must fit each input in one
// batch.
var embedModels = []struct {
	name  string
	write func(testing.TB) string
}{
	{"demo", writeDemo},
	{"bert", writeBERT},
}

func writeDemo(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.gguf")
	if _, _, err := testmodel.WriteFile(path, testmodel.Demo()); err != nil {
		t.Fatal(err)
	}
	return path
}

// bertTexts are inputs of 1 to 12 words from tinyBERT's vocabulary, each
// different from the one before, so a shared prefix or a stale result
// would show.
func bertTexts(n int) []engine.EmbedInput {
	words := tinyBERT.words
	in := make([]engine.EmbedInput, n)
	for i := range in {
		var sb strings.Builder
		for j := range 1 + (i*5)%12 {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[(i+j*j)%len(words)])
		}
		in[i] = engine.EmbedInput{Text: sb.String()}
	}
	return in
}

// Many inputs in one call, more than there are slots, give each the vector
// it gets alone, in order: the loop decodes them together, each in its own
// sequence.
func TestEmbedManyInputsAsAlone(t *testing.T) {
	const parallel = 4
	ctx := context.Background()
	for _, tc := range embedModels {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.write(t)
			inputs := bertTexts(3*parallel + 1)
			one := load(t, path, 1)
			want := make([]engine.Embedding, len(inputs))
			for i, in := range inputs {
				e, err := one.Embed(ctx, []engine.EmbedInput{in})
				if err != nil {
					t.Fatal(err)
				}
				want[i] = e[0]
			}

			m := load(t, path, parallel)
			before := m.live.steps.Load()
			got, err := m.Embed(ctx, inputs)
			if err != nil {
				t.Fatal(err)
			}
			steps := m.live.steps.Load() - before
			t.Logf("%d inputs in %d decode steps", len(inputs), steps)
			if steps >= int64(len(inputs)) {
				t.Errorf("%d inputs took %d decode steps: none were batched", len(inputs), steps)
			}
			if len(got) != len(want) {
				t.Fatalf("%d embeddings for %d inputs", len(got), len(want))
			}
			worst := 0.0
			for i := range want {
				d := maxDiff(got[i].Vector, want[i].Vector)
				if d > 1e-5 || got[i].Tokens != want[i].Tokens {
					t.Errorf("input %d (%q): differs from alone by %g, %d tokens vs %d", i, inputs[i].Text, d, got[i].Tokens, want[i].Tokens)
				}
				worst = max(worst, d)
			}
			t.Logf("largest difference from alone: %g", worst)
		})
	}
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// An invalid input fails the whole call before any input takes a slot,
// and leaves the model as it was.
func TestEmbedInvalidInputFailsTheCall(t *testing.T) {
	m := loadDemo(t, 2)
	ctx := context.Background()
	inputs := bertTexts(8)
	inputs[5] = engine.EmbedInput{Tokens: []int{1, 1 << 30}}
	before := m.live.steps.Load()
	_, err := m.Embed(ctx, inputs)
	var inv *engine.InvalidError
	if !errors.As(err, &inv) || inv.Param != "input[5]" {
		t.Fatalf("err = %v, want an invalid input[5]", err)
	}
	if steps := m.live.steps.Load() - before; steps != 0 {
		t.Errorf("the failed call ran %d decode steps", steps)
	}
	if len(m.tickets) != 0 {
		t.Errorf("%d tickets still held", len(m.tickets))
	}
	inputs[5] = engine.EmbedInput{Text: "the dog"}
	if got, err := m.Embed(ctx, inputs); err != nil || len(got) != len(inputs) {
		t.Errorf("the call after: %d embeddings, %v", len(got), err)
	}
}

// Cancelling a call mid-way returns at once with the context's error; the
// loop frees the slots its inputs held, and the next call gets them all.
func TestEmbedCancelledFreesSlots(t *testing.T) {
	const parallel = 2
	m := loadDemo(t, parallel)
	long := strings.Repeat("the cat sat on the mat and the dog ran. ", 20)
	inputs := make([]engine.EmbedInput, engine.MaxEmbedInputs)
	for i := range inputs {
		inputs[i] = engine.EmbedInput{Text: fmt.Sprintf("%d %s", i, long)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.Embed(ctx, inputs)
		done <- err
	}()
	waitFor(t, "a decode step", func() bool { return m.live.steps.Load() > 0 })
	cancel()
	cancelled := time.Now()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	if took := time.Since(cancelled); took > time.Second {
		t.Errorf("the cancelled call took %v to return", took)
	}
	if len(m.tickets) != 0 {
		t.Errorf("%d tickets still held", len(m.tickets))
	}
	waitFor(t, "the slots to free", func() bool { return m.Stats().Busy == 0 })

	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got, err := m.Embed(ctx, inputs[:2*parallel]); err != nil || len(got) != 2*parallel {
		t.Errorf("the call after: %d embeddings, %v", len(got), err)
	}
}

// Closing the model mid-call fails the call with ErrClosed, whether an
// input was in the loop or still waiting for a slot.
func TestEmbedClosedMidCall(t *testing.T) {
	m := loadDemo(t, 2)
	inputs := make([]engine.EmbedInput, engine.MaxEmbedInputs)
	for i := range inputs {
		inputs[i] = engine.EmbedInput{Text: fmt.Sprintf("%d %s", i, strings.Repeat("the cat sat on the mat. ", 20))}
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.Embed(context.Background(), inputs)
		done <- err
	}()
	waitFor(t, "a decode step", func() bool { return m.live.steps.Load() > 0 })
	m.Close()
	if err := <-done; !errors.Is(err, engine.ErrClosed) {
		t.Errorf("call on a closing model: %v, want ErrClosed", err)
	}
}

// waitFor polls cond for up to 10 s: the decode loop changes state at its
// own pace.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Prompts get the batch budget in arrival order, not slot order: a low slot
// refilled step after step (one caller's embedding inputs) must not keep
// an older prompt in a higher slot waiting.
func TestEmbedPromptsFillOldestFirst(t *testing.T) {
	l := &decodeLoop{slots: []*slot{
		{seq: 0, arrival: 7, pending: []int{1}},
		nil,
		{seq: 2, arrival: 3, pending: []int{1}},
		{seq: 3, arrival: 1}, // generating: no prompt left
		{seq: 4, arrival: 5, pending: []int{1}},
	}}
	var got []int
	for _, s := range l.waitingPrompts() {
		got = append(got, s.seq)
	}
	if !slices.Equal(got, []int{2, 4, 0}) {
		t.Errorf("prompt order %v, want [2 4 0]", got)
	}
}

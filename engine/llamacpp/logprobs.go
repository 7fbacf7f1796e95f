package llamacpp

import (
	"cmp"
	"math"
	"slices"

	"github.com/ollama/ollama/llama"

	"github.com/warden-llm/warden/engine"
)

// logprobOf computes the chosen token's log probability from a position's
// logits, and the top most likely tokens there: a log-softmax over the
// whole vocabulary, as the model itself scores it.
func logprobOf(model *llama.Model, logits []float32, chosen, top int) engine.TokenLogprob {
	logZ := logSumExp(logits)
	lp := engine.TokenLogprob{Logprob: logits[chosen] - logZ}
	if top == 0 {
		return lp
	}
	for _, id := range topK(logits, top) {
		lp.Top = append(lp.Top, engine.TokenLogprob{Token: model.TokenToPiece(id), Logprob: logits[id] - logZ})
	}
	return lp
}

// logSumExp is log Σ exp(x), computed around the maximum so that no term
// overflows.
func logSumExp(xs []float32) float32 {
	hi := float32(math.Inf(-1))
	for _, x := range xs {
		hi = max(hi, x)
	}
	var sum float64
	for _, x := range xs {
		sum += math.Exp(float64(x - hi))
	}
	return hi + float32(math.Log(sum))
}

// topK returns the indices of the k largest values, largest first; ties go
// to the lower index. One pass with a small sorted list: k is at most 20.
func topK(xs []float32, k int) []int {
	k = min(k, len(xs))
	best := make([]int, 0, k+1)
	for i, x := range xs {
		if len(best) == k && x <= xs[best[k-1]] {
			continue
		}
		at, _ := slices.BinarySearchFunc(best, x, func(j int, x float32) int {
			return cmp.Compare(x, xs[j]) // descending; equal values keep arrival order
		})
		for at < len(best) && xs[best[at]] == x {
			at++
		}
		best = slices.Insert(best, at, i)
		if len(best) > k {
			best = best[:k]
		}
	}
	return best
}

// logprobTrail hands each token's log probability to the client with the
// text that completes it. The text stream holds back partial characters
// and possible stop strings, so a token's text may reach the client one or
// more steps after the token.
type logprobTrail struct {
	report  func([]engine.TokenLogprob)
	pending []engine.TokenLogprob
	starts  []int // byte offset of each pending token's text in the raw output
	raw     int   // bytes of raw output so far
	emitted int   // bytes of text released so far
}

func (t *logprobTrail) add(lp engine.TokenLogprob, piece string) {
	lp.Token = piece
	t.pending = append(t.pending, lp)
	t.starts = append(t.starts, t.raw)
	t.raw += len(piece)
}

// release notes n more bytes of text going out and reports the tokens
// that text completes. With final, the text is the last there will be, and
// every token it reaches at all is reported.
func (t *logprobTrail) release(n int, final bool) {
	t.emitted += n
	done := 0
	for i, lp := range t.pending {
		end := t.starts[i] + len(lp.Token)
		if end > t.emitted && !(final && t.starts[i] < t.emitted) {
			break
		}
		done++
	}
	if done == 0 {
		return
	}
	t.report(slices.Clone(t.pending[:done]))
	t.pending, t.starts = t.pending[done:], t.starts[done:]
}

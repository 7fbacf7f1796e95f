package guard

import "strings"

// maxPhrase bounds the length of a phrase match, in normalised bytes,
// either side of its trigger. Rules run only on windows this wide around
// each trigger, not on the whole text: a 4 KiB prompt that mentions
// "rules" and "system" twice costs four small windows, not four scans.
const maxPhrase = 160

// maxMatch bounds an anchored match: no phrasing the rules describe is
// longer, and the bound keeps each attempt cheap.
const maxMatch = 2 * maxPhrase

// matchPhrases adds a hit for each rule that matches normalised text.
func (d *Detector) matchPhrases(norm, prefix string, h *hits) {
	present, starts := d.scanWords(norm)
	meta := -1 // unknown until a quoted match needs it
	var wins [][2]int
	for i := range d.rules {
		r := &d.rules[i]
		if !present[i] {
			continue
		}
		var locs [][]int
		if r.starts != nil {
			locs = r.matchAt(norm, starts[i])
		} else {
			wins = triggerWindows(norm, r.triggers, wins[:0])
			for _, w := range wins {
				for _, loc := range r.re.FindAllStringIndex(norm[w[0]:w[1]], 4) {
					locs = append(locs, []int{w[0] + loc[0], w[0] + loc[1]})
				}
			}
		}
		if locs == nil {
			continue
		}
		wt := r.weight
		if allQuoted(norm, locs) {
			if meta < 0 {
				meta = boolInt(containsAny(norm, metaCues))
			}
			if meta == 1 {
				wt *= quotedDiscount
			}
		}
		h.add(prefix+r.name, r.lang, wt)
	}
}

// scanWords makes one pass over the words of norm and reports, per rule,
// whether one of its triggers starts a word, and where (the space before
// the word) one of its start literals does.
func (d *Detector) scanWords(norm string) (present []bool, starts [][]int) {
	present = make([]bool, len(d.rules))
	starts = make([][]int, len(d.rules))
	for i := 0; i+1 < len(norm); i++ {
		if norm[i] != ' ' {
			continue
		}
		w := norm[i+1:]
		for k := 1; k <= 2 && k <= len(w); k++ {
			for _, p := range d.probes[w[:k]] {
				if !strings.HasPrefix(w, p.lit) {
					continue
				}
				if p.trigger {
					present[p.rule] = true
				} else if n := len(starts[p.rule]); n == 0 || starts[p.rule][n-1] != i {
					starts[p.rule] = append(starts[p.rule], i)
				}
			}
		}
	}
	return present, starts
}

// matchAt tries the anchored rule at each of the given places in norm
// (each the space before a word) and returns up to 4 matches.
func (r *rule) matchAt(norm string, at []int) [][]int {
	var locs [][]int
	for _, i := range at {
		if loc := r.anchored.FindStringIndex(norm[i:min(len(norm), i+maxMatch)]); loc != nil {
			if locs = append(locs, []int{i, i + loc[1]}); len(locs) == 4 {
				break
			}
		}
	}
	return locs
}

// triggerWindows appends to wins the merged windows of norm, maxPhrase
// bytes either side of each word that starts with a trigger, widened to
// the spaces that bound words. Triggers are matched at the start of a
// word (" " + trigger), so "dan" is not found in "guidance".
func triggerWindows(norm string, triggers []string, wins [][2]int) [][2]int {
	for _, t := range triggers {
		for off := 0; ; {
			i := strings.Index(norm[off:], t)
			if i < 0 {
				break
			}
			i += off
			off = i + len(t)
			lo, hi := max(0, i-maxPhrase), min(len(norm), off+maxPhrase)
			for lo > 0 && norm[lo] != ' ' {
				lo--
			}
			for hi < len(norm) && norm[hi-1] != ' ' {
				hi++
			}
			wins = mergeWindow(wins, lo, hi)
		}
	}
	return wins
}

// mergeWindow adds [lo, hi) to wins, joining it with any window it
// overlaps. Windows stay few, so a linear pass is enough.
func mergeWindow(wins [][2]int, lo, hi int) [][2]int {
	for i := range wins {
		if lo <= wins[i][1] && hi >= wins[i][0] {
			wins[i][0], wins[i][1] = min(wins[i][0], lo), max(wins[i][1], hi)
			return wins
		}
	}
	return append(wins, [2]int{lo, hi})
}

// allQuoted reports whether every match lies inside quotation marks: an
// odd number of quote marks before it and one after it.
func allQuoted(norm string, locs [][]int) bool {
	for _, loc := range locs {
		before := strings.Count(norm[:loc[0]], string(quoteMark))
		if before%2 == 0 || !strings.Contains(norm[loc[1]-1:], string(quoteMark)) {
			return false
		}
	}
	return true
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

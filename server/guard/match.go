package guard

// matcher finds any of a set of byte strings in a stream, ASCII case
// folded, with Aho-Corasick: each byte costs amortised O(1) whatever the
// number of patterns, and the automaton's state says how long the
// stream's longest suffix is that could still grow into a match, which is
// exactly what has to be held back.
type matcher struct {
	nodes []acNode
	lens  []int // pattern lengths, by pattern index
}

type acNode struct {
	edges []acEdge // few per node: a linear scan beats a table
	fail  int32
	depth int32
	hit   int32 // index of a pattern ending here or on the fail chain; -1 if none
}

type acEdge struct {
	c  byte
	to int32
}

// foldByte lower-cases ASCII letters only: secrets and canaries are
// compared byte for byte, so offsets in the folded stream are offsets in
// the raw one.
func foldByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// newMatcher builds the automaton; empty patterns are kept (so indexes
// stay the caller's) but never match.
func newMatcher(patterns []string) *matcher {
	m := &matcher{nodes: []acNode{{hit: -1}}, lens: make([]int, len(patterns))}
	for i, p := range patterns {
		m.lens[i] = len(p)
		if p == "" {
			continue
		}
		s := int32(0)
		for j := 0; j < len(p); j++ {
			c := foldByte(p[j])
			next := m.edge(s, c)
			if next < 0 {
				next = int32(len(m.nodes))
				m.nodes = append(m.nodes, acNode{depth: m.nodes[s].depth + 1, hit: -1})
				m.nodes[s].edges = append(m.nodes[s].edges, acEdge{c, next})
			}
			s = next
		}
		if m.nodes[s].hit < 0 {
			m.nodes[s].hit = int32(i)
		}
	}
	m.link()
	return m
}

// link sets the failure links breadth first, and lets each node inherit a
// hit from its fail chain (a shorter pattern ending at the same byte).
func (m *matcher) link() {
	queue := make([]int32, 0, len(m.nodes))
	for _, e := range m.nodes[0].edges {
		queue = append(queue, e.to)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range m.nodes[s].edges {
			f := m.nodes[s].fail
			for f != 0 && m.edge(f, e.c) < 0 {
				f = m.nodes[f].fail
			}
			if t := m.edge(f, e.c); t >= 0 && t != e.to {
				m.nodes[e.to].fail = t
			}
			if m.nodes[e.to].hit < 0 {
				m.nodes[e.to].hit = m.nodes[m.nodes[e.to].fail].hit
			}
			queue = append(queue, e.to)
		}
	}
}

func (m *matcher) edge(s int32, c byte) int32 {
	for _, e := range m.nodes[s].edges {
		if e.c == c {
			return e.to
		}
	}
	return -1
}

// step feeds one byte; it returns the new state.
func (m *matcher) step(s int32, c byte) int32 {
	c = foldByte(c)
	for {
		if t := m.edge(s, c); t >= 0 {
			return t
		}
		if s == 0 {
			return 0
		}
		s = m.nodes[s].fail
	}
}

// depth is how many of the last bytes fed may still begin a match.
func (m *matcher) depth(s int32) int { return int(m.nodes[s].depth) }

// hit is the pattern that ends at state s, or -1.
func (m *matcher) hit(s int32) int { return int(m.nodes[s].hit) }

package fit

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"24GiB", 24 * GiB},
		{"24 GiB", 24 * GiB},
		{"24G", 24 * GiB},
		{"24gb", 24_000_000_000},
		{"1.5GiB", 3 * GiB / 2},
		{"512MiB", 512 * MiB},
		{"80M", 80 * MiB},
		{"2TB", 2_000_000_000_000},
		{"1048576", MiB},
		{"7B", 7},
	} {
		got, err := ParseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1GiB", "24 parsecs", "1e400GB", "24GiB extra"} {
		if n, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, n)
		}
	}
}

func TestParseMargin(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Margin
	}{
		{"10%", Margin{Fraction: 0.1}},
		{" 0.5 % ", Margin{Fraction: 0.005}},
		{"512MiB", Margin{Bytes: 512 * MiB}},
		{"0", Margin{}},
	} {
		got, err := ParseMargin(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseMargin(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"100%", "-5%", "x%", "lots"} {
		if m, err := ParseMargin(bad); err == nil {
			t.Errorf("ParseMargin(%q) = %+v, want an error", bad, m)
		}
	}
	if got := (Margin{Fraction: 0.1}).of(10 * GiB); got != GiB {
		t.Errorf("10%% of 10 GiB = %d", got)
	}
	if got := (Margin{Bytes: MiB}).of(10 * GiB); got != MiB {
		t.Errorf("1 MiB margin of 10 GiB = %d", got)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 590 * MiB: "590.0 MiB", 3 * GiB / 2: "1.50 GiB",
	} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseCacheType(t *testing.T) {
	for in, want := range map[string]CacheType{"": CacheF16, "F16": CacheF16, "q8_0": CacheQ8_0, " Q4_0 ": CacheQ4_0} {
		if got, err := ParseCacheType(in); err != nil || got != want {
			t.Errorf("ParseCacheType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseCacheType("q5_1"); err == nil {
		t.Error("q5_1 accepted; the bindings would silently use f16")
	}
}

// TestCacheTypesAreTheOneList: every CacheTypes entry parses to itself
// and passes Check, the refusal names them all, and Check refuses what
// only parsing may normalize.
func TestCacheTypesAreTheOneList(t *testing.T) {
	_, refusal := ParseCacheType("q5_1")
	for _, c := range CacheTypes() {
		if got, err := ParseCacheType(string(c)); err != nil || got != c {
			t.Errorf("ParseCacheType(%q) = %q, %v", c, got, err)
		}
		if err := c.Check(); err != nil {
			t.Errorf("%q.Check() = %v", c, err)
		}
		if refusal == nil || !strings.Contains(refusal.Error(), string(c)) {
			t.Errorf("refusal %v does not offer %q", refusal, c)
		}
	}
	if refusal == nil || !strings.Contains(refusal.Error(), "want f16, q8_0 or q4_0") {
		t.Errorf("refusal %v, want the message it always gave", refusal)
	}
	for _, c := range []CacheType{"", "Q8_0", " f16", "q5_1"} {
		if err := c.Check(); err == nil {
			t.Errorf("%q.Check() accepted it", c)
		}
	}
}

// The first five are cell counts llama.cpp printed (llama_kv_cache: "N
// cells, M/M seqs") when loading with these contexts; the rest follow the
// same rule in llama_context's constructor.
func TestCacheCellsMatchLlamaCpp(t *testing.T) {
	for _, c := range []struct{ ctx, parallel, perSeq int }{
		{512, 1, 512}, {512, 2, 512}, {512, 4, 512}, {2048, 1, 2048}, {1024, 1, 1024},
		{100, 3, 256}, {1000, 3, 1024}, {300, 1, 512},
	} {
		if got := cacheCells(c.ctx, c.parallel); got != c.perSeq {
			t.Errorf("cacheCells(%d, %d) = %d, want %d", c.ctx, c.parallel, got, c.perSeq)
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	const sample = `MemTotal:       24568312 kB
MemFree:        23011148 kB
MemAvailable:   23781480 kB
Buffers:            2340 kB
`
	total, avail, err := parseMeminfo(strings.NewReader(sample))
	if err != nil || total != 24568312*KiB || avail != 23781480*KiB {
		t.Errorf("parseMeminfo = %d, %d, %v", total, avail, err)
	}
	if _, _, err := parseMeminfo(strings.NewReader("MemTotal: 1 kB\n")); err == nil {
		t.Error("no error without MemAvailable")
	}
	if _, _, err := parseMeminfo(strings.NewReader("MemTotal: lots kB\nMemAvailable: 1 kB\n")); err == nil {
		t.Error("no error for a malformed number")
	}
}

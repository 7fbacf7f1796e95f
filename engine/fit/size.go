package fit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Binary size units.
const (
	KiB uint64 = 1 << 10
	MiB uint64 = 1 << 20
	GiB uint64 = 1 << 30
)

// FormatBytes renders n in the largest binary unit that keeps it at least 1,
// e.g. "3.56 GiB" or "512.0 MiB".
func FormatBytes(n uint64) string {
	switch {
	case n >= GiB:
		return fmt.Sprintf("%.2f GiB", float64(n)/float64(GiB))
	case n >= MiB:
		return fmt.Sprintf("%.1f MiB", float64(n)/float64(MiB))
	case n >= KiB:
		return fmt.Sprintf("%.1f KiB", float64(n)/float64(KiB))
	}
	return fmt.Sprintf("%d B", n)
}

// ParseSize reads a byte count such as "24GiB", "24 GB", "512MiB", "1.5G"
// or "1048576". Binary suffixes (KiB, MiB, GiB, TiB, and the bare K, M, G,
// T that GPU vendors use) count in powers of 1024; KB, MB, GB and TB in
// powers of 1000, as on disk labels.
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("size %q: want a number with an optional unit such as GiB or GB", s)
	}
	mult, ok := sizeUnit(unit)
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, unit)
	}
	bytes := v * mult
	if bytes >= math.MaxUint64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(bytes), nil
}

func sizeUnit(unit string) (float64, bool) {
	switch strings.ToUpper(unit) {
	case "", "B":
		return 1, true
	case "K", "KIB":
		return 1 << 10, true
	case "M", "MIB":
		return 1 << 20, true
	case "G", "GIB":
		return 1 << 30, true
	case "T", "TIB":
		return 1 << 40, true
	case "KB":
		return 1e3, true
	case "MB":
		return 1e6, true
	case "GB":
		return 1e9, true
	case "TB":
		return 1e12, true
	}
	return 0, false
}

// Margin is the memory a plan leaves unused on every device: a fraction of
// the device's total memory, or a fixed number of bytes.
type Margin struct {
	Fraction float64 // 0.05 keeps 5 % of each device free
	Bytes    uint64  // used when Fraction is 0
}

// DefaultMargin keeps 5 % of every device free, for allocations neither
// Warden nor llama.cpp accounts for (driver growth, fragmentation, other
// processes starting).
func DefaultMargin() Margin { return Margin{Fraction: 0.05} }

// ParseMargin reads "10%" as a fraction of each device's memory and
// anything else as a size ("512MiB").
func ParseMargin(s string) (Margin, error) {
	if pct, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil || v < 0 || v >= 100 {
			return Margin{}, fmt.Errorf("margin %q: want a percentage from 0 to below 100", s)
		}
		return Margin{Fraction: v / 100}, nil
	}
	n, err := ParseSize(s)
	if err != nil {
		return Margin{}, fmt.Errorf("margin: %w", err)
	}
	return Margin{Bytes: n}, nil
}

// of returns the bytes the margin keeps free on a device of total bytes.
func (m Margin) of(total uint64) uint64 {
	if m.Fraction > 0 {
		return uint64(m.Fraction * float64(total))
	}
	return m.Bytes
}

func (m Margin) String() string {
	if m.Fraction > 0 {
		return strconv.FormatFloat(m.Fraction*100, 'f', -1, 64) + "%"
	}
	return FormatBytes(m.Bytes)
}

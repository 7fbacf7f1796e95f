package cpuvariant

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// cpuinfoNames maps ggml's feature names to the flags Linux lists in
// /proc/cpuinfo that they need, all of them. Linux clears a flag whose
// register state the kernel does not save (AVX-512 under a kernel or
// hypervisor without ZMM state, AMX without XTILEDATA), so the flags say what
// runs, not only what the silicon has.
var cpuinfoNames = map[string]map[string][]string{
	"amd64": {
		"AVX":         {"avx"},
		"AVX2":        {"avx2"},
		"F16C":        {"f16c"},
		"FMA":         {"fma"},
		"BMI2":        {"bmi2"},
		"AVX_VNNI":    {"avx_vnni"},
		"AVX512":      {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"},
		"AVX512_VBMI": {"avx512vbmi"},
		"AVX512_VNNI": {"avx512_vnni"},
		"AVX512_BF16": {"avx512_bf16"},
		"AMX_INT8":    {"amx_tile", "amx_int8"},
	},
	"arm64": {
		"DOTPROD":     {"asimddp"},
		"FP16_VA":     {"asimdhp"},
		"SVE":         {"sve"},
		"SVE2":        {"sve2"},
		"MATMUL_INT8": {"i8mm"},
		"SME":         {"sme"},
	},
}

// ParseCPUInfo reads /proc/cpuinfo's text and returns the features of its
// first processor ("flags" on x86, "Features" on arm64), named as ggml names
// them.
func ParseCPUInfo(r io.Reader, goarch string) (Features, error) {
	key := "flags"
	if goarch == "arm64" {
		key = "Features"
	}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		if !ok || strings.TrimSpace(name) != key {
			continue
		}
		flags := Of(strings.Fields(value)...)
		f := Features{}
		for feature, need := range cpuinfoNames[goarch] {
			if len(flags.Lacks(need)) == 0 {
				f[feature] = true
			}
		}
		return f, nil
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no %q line", key)
}

// Detect returns the features of the running CPU that its operating system
// supports. On Linux it reads /proc/cpuinfo; on amd64 it also asks CPUID
// through golang.org/x/sys/cpu (which checks the OS saves the AVX and
// AVX-512 registers) and keeps only what both report. Elsewhere it returns
// no features: the variant libraries are built for Linux only.
func Detect() (Features, error) {
	if runtime.GOOS != "linux" {
		return Features{}, nil
	}
	file, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return nil, fmt.Errorf("detect CPU features: %w", err)
	}
	defer file.Close()
	f, err := ParseCPUInfo(file, runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("detect CPU features: /proc/cpuinfo: %w", err)
	}
	if runtime.GOARCH == "amd64" {
		f = f.intersect(cpuidFeatures())
	}
	return f, nil
}

// cpuidFeatures is what x/sys/cpu reports, for the features it knows; F16C,
// which it does not, is taken as given (every CPU with AVX2 has it).
func cpuidFeatures() Features {
	x := cpu.X86
	return Features{
		"AVX":         x.HasAVX,
		"AVX2":        x.HasAVX2,
		"F16C":        x.HasAVX2,
		"FMA":         x.HasFMA,
		"BMI2":        x.HasBMI2,
		"AVX_VNNI":    x.HasAVXVNNI,
		"AVX512":      x.HasAVX512F && x.HasAVX512CD && x.HasAVX512VL && x.HasAVX512DQ && x.HasAVX512BW,
		"AVX512_VBMI": x.HasAVX512VBMI,
		"AVX512_VNNI": x.HasAVX512VNNI,
		"AVX512_BF16": x.HasAVX512BF16,
		"AMX_INT8":    x.HasAMXTile && x.HasAMXInt8,
	}
}

func (f Features) intersect(g Features) Features {
	out := Features{}
	for n, ok := range f {
		if ok && g[n] {
			out[n] = true
		}
	}
	return out
}

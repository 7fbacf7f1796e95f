package lockfile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/warden-llm/warden/engine/gguf"
)

// Metadata is what a GGUF header says about a model, in the terms of a
// lockfile entry.
type Metadata struct {
	Architecture       string
	Parameters         uint64
	FileType           string
	ContextLength      uint64
	ChatTemplateSHA256 string // NoChatTemplate if the file has none
	License            string // general.license, as the publisher wrote it
}

// Describe reads the entry fields from a parsed GGUF header.
func Describe(f *gguf.File) Metadata {
	m := Metadata{Architecture: f.Architecture(), FileType: fileType(f), ChatTemplateSHA256: NoChatTemplate}
	for _, t := range f.Tensors {
		m.Parameters += t.Elements() // the reader bounds each by the file size
	}
	if m.Architecture != "" {
		m.ContextLength, _ = f.Uint(m.Architecture + ".context_length")
	}
	if tmpl, ok := f.String("tokenizer.chat_template"); ok {
		sum := sha256.Sum256([]byte(tmpl))
		m.ChatTemplateSHA256 = hex.EncodeToString(sum[:])
	}
	m.License, _ = f.String("general.license")
	return m
}

// Fill sets e's header fields from m.
func (e *Entry) Fill(m Metadata) {
	e.Architecture = m.Architecture
	e.Parameters = m.Parameters
	e.FileType = m.FileType
	e.ContextLength = m.ContextLength
	e.ChatTemplateSHA256 = m.ChatTemplateSHA256
}

// CheckMetadata compares each header field e records with the file's, and
// names every one that differs. The SHA-256 already pins the bytes, so a
// difference means the entry was written for another file.
func (e Entry) CheckMetadata(m Metadata) error {
	var diffs []string
	differ := func(key string, set bool, file, lock any) {
		if set && file != lock {
			diffs = append(diffs, fmt.Sprintf("%s is %v in the file, %v in the lockfile", key, file, lock))
		}
	}
	differ("architecture", e.Architecture != "", m.Architecture, e.Architecture)
	differ("parameters", e.Parameters != 0, m.Parameters, e.Parameters)
	differ("file_type", e.FileType != "", m.FileType, e.FileType)
	differ("context_length", e.ContextLength != 0, m.ContextLength, e.ContextLength)
	differ("chat_template_sha256", e.ChatTemplateSHA256 != "", m.ChatTemplateSHA256, e.ChatTemplateSHA256)
	if len(diffs) > 0 {
		return fmt.Errorf("model %q: the file's header contradicts its lockfile entry: %s", e.Name, strings.Join(diffs, "; "))
	}
	return nil
}

// fileType names the weight encoding: general.file_type (llama.cpp's
// llama_ftype) when present, else the type holding most of the bytes.
func fileType(f *gguf.File) string {
	if n, ok := f.Uint("general.file_type"); ok {
		if name := ftypeName(n); name != "" {
			return name
		}
		return fmt.Sprintf("ftype %d", n)
	}
	if len(f.Tensors) == 0 {
		return ""
	}
	bytes := map[gguf.GGMLType]uint64{}
	for _, t := range f.Tensors {
		bytes[t.Type] += t.Size
	}
	top := f.Tensors[0].Type
	for t, n := range bytes {
		if n > bytes[top] || n == bytes[top] && t < top { // ties: lowest type number, for a stable answer
			top = t
		}
	}
	return top.String()
}

// ftypeName maps llama.cpp's llama_ftype numbers to the names its
// quantize tool uses. Retired numbers (4–6, 33–35) have no name.
func ftypeName(n uint64) string {
	switch n {
	case 0:
		return "F32"
	case 1:
		return "F16"
	case 2:
		return "Q4_0"
	case 3:
		return "Q4_1"
	case 7:
		return "Q8_0"
	case 8:
		return "Q5_0"
	case 9:
		return "Q5_1"
	case 10:
		return "Q2_K"
	case 11:
		return "Q3_K_S"
	case 12:
		return "Q3_K_M"
	case 13:
		return "Q3_K_L"
	case 14:
		return "Q4_K_S"
	case 15:
		return "Q4_K_M"
	case 16:
		return "Q5_K_S"
	case 17:
		return "Q5_K_M"
	case 18:
		return "Q6_K"
	case 19:
		return "IQ2_XXS"
	case 20:
		return "IQ2_XS"
	case 21:
		return "Q2_K_S"
	case 22:
		return "IQ3_XS"
	case 23:
		return "IQ3_XXS"
	case 24:
		return "IQ1_S"
	case 25:
		return "IQ4_NL"
	case 26:
		return "IQ3_S"
	case 27:
		return "IQ3_M"
	case 28:
		return "IQ2_S"
	case 29:
		return "IQ2_M"
	case 30:
		return "IQ4_XS"
	case 31:
		return "IQ1_M"
	case 32:
		return "BF16"
	case 36:
		return "TQ1_0"
	case 37:
		return "TQ2_0"
	case 38:
		return "MXFP4_MOE"
	}
	return ""
}

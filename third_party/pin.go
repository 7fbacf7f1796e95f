//go:build thirdparty_pin

// Package thirdparty pins, through go.sum, the Go modules whose files the
// llama.cpp build needs but which no Go code imports. The build tag keeps it
// out of every real build; `go mod tidy` still sees the import.
package thirdparty

import _ "github.com/gen2brain/malgo" // miniaudio.h for llama.cpp's mtmd helper

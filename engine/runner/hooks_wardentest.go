//go:build wardentest

package runner

/*
#include <stdlib.h>
*/
import "C"

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// hooks, in a test build only, let the end-to-end tests crash the engine
// process and probe its sandbox from inside:
//
//	WARDEN_TEST_ENGINE_ABORT=MARK  a request whose prompt or messages
//	    contain MARK calls abort(3) after its third piece of text, as a
//	    failed GGML_ASSERT would;
//	WARDEN_TEST_ENGINE_PROBE=PATH  at start the engine tries to read PATH,
//	    to open sockets, and to read its parent's environment, and
//	    reports what happened in its ready frame (the parent logs it).
type hooks struct {
	abortOn string
	probe   string
}

func testHooks() hooks {
	return hooks{abortOn: os.Getenv("WARDEN_TEST_ENGINE_ABORT"), probe: os.Getenv("WARDEN_TEST_ENGINE_PROBE")}
}

func (h hooks) afterPiece(msg generateMsg, pieces int) {
	if h.abortOn == "" || pieces != 3 {
		return
	}
	text := msg.Prompt
	for _, m := range msg.Messages {
		text += m.Content
	}
	if strings.Contains(text, h.abortOn) {
		C.abort()
	}
}

func (h hooks) runProbe() map[string]string {
	if h.probe == "" {
		return nil
	}
	out := map[string]string{}
	outcome := func(err error) string {
		if err == nil {
			return "allowed"
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return "refused: " + errno.Error()
		}
		return "refused: " + err.Error()
	}
	_, err := os.ReadFile(h.probe)
	out["read_file"] = outcome(err)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.Close(fd)
	}
	out["socket_inet"] = outcome(err)
	fd, err = syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.Close(fd)
	}
	out["socket_unix"] = outcome(err)
	c, err := net.Dial("tcp", "127.0.0.1:1")
	if err == nil {
		c.Close()
	}
	out["dial_tcp"] = outcome(err)
	_, err = os.ReadFile("/proc/" + strconv.Itoa(os.Getppid()) + "/environ")
	out["read_parent_environ"] = outcome(err)
	return out
}

package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/warden-llm/warden/engine"
)

// Descriptors an engine process inherits, beside stdin, stdout and stderr.
const (
	ModelFD  = 3 // the verified model file
	SocketFD = 4 // its end of the socketpair
)

// helloTimeout bounds the wait for a new engine process's hello, which it
// sends before anything slow.
const helloTimeout = 30 * time.Second

// spawn starts an engine process and loads the model in it.
func (p *Process) spawn(ctx context.Context) (*instance, readyMsg, error) {
	fds, err := socketpair()
	if err != nil {
		return nil, readyMsg{}, fmt.Errorf("engine socketpair: %w", err)
	}
	parentEnd := os.NewFile(uintptr(fds[0]), "engine-socket")
	childEnd := os.NewFile(uintptr(fds[1]), "engine-socket-child")
	nc, err := net.FileConn(parentEnd)
	parentEnd.Close() // FileConn made its own copy
	if err != nil {
		childEnd.Close()
		return nil, readyMsg{}, fmt.Errorf("engine socket: %w", err)
	}
	uc := nc.(*net.UnixConn)

	cmd, netns, err := p.startCommand(childEnd)
	// The engine has its copy: with the parent's closed, its death reads
	// as the end of the socket.
	childEnd.Close()
	if err != nil {
		uc.Close()
		return nil, readyMsg{}, err
	}
	inst := &instance{pid: cmd.Process.Pid, exited: make(chan struct{}), kill: cmd.Process.Kill}
	go func() {
		inst.exitErr = cmd.Wait()
		close(inst.exited)
	}()
	p.mu.Lock()
	p.starts++
	p.mu.Unlock()
	inst.conn = newConn(newWire(uc), p.worked)

	ready, err := p.handshake(ctx, inst, uc)
	if err != nil {
		_ = inst.kill()
		<-inst.exited
		uc.Close()
		if inst.exitErr != nil && !errors.Is(err, errLoad) {
			err = fmt.Errorf("%w (engine process %s)", err, describeExit(inst.exitErr))
		}
		return nil, readyMsg{}, err
	}
	ready.Sandbox = append(ready.Sandbox, netns)
	return inst, ready, nil
}

// errLoad marks a load the engine refused with an error of its own.
var errLoad = errors.New("loading in the engine process")

// handshake checks the engine's hello and has it load the model.
func (p *Process) handshake(ctx context.Context, inst *instance, uc *net.UnixConn) (readyMsg, error) {
	w := inst.conn.w
	_ = uc.SetReadDeadline(time.Now().Add(helloTimeout))
	f, err := w.recv()
	if err != nil {
		return readyMsg{}, fmt.Errorf("engine process for %s sent no hello: %w", p.o.Name, err)
	}
	var hello helloMsg
	if f.kind != kindHello || f.decode(&hello) != nil || hello.Version != protocolVersion {
		return readyMsg{}, fmt.Errorf("engine process for %s speaks another protocol (want version %d); was the executable replaced?", p.o.Name, protocolVersion)
	}
	_ = uc.SetReadDeadline(time.Time{})
	if err := w.send(kindLoad, 0, p.o.Load); err != nil {
		return readyMsg{}, fmt.Errorf("send load: %w", err)
	}
	// Loading takes as long as it takes; ctx, or the process dying, ends it.
	stop := context.AfterFunc(ctx, func() { _ = inst.kill() })
	defer stop()
	f, err = w.recv()
	if err != nil {
		if ctx.Err() != nil {
			return readyMsg{}, ctx.Err()
		}
		<-inst.exited
		return readyMsg{}, fmt.Errorf("engine process for %s died while loading the model", p.o.Name)
	}
	var ready readyMsg
	if f.kind != kindReady {
		return readyMsg{}, fmt.Errorf("engine process for %s answered load with frame %d", p.o.Name, f.kind)
	}
	if err := f.decode(&ready); err != nil {
		return readyMsg{}, err
	}
	if len(ready.Probe) > 0 {
		args := []any{"model", p.o.Name}
		for _, k := range slices.Sorted(maps.Keys(ready.Probe)) {
			args = append(args, k, ready.Probe[k])
		}
		p.o.Log.Info("engine sandbox probe", args...)
	}
	if ready.Err != nil {
		return readyMsg{}, fmt.Errorf("%w: %w", errLoad, ready.Err.err())
	}
	return ready, nil
}

// startCommand starts the engine process with the model on ModelFD and
// the socket on SocketFD, in an empty network namespace when asked and
// permitted. It reports that measure.
func (p *Process) startCommand(sock *os.File) (*exec.Cmd, engine.SandboxMeasure, error) {
	netns := engine.SandboxMeasure{Name: "network_namespace", Detail: "not asked for"}
	build := func(isolate bool) *exec.Cmd {
		cmd := exec.Command(p.o.Command[0], p.o.Command[1:]...)
		cmd.Env = p.o.Env
		cmd.Stdout, cmd.Stderr = p.o.Stderr, p.o.Stderr
		cmd.ExtraFiles = []*os.File{p.o.Model, sock} // fds 3 and 4
		cmd.SysProcAttr = sysProcAttr(isolate)
		return cmd
	}
	if p.o.NetworkNamespace {
		cmd := build(true)
		err := cmd.Start()
		if err == nil {
			netns.InForce, netns.Detail = true, "empty network namespace (and user namespace)"
			return cmd, netns, nil
		}
		netns.Detail = "refused by the kernel: " + err.Error()
	}
	cmd := build(false)
	if err := cmd.Start(); err != nil {
		return nil, netns, fmt.Errorf("start engine process: %w", err)
	}
	return cmd, netns, nil
}

// describeExit says how an engine process ended.
func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

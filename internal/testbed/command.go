package testbed

import (
	"bytes"
	"context"
	"os/exec"
)

// Cmd is an exec.Cmd that starts inside the bed's peer namespace: the
// equivalent of `ip netns exec NAME ...`. Use its Start, Run, Output and
// CombinedOutput; the embedded Cmd's own Start would run in the caller's
// namespace.
type Cmd struct {
	*exec.Cmd
	bed *Bed
}

// Command prepares a command that runs in the peer namespace.
func (b *Bed) Command(ctx context.Context, name string, arg ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, arg...), bed: b}
}

// Start forks the process from a thread that is inside the peer namespace,
// so the child is born there.
func (c *Cmd) Start() error { return c.bed.Do(c.Cmd.Start) }

// Run starts the command in the peer namespace and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output.
func (c *Cmd) Output() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run()
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and error.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.Bytes(), err
}

package testbed

import (
	"bytes"
	"context"
	"os/exec"
)

// Cmd is an exec.Cmd that starts inside a namespace of the bed (the peer's,
// or a segment host's): the equivalent of `ip netns exec NAME ...`. Use its
// Start, Run, Output and CombinedOutput; the embedded Cmd's own Start would
// run in the caller's namespace.
type Cmd struct {
	*exec.Cmd
	do func(func() error) error // Bed.Do or SegmentHost.Do
}

// Command prepares a command that runs in the peer namespace.
func (b *Bed) Command(ctx context.Context, name string, arg ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, arg...), do: b.Do}
}

// Start forks the process from a thread that is inside the command's
// namespace, so the child is born there.
func (c *Cmd) Start() error { return c.do(c.Cmd.Start) }

// Run starts the command in its namespace and waits for it.
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

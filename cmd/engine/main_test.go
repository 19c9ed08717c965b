package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 0, "Usage: engine COMMAND", ""},
		{[]string{"help"}, 0, "version", ""},
		{[]string{"version"}, 0, "engine ", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code {
			t.Errorf("engine %v: exit %d, want %d", tc.args, code, tc.code)
		}
		if !strings.Contains(out.String(), tc.inStdout) {
			t.Errorf("engine %v: stdout %q does not contain %q", tc.args, out.String(), tc.inStdout)
		}
		if !strings.Contains(errb.String(), tc.inStderr) {
			t.Errorf("engine %v: stderr %q does not contain %q", tc.args, errb.String(), tc.inStderr)
		}
	}
}

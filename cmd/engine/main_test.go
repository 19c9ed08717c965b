package main

import (
	"bytes"
	"encoding/json"
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

// TestVersion: the stamped version and revision, as text and JSON, and
// engine --version as engine version.
func TestVersion(t *testing.T) {
	defer func(v, r string) { version, revision = v, r }(version, revision)
	version, revision = "v1.2.3-4-gabcdef1", "abcdef1234"
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "engine v1.2.3-4-gabcdef1 (revision abcdef1234") {
		t.Errorf("engine --version: exit %d, %q", code, out.String())
	}
	out.Reset()
	var v versionInfo
	if code := run([]string{"version", "--json"}, &out, &errb); code != 0 || json.Unmarshal(out.Bytes(), &v) != nil ||
		v.Version != "v1.2.3-4-gabcdef1" || v.Revision != "abcdef1234" || v.GoVersion == "" || v.Platform == "" {
		t.Errorf("engine version --json: exit %d, %+v:\n%s", code, v, out.String())
	}
	if !strings.Contains(out.String(), `"go_version"`) {
		t.Errorf("engine version --json: want snake_case names:\n%s", out.String())
	}
}

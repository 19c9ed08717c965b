package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release the binary was built from, stamped by the
// Makefile with -ldflags "-X main.version=$(git describe --tags --always
// --dirty)". Empty in a plain `go build`, where the module version and the
// VCS settings of debug.ReadBuildInfo stand in.
var version string

// revision is the VCS commit, stamped by the Makefile (-X
// main.revision=$(git rev-parse HEAD)) for builds where Go records none
// (GOFLAGS=-buildvcs=false, a tree copied without .git). Go's own
// vcs.revision wins when both are there.
var revision string

// versionInfo is what `engine version --json` prints and what a running
// engine answers to the "version" control command (as its String).
type versionInfo struct {
	// Version is the stamped version, else the module's ("(devel)" from a
	// work tree).
	Version string `json:"version"`
	// Revision and Time are the VCS commit and its time (vcs.revision,
	// vcs.time) when the binary was built in a git work tree; Modified
	// says the tree had uncommitted changes.
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// readVersion gathers versionInfo from the stamped variable and the build
// information Go embeds.
func readVersion() versionInfo {
	v := versionInfo{Version: version, Revision: revision, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		v.GoVersion = bi.GoVersion
		if v.Version == "" && bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

// String is one line: "v0.4.0-3-gabcdef1 (revision abcdef1..., 2026-12-01T10:00:00Z, modified)".
func (v versionInfo) String() string {
	var extra []string
	if v.Revision != "" {
		extra = append(extra, "revision "+v.Revision)
	}
	if v.Time != "" {
		extra = append(extra, v.Time)
	}
	if v.Modified {
		extra = append(extra, "modified")
	}
	if len(extra) == 0 {
		return v.Version
	}
	return v.Version + " (" + strings.Join(extra, ", ") + ")"
}

// buildVersion is the one-line version and the Go version the binary was
// built with.
func buildVersion() (version, goVersion string) {
	v := readVersion()
	return v.String(), v.GoVersion
}

const versionSynopsis = `
Usage: engine version [--json]
       engine --version

Print the engine's version, the VCS revision and time it was built from and
the Go version. The Makefile stamps the version from git describe; a plain
go build inside a git work tree still records the revision.`

func runVersion(args []string, stdout, _ io.Writer) error {
	fs := flagSet("version", versionSynopsis)
	asJSON := fs.BoolP("json", "j", false, "print the version as JSON (version, revision, time, modified, go_version, platform)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	v := readVersion()
	if *asJSON {
		return writeJSON(stdout, v)
	}
	_, err := fmt.Fprintf(stdout, "engine %s %s %s\n", v, v.GoVersion, v.Platform)
	return err
}

// writeJSON prints v as indented JSON, the form every --json output takes.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine prints v as one line of JSON (a stream of objects, one an
// interval, as `engine stats -w --json` prints them).
func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

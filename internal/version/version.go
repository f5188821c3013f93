// Package version tells which build of the project is running, for
// --version, the start-up log line and the User-Agent of outbound requests.
package version

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Revision is the VCS revision of the build when the Go toolchain could not
// record it: an image build has no .git, so its Dockerfile passes the commit
// with -ldflags "-X .../internal/version.Revision=$GIT_SHA".
var Revision = ""

// Info is what is known of the running build.
type Info struct {
	// Module is the main module's version: a tag such as v1.2.0 when built
	// with `go install module@version`, "(devel)" from a work tree.
	Module string
	// Revision is the VCS commit, shortened to 12 characters; "unknown"
	// when neither the toolchain nor the build arguments gave one.
	Revision string
	// Modified is true when the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

var read = sync.OnceValue(func() Info {
	info := Info{Module: "(devel)", Revision: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		info.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			info.Module = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Revision == "unknown" && Revision != "" {
		info.Revision = Revision
	}
	if len(info.Revision) > 12 {
		info.Revision = info.Revision[:12]
	}
	return info
})

// Get returns the running build's Info.
func Get() Info { return read() }

// String is the one-line form --version prints after the program's name:
// "(devel) rev 0123456789ab+dirty go1.26.8".
func (i Info) String() string {
	dirty := ""
	if i.Modified {
		dirty = "+dirty"
	}
	return fmt.Sprintf("%s rev %s%s %s", i.Module, i.Revision, dirty, i.GoVersion)
}

// Short is the version for a User-Agent: the module version, or the
// revision when the module version is only "(devel)".
func (i Info) Short() string {
	if i.Module != "(devel)" {
		return i.Module
	}
	return i.Revision
}

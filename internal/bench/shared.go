package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Shared is the shared performance harness beside the checkout
// (../shared/perf): gen writes Graph-shaped Entra records, floor is the
// bare JSON enrichment loop privtrail is measured against. `ratio` there
// is the same measurement as a shell script; Shared lets `privtrail bench`
// run it as part of one table.
type Shared struct {
	Dir string // holds gen/ and floor/
	// Gen and Floor are the built programs.
	Gen, Floor string
}

// OpenShared builds gen and floor from dir into work; false when dir is
// not the harness.
func OpenShared(ctx context.Context, dir, work string) (*Shared, bool, error) {
	for _, p := range []string{"gen", "floor"} {
		if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || !fi.IsDir() {
			return nil, false, nil
		}
	}
	s := &Shared{Dir: dir, Gen: filepath.Join(work, "gen"), Floor: filepath.Join(work, "floor")}
	for _, p := range [][2]string{{s.Gen, "./gen"}, {s.Floor, "./floor"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", p[0], p[1])
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, true, fmt.Errorf("build %s in %s: %w\n%s", p[1], dir, err, out)
		}
	}
	return s, true, nil
}

// Generate writes n records whose role grants go to admins users to path,
// unless a previous run left it there.
func (s *Shared) Generate(ctx context.Context, path string, n, admins int) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return nil
	}
	tmp := path + ".tmp"
	if _, err := Process(ctx, "", tmp, s.Gen, "-n", fmt.Sprint(n), "-admins", fmt.Sprint(admins)); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// SharedRoleMap is the role map the harness's ratio script writes: users
// u0..u49 Global Administrators, active and direct; the audit records'
// role grants make the rest of the admin population privileged.
func SharedRoleMap() []byte {
	var b strings.Builder
	b.WriteString("users:\n")
	for i := range 50 {
		fmt.Fprintf(&b, "  - id: \"00000000-0000-0000-0000-%012d\"\n    upn: u%d@contoso.com\n    roles: [{name: Global Administrator, assignment: active, via: direct}]\n", i, i)
	}
	return []byte(b.String())
}

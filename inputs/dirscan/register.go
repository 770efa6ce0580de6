package dirscan

import (
	"errors"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/inputs"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/plugin"
)

// Like the graph input, it reads with the top-level graph block's
// permissions, which privtrail check probes.
func init() {
	inputs.Register(plugin.New("dirscan", func(name string, c *Config, env inputs.Env) (batch.Input, error) {
		if env.Privilege == nil {
			return nil, errors.New("dirscan needs context.privilege: it scans the role map's privileged users")
		}
		opts := []Option{WithStore(env.Store)}
		if env.Graph != nil {
			opts = append(opts, WithClient(env.Graph))
		}
		return New(name, *c, env.Log, roleMap{env.Privilege, env.LastSeen}, opts...)
	}, nil))
}

// UseGraph takes the top-level graph block when the input has none.
func (c *Config) UseGraph(shared *graphapi.Config) bool { return graphapi.Share(&c.Graph, shared) }

// Requires names the context stage the scan reads its principals from.
func (c *Config) Requires() []string { return []string{"privilege"} }

// roleMap gives the scan the privileged principals of the role map in use
// (file, Graph or saved state), read at each scan, with the last
// successful sign-in the agent saw of each.
type roleMap struct {
	st       *privilege.Stage
	lastSeen func(id, upn string) time.Time
}

func (r roleMap) Privileged() []Principal {
	var out []Principal
	for _, e := range r.st.Map().Entries() {
		if e.Privileged {
			p := Principal{ID: e.ID, UPN: e.UPN, DisplayName: e.DisplayName, Roles: e.Roles, Emergency: e.Emergency}
			if r.lastSeen != nil {
				p.LastSeen = r.lastSeen(e.ID, e.UPN)
			}
			out = append(out, p)
		}
	}
	return out
}

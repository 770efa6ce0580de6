package sigma

import (
	"path"
	"slices"
	"strings"

	"github.com/privtrail/privtrail/entra"
)

// matcher is a compiled condition or selection.
type matcher func(r *entra.Record, d *Doc) bool

// condParser compiles a condition over compiled selections. The grammar
// is the specification's: or < and < not, parentheses, "1 of X", "all of
// X" with X a selection name, a name with * wildcards, or them
// (every selection not starting with an underscore).
type condParser struct {
	toks  []string
	pos   int
	sels  map[string]matcher
	names []string // in file order
	at    *node    // for errors
	used  map[string]bool
}

func tokenize(s string) []string {
	var toks []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')', '|':
			flush()
			toks = append(toks, string(r))
		case ' ', '\t', '\n', '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

func compileCondition(at *node, cond string, sels map[string]matcher, names []string) (matcher, map[string]bool, error) {
	p := &condParser{toks: tokenize(cond), sels: sels, names: names, at: at, used: map[string]bool{}}
	if slices.Contains(p.toks, "|") {
		return nil, nil, errAt(at, "condition %q: aggregations (| count() …) are Sigma 1 syntax; write a correlation rule", cond)
	}
	if len(p.toks) == 0 {
		return nil, nil, errAt(at, "condition is empty")
	}
	m, err := p.or()
	if err != nil {
		return nil, nil, err
	}
	if p.pos < len(p.toks) {
		return nil, nil, errAt(at, "condition %q: unexpected %q", cond, p.toks[p.pos])
	}
	return m, p.used, nil
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *condParser) or() (matcher, error) {
	var parts []matcher
	for {
		m, err := p.and()
		if err != nil {
			return nil, err
		}
		parts = append(parts, m)
		if !strings.EqualFold(p.peek(), "or") {
			break
		}
		p.next()
	}
	return anyMatch(parts), nil
}

func (p *condParser) and() (matcher, error) {
	var parts []matcher
	for {
		m, err := p.not()
		if err != nil {
			return nil, err
		}
		parts = append(parts, m)
		if !strings.EqualFold(p.peek(), "and") {
			break
		}
		p.next()
	}
	return allMatch(parts), nil
}

func (p *condParser) not() (matcher, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.next()
		m, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(r *entra.Record, d *Doc) bool { return !m(r, d) }, nil
	}
	return p.primary()
}

func (p *condParser) primary() (matcher, error) {
	t := p.next()
	switch {
	case t == "":
		return nil, errAt(p.at, "condition ends too early")
	case t == "(":
		m, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, errAt(p.at, "condition: missing )")
		}
		return m, nil
	case t == ")":
		return nil, errAt(p.at, "condition: unexpected )")
	case strings.EqualFold(p.peek(), "of"):
		p.next()
		target := p.next()
		if target == "" {
			return nil, errAt(p.at, "condition: %s of what?", t)
		}
		var ms []matcher
		for _, n := range p.names {
			var ok bool
			if strings.EqualFold(target, "them") {
				ok = !strings.HasPrefix(n, "_")
			} else {
				ok, _ = path.Match(target, n)
			}
			if ok {
				ms = append(ms, p.sels[n])
				p.used[n] = true
			}
		}
		if len(ms) == 0 {
			return nil, errAt(p.at, "condition: %s of %s: no selection matches %q", t, target, target)
		}
		switch {
		case t == "1" || strings.EqualFold(t, "any"):
			return anyMatch(ms), nil
		case strings.EqualFold(t, "all"):
			return allMatch(ms), nil
		}
		return nil, errAt(p.at, "condition: %q of: only \"1 of\" and \"all of\" are Sigma", t)
	case strings.EqualFold(t, "and"), strings.EqualFold(t, "or"), strings.EqualFold(t, "not"):
		return nil, errAt(p.at, "condition: unexpected %q", t)
	}
	m, ok := p.sels[t]
	if !ok {
		return nil, errAt(p.at, "condition: no selection named %q", t)
	}
	p.used[t] = true
	return m, nil
}

func anyMatch(ms []matcher) matcher {
	switch len(ms) {
	case 1:
		return ms[0]
	case 2:
		a, b := ms[0], ms[1]
		return func(r *entra.Record, d *Doc) bool { return a(r, d) || b(r, d) }
	}
	return func(r *entra.Record, d *Doc) bool {
		for _, m := range ms {
			if m(r, d) {
				return true
			}
		}
		return false
	}
}

func allMatch(ms []matcher) matcher {
	switch len(ms) {
	case 1:
		return ms[0]
	case 2:
		a, b := ms[0], ms[1]
		return func(r *entra.Record, d *Doc) bool { return a(r, d) && b(r, d) }
	}
	return func(r *entra.Record, d *Doc) bool {
		for _, m := range ms {
			if !m(r, d) {
				return false
			}
		}
		return true
	}
}

// Package sigma compiles Sigma rules (https://github.com/SigmaHQ/sigma-specification,
// version 2.1.0) of product azure into Go matchers over privtrail's
// decoded record, and Sigma correlation rules into the settings of
// privtrail's stateful operators. The monitor package turns both into
// ordinary monitors; README.md says what is supported and the field
// mapping of each logsource.
package sigma

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// Rule is one compiled Sigma rule: a detection (Match set), a
// correlation (Correlation set), or a rule privtrail skips (Skip set).
type Rule struct {
	ID, Name, Title, Description string
	// Level is the rule's level as written; Risk maps it to privtrail's.
	Level, Risk, Status string
	Tags, References    []string
	Service             string
	Stream              entra.Stream
	// File and Line say where the rule is.
	File string
	Line int
	// Fields are the field names the detection reads, in file order, as
	// the rule spells them: what a hit's reason shows.
	Fields []string
	// Match is the detection, for a detection rule.
	Match func(*entra.Record) bool
	// MatchDoc is Match with the caller's Doc, reset for each record: what
	// a hot path calls (Match makes a Doc per call).
	MatchDoc func(*entra.Record, *Doc) bool
	// Correlation is set for a correlation rule.
	Correlation *Correlation
	// Skip says why privtrail does not run the rule (a logsource it does
	// not read); nothing else is set then but the metadata.
	Skip string
	// UsedBy names the correlations that reference the rule; Standalone
	// is false when one of them does not generate it (Sigma's generate:
	// false, the default), so its own hits are not reported.
	UsedBy     []string
	Standalone bool
}

// MonitorID is the ID of the rule's monitor.
func (r *Rule) MonitorID() string { return "sigma." + r.ID }

// Correlation is a compiled Sigma correlation rule.
type Correlation struct {
	Type     string // event_count, value_count, temporal, temporal_ordered
	Rules    []*Rule
	Timespan time.Duration
	// GroupBy are the group-by fields as each referenced rule names them
	// (aliases resolved): GroupBy[i] belongs to Rules[i].
	GroupBy [][]string
	// Count is the smallest count that fires (gte, or gt + 1).
	Count int
	// Field is value_count's field.
	Field    string
	Generate bool

	pending *pending
}

// Set is what Load found: the rules privtrail runs and those it skips.
type Set struct {
	Rules []*Rule
}

var (
	idChars  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	timespan = regexp.MustCompile(`^([0-9]+)([smhd])$`)
)

// levels maps Sigma's levels to privtrail's risks.
var levels = map[string]string{
	"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "high",
}

// Load reads the rule files and folders (recursively, *.yml and *.yaml)
// of paths, relative to base, compiles them and resolves the
// correlations' references. An error names the file and line.
func Load(base string, paths []string) (*Set, error) {
	var files []string
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	set := &Set{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rules, err := CompileFile(f, data)
		if err != nil {
			return nil, err
		}
		set.Rules = append(set.Rules, rules...)
	}
	if err := set.resolve(); err != nil {
		return nil, err
	}
	return set, nil
}

// fileError is an error of a rule file: file:line:col: message.
func fileError(file string, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		if pe.line == 0 {
			return fmt.Errorf("%s: %s", file, pe.msg)
		}
		return fmt.Errorf("%s:%d:%d: %s", file, pe.line, pe.col, pe.msg)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// CompileFile compiles the rules of one file (several YAML documents may
// hold several rules, e.g. a correlation and the rules it references).
// The correlations' references are resolved by Load.
func CompileFile(file string, data []byte) ([]*Rule, error) {
	docs, err := parseDocs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no rule in the file", file)
	}
	var out []*Rule
	for _, d := range docs {
		r, err := compileDoc(file, d)
		if err != nil {
			return nil, fileError(file, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func stringOf(doc *node, key string) (string, error) {
	v := doc.get(key)
	if v == nil || v.kind == kNull {
		return "", nil
	}
	if v.kind == kMap || v.kind == kSeq {
		return "", errAt(v, "%s: want a string, got %s", key, v.kind)
	}
	return v.scalarText(), nil
}

func stringsOf(doc *node, key string) ([]string, error) {
	v := doc.get(key)
	if v == nil || v.kind == kNull {
		return nil, nil
	}
	if v.kind != kSeq {
		return nil, errAt(v, "%s: want a list, got %s", key, v.kind)
	}
	var out []string
	for _, x := range v.vals {
		if x.kind == kMap || x.kind == kSeq {
			return nil, errAt(x, "%s: want a list of strings", key)
		}
		out = append(out, x.scalarText())
	}
	return out, nil
}

func compileDoc(file string, doc *node) (*Rule, error) {
	if doc.kind != kMap {
		return nil, errAt(doc, "a Sigma rule is a mapping, not %s", doc.kind)
	}
	if a := doc.keyNode("action"); a != nil {
		return nil, errAt(a, "rule collections (action: global/reset/repeat) are not supported: write one rule per document")
	}
	r := &Rule{File: file, Line: doc.line, Standalone: true}
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"id", &r.ID}, {"name", &r.Name}, {"title", &r.Title}, {"description", &r.Description}, {"level", &r.Level}, {"status", &r.Status}} {
		if *f.dst, err = stringOf(doc, f.key); err != nil {
			return nil, err
		}
	}
	if r.Tags, err = stringsOf(doc, "tags"); err != nil {
		return nil, err
	}
	if r.References, err = stringsOf(doc, "references"); err != nil {
		return nil, err
	}
	switch {
	case r.ID == "":
		return nil, errAt(doc, "id is required: it is the monitor's ID (sigma.<id>)")
	case !idChars.MatchString(r.ID):
		return nil, errAt(doc.get("id"), "id %q: privtrail takes lower-case letters, digits, - and _ (a UUID)", r.ID)
	case r.Title == "":
		return nil, errAt(doc, "rule %s: title is required", r.ID)
	}
	if r.Level == "" {
		r.Risk = "medium"
	} else if r.Risk = levels[r.Level]; r.Risk == "" {
		return nil, errAt(doc.get("level"), "rule %s: level %q is not informational, low, medium, high or critical", r.ID, r.Level)
	}
	if c := doc.get("correlation"); c != nil {
		if doc.get("detection") != nil {
			return nil, errAt(c, "rule %s: a rule has a detection or a correlation, not both", r.ID)
		}
		return r, withRule(r.ID, compileCorrelation(r, c))
	}
	if f := doc.keyNode("filter"); f != nil {
		return nil, errAt(f, "rule %s: Sigma filters (meta filters) are not supported", r.ID)
	}
	ls := doc.get("logsource")
	if ls == nil || ls.kind != kMap {
		return nil, errAt(doc, "rule %s: logsource is required", r.ID)
	}
	product, _ := stringOf(ls, "product")
	service, _ := stringOf(ls, "service")
	category, _ := stringOf(ls, "category")
	r.Service = service
	svc := services[service]
	switch {
	case product != "azure":
		r.Skip = fmt.Sprintf("logsource product %q: privtrail reads Microsoft Entra ID and Azure logs (product azure)", product)
	case category != "":
		r.Skip = fmt.Sprintf("logsource category %q: privtrail maps the services of product azure, not categories", category)
	case unread[service] != "":
		r.Skip = unread[service]
	case svc == nil:
		r.Skip = fmt.Sprintf("logsource azure/%s: not a log privtrail reads (it reads signinlogs, auditlogs, activitylogs, riskdetection)", service)
	}
	if r.Skip != "" {
		return r, nil
	}
	r.Stream = svc.Stream
	det := doc.get("detection")
	if det == nil || det.kind != kMap {
		return nil, errAt(doc, "rule %s: detection is required", r.ID)
	}
	if err := compileDetection(r, svc, det); err != nil {
		return nil, withRule(r.ID, err)
	}
	return r, nil
}

// compileDetection compiles the selections and the condition of a
// detection into r.Match.
func compileDetection(r *Rule, svc *Service, det *node) error {
	sels := map[string]matcher{}
	var names []string
	var cond *node
	for i, k := range det.keys {
		v := det.vals[i]
		switch k.str {
		case "condition":
			cond = v
			continue
		case "timeframe":
			return errAt(k, "rule %s: timeframe belongs to Sigma 1 aggregations; write a correlation rule with a timespan", r.ID)
		}
		m, err := compileSelection(r, svc, k, v)
		if err != nil {
			return err
		}
		sels[k.str] = m
		names = append(names, k.str)
	}
	if cond == nil {
		return errAt(det, "rule %s: detection: condition is required", r.ID)
	}
	var conds []string
	switch cond.kind {
	case kString:
		conds = []string{cond.str}
	case kSeq:
		// A list of conditions (Sigma 1) means any of them.
		for _, c := range cond.vals {
			if c.kind != kString {
				return errAt(c, "rule %s: a condition is a string", r.ID)
			}
			conds = append(conds, "("+c.str+")")
		}
	default:
		return errAt(cond, "rule %s: condition: want a string, got %s", r.ID, cond.kind)
	}
	m, used, err := compileCondition(cond, strings.Join(conds, " or "), sels, names)
	if err != nil {
		return withRule(r.ID, err)
	}
	for _, n := range names {
		if !used[n] {
			k := det.keyNode(n)
			return errAt(k, "rule %s: selection %q is not used by the condition (a typo would silently change the rule)", r.ID, n)
		}
	}
	r.MatchDoc = m
	r.Match = func(rec *entra.Record) bool {
		var d Doc
		return m(rec, &d)
	}
	return nil
}

// compileSelection compiles one named selection: a mapping (every item),
// a list of mappings (any of them), or a list of keywords (any of them).
func compileSelection(r *Rule, svc *Service, name, v *node) (matcher, error) {
	switch v.kind {
	case kMap:
		return compileMap(r, svc, v)
	case kSeq:
		if len(v.vals) == 0 {
			return nil, errAt(name, "rule %s: selection %s is empty", r.ID, name.str)
		}
		var ms []matcher
		for _, x := range v.vals {
			var m matcher
			var err error
			if x.kind == kMap {
				m, err = compileMap(r, svc, x)
			} else {
				m, err = keywordMatcher(x)
				r.addField("keywords")
			}
			if err != nil {
				return nil, withRule(r.ID, err)
			}
			ms = append(ms, m)
		}
		return anyMatch(ms), nil
	case kString, kNumber:
		r.addField("keywords")
		return keywordMatcher(v)
	}
	return nil, errAt(v, "rule %s: selection %s: want a mapping or a list, got %s", r.ID, name.str, v.kind)
}

func (r *Rule) addField(name string) {
	if !slices.Contains(r.Fields, name) {
		r.Fields = append(r.Fields, name)
	}
}

// compileMap compiles a mapping of items, all of which must match; the
// cheapest are tested first (typed fields before lists and the raw
// document), since a record usually fails the first.
func compileMap(r *Rule, svc *Service, v *node) (matcher, error) {
	if len(v.keys) == 0 {
		return nil, errAt(v, "rule %s: an empty selection", r.ID)
	}
	var items []*item
	for i, k := range v.keys {
		it, err := compileItem(svc, k, v.vals[i])
		if err != nil {
			return nil, withRule(r.ID, err)
		}
		items = append(items, it)
		r.addField(strings.Split(k.str, "|")[0])
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].cost < items[j].cost })
	ms := make([]matcher, len(items))
	for i, it := range items {
		ms[i] = it.match
	}
	return allMatch(ms), nil
}

// withRule names the rule in a positioned error that does not yet.
func withRule(id string, err error) error {
	var pe *posError
	if errors.As(err, &pe) && !strings.HasPrefix(pe.msg, "rule ") {
		pe.msg = "rule " + id + ": " + pe.msg
	}
	return err
}

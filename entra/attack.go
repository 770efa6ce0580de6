package entra

import "strings"

// Attack is what the MITRE ATT&CK tags of a record's hits name, in the
// Sigma tags appendix's attack namespace (attack.t1078.004,
// attack.initial-access): what the outputs write as ATT&CK fields. Each
// list holds distinct values in the order of the hits and their tags.
type Attack struct {
	// IDs are the techniques and sub-techniques as tagged, upper case
	// (T1078, T1078.004): what Splunk's ESCU lists as mitre_attack_id.
	IDs []string
	// Techniques are the technique IDs (T1078), a sub-technique's parent
	// included; Subtechniques the sub-technique IDs (T1078.004).
	Techniques, Subtechniques []string
	// Tactics are the tactics' names (Initial Access, Command and
	// Control) of the attack.<tactic> tags.
	Tactics []string
}

// Empty reports whether no hit has an ATT&CK tag.
func (a *Attack) Empty() bool { return len(a.IDs) == 0 && len(a.Tactics) == 0 }

// AttackOf collects the ATT&CK tags of hits. Tags of other namespaces,
// groups (attack.g0016) and software (attack.s0154) are left out. It
// allocates only when a hit has tags.
func AttackOf(hits []Hit) Attack {
	var a Attack
	for i := range hits {
		for _, tag := range hits[i].Tags {
			a.add(tag)
		}
	}
	return a
}

// EachAttackTechnique calls fn with the number of each distinct
// technique or sub-technique tag of hits, in order: "1078.004" for
// attack.t1078.004, whose ID is "T" + number (Attack.IDs). It allocates
// nothing, for the encoders that write the IDs themselves.
func EachAttackTechnique(hits []Hit, fn func(number string)) {
	for i := range hits {
		for j, tag := range hits[i].Tags {
			n, ok := techniqueNumber(tag)
			if ok && !seenBefore(hits, i, j, n) {
				fn(n)
			}
		}
	}
}

// seenBefore reports whether a tag before hits[i].Tags[j] is the
// technique number n.
func seenBefore(hits []Hit, i, j int, n string) bool {
	for k := 0; k <= i; k++ {
		tags := hits[k].Tags
		if k == i {
			tags = tags[:j]
		}
		for _, tag := range tags {
			if m, ok := techniqueNumber(tag); ok && m == n {
				return true
			}
		}
	}
	return false
}

// techniqueNumber returns 1234 or 1234.001 for attack.t1234 or
// attack.t1234.001 (any case), and whether tag is one.
func techniqueNumber(tag string) (string, bool) {
	if len(tag) < 8 || !strings.EqualFold(tag[:7], "attack.") {
		return "", false
	}
	v := tag[7:]
	if !isTechnique(v) {
		return "", false
	}
	return v[1:], true
}

func (a *Attack) add(tag string) {
	if len(tag) < 8 || !strings.EqualFold(tag[:7], "attack.") {
		return
	}
	v := tag[7:]
	if id, ok := techniqueID(v); ok {
		a.IDs = addDistinct(a.IDs, id)
		if parent, _, sub := strings.Cut(id, "."); sub {
			a.Techniques = addDistinct(a.Techniques, parent)
			a.Subtechniques = addDistinct(a.Subtechniques, id)
		} else {
			a.Techniques = addDistinct(a.Techniques, id)
		}
		return
	}
	if name, ok := tacticName(v); ok {
		a.Tactics = addDistinct(a.Tactics, name)
	}
}

// techniqueID returns T1234 or T1234.001 for t1234 or t1234.001 (any
// case), and whether v is one.
func techniqueID(v string) (string, bool) {
	if !isTechnique(v) {
		return "", false
	}
	if v[0] == 'T' {
		return v, true
	}
	return "T" + v[1:], true
}

// isTechnique reports whether v is t1234 or t1234.001 (any case).
func isTechnique(v string) bool {
	if len(v) != 5 && len(v) != 9 || v[0] != 't' && v[0] != 'T' || !allDigits(v[1:5]) {
		return false
	}
	return len(v) == 5 || v[5] == '.' && allDigits(v[6:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// tacticName returns the ATT&CK name of a tactic tag: its words
// (separated by - as the tags appendix writes them, or _ as its first
// version did) capitalized, "and" kept lower case as ATT&CK writes
// "Command and Control". A tactic is letters only: whatever has a digit
// is a group, software or technique. Tactics ATT&CK added after the
// appendix (attack.stealth, attack.defense-impairment in SigmaHQ's rules
// of ATT&CK v18) follow the same rule.
func tacticName(v string) (string, bool) {
	var b strings.Builder
	word := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '-' || c == '_':
			if word || i == len(v)-1 {
				return "", false // empty word
			}
			b.WriteByte(' ')
			word = true
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c < 'a' || c > 'z':
			return "", false
		}
		if word && (i == 0 || !strings.EqualFold(v[i:], "and") && !hasAnd(v[i:])) {
			c -= 'a' - 'A'
		}
		word = false
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "", false
	}
	return b.String(), true
}

// hasAnd reports whether v starts with the word "and" followed by a
// separator.
func hasAnd(v string) bool {
	return len(v) > 4 && strings.EqualFold(v[:3], "and") && (v[3] == '-' || v[3] == '_')
}

func addDistinct(list []string, v string) []string {
	for _, s := range list {
		if s == v {
			return list
		}
	}
	return append(list, v)
}

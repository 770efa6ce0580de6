package splunk

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/privtrail/privtrail/entra"
)

// Encoder turns a record into one HEC event envelope (JSON event
// protocol), followed by a newline:
//
//	{"time":1584126941.619,"host":"…","source":"privtrail","sourcetype":"azure:aad:signin","index":"…",
//	 "event":{…the enriched document, verbatim…},
//	 "fields":{"privtrail_stream":"signin","privtrail_privileged":"true","privtrail_user":"…",
//	           "privtrail_monitor":["signin.legacy_auth"],"privtrail_risk":"high",
//	           "privtrail_mitre_attack_id":["T1078.004"]}}
//
// A request body is such envelopes one after another (HEC's batch format,
// not a JSON array). It is pure: the output is a function of the record,
// the enriched bytes and the fields below.
//
// With Envelope entra.EnvelopeDiagnostic, a Graph-shaped sign-in, audit,
// user risk detection or risky user (entra.Record.CanEnvelope) is written
// in the Azure Monitor diagnostic-settings envelope
// (entra.Record.AppendDiagnosticJSON) with the Diagnostic sourcetype,
// instead of the enriched bytes.
type Encoder struct {
	Host, Source, Index string
	Sourcetypes         Sourcetypes
	// Envelope is the config's envelope; the zero value writes every
	// record as read.
	Envelope entra.Envelope
}

// NewEncoder returns the encoder for cfg (defaults applied).
func NewEncoder(cfg Config) *Encoder {
	cfg.Defaults()
	return &Encoder{Host: cfg.Host, Source: cfg.Source, Index: cfg.Index, Sourcetypes: cfg.Sourcetypes, Envelope: entra.Envelope(cfg.Envelope)}
}

// enveloped reports whether rec is written in the diagnostic envelope.
func (e *Encoder) enveloped(rec *entra.Record) bool {
	return e.Envelope == entra.EnvelopeDiagnostic && rec.CanEnvelope()
}

var errNotObject = errors.New("enriched record is not a JSON object")

// Encode appends rec's envelope to dst. enriched is the record's JSON as
// the runner encoded it (the original document plus the privtrail
// object); when it is empty the record is encoded here.
func (e *Encoder) Encode(dst []byte, rec *entra.Record, enriched []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, '{')
	if !rec.Time.IsZero() {
		dst = append(dst, `"time":`...)
		dst = appendEpoch(dst, rec.Time.UnixMilli())
		dst = append(dst, ',')
	}
	if e.Host != "" {
		dst = append(dst, `"host":`...)
		dst = entra.AppendJSONString(dst, e.Host)
		dst = append(dst, ',')
	}
	dst = append(dst, `"source":`...)
	dst = entra.AppendJSONString(dst, e.Source)
	dst = append(dst, `,"sourcetype":`...)
	dst = entra.AppendJSONString(dst, e.Sourcetype(rec))
	if e.Index != "" {
		dst = append(dst, `,"index":`...)
		dst = entra.AppendJSONString(dst, e.Index)
	}
	dst = append(dst, `,"event":`...)
	ev := bytes.TrimSpace(enriched)
	if e.enveloped(rec) {
		dst = rec.AppendDiagnosticJSON(dst)
	} else if len(ev) == 0 {
		dst = rec.AppendJSON(dst)
	} else if ev[0] != '{' || ev[len(ev)-1] != '}' {
		return dst[:start], errNotObject
	} else {
		dst = append(dst, ev...)
	}
	dst = e.appendFields(dst, rec)
	return append(dst, '}', '\n'), nil
}

// Sourcetype is the sourcetype rec is indexed with. Activity, Domain
// Services and directory records get their own whatever their shape.
// Every other record in the diagnostic-settings envelope (sign-ins,
// audits, ID Protection, Graph activity, and categories privtrail has no
// model for) is azure:monitor:aad, as the Splunk Add-on for Microsoft
// Cloud Services and Splunk's security content have it — Graph records
// the encoder writes in that envelope included. The other Graph-shaped
// records get the Splunk Add-on for Microsoft Azure's sourcetype of the
// Graph resource they are: by stream, and for records privtrail could not
// model (stream other) by the category of the endpoint they were read
// from.
func (e *Encoder) Sourcetype(rec *entra.Record) string {
	st := &e.Sourcetypes
	switch rec.Stream {
	case entra.StreamActivity:
		return st.Activity
	case entra.StreamAADDS:
		return st.AADDS
	case entra.StreamDirectory:
		return st.Directory
	}
	if rec.Shape != entra.ShapeGraph || e.enveloped(rec) {
		return st.Diagnostic
	}
	switch rec.Stream {
	case entra.StreamSignIn:
		return st.SignIn
	case entra.StreamAudit:
		return st.Audit
	case entra.StreamRisk:
		if s := e.riskSourcetype(rec.LogCategory); s != "" {
			return s
		}
		if rec.Risk.Kind == "detection" {
			return st.RiskDetection
		}
		if rec.Actor.Type == "servicePrincipal" {
			return st.RiskyServicePrincipal
		}
		return st.RiskyUser
	case entra.StreamOther:
		if s := e.graphSourcetype(rec.LogCategory); s != "" {
			return s
		}
		return st.Other
	}
	return st.Diagnostic
}

// graphSourcetype is the sourcetype of the Graph resources of a
// diagnostic category ("" for a category no Graph sourcetype covers).
func (e *Encoder) graphSourcetype(category string) string {
	st := &e.Sourcetypes
	switch c, is := category, strings.EqualFold; {
	case is(c, "SignInLogs"), is(c, "NonInteractiveUserSignInLogs"), is(c, "ServicePrincipalSignInLogs"), is(c, "ManagedIdentitySignInLogs"):
		return st.SignIn
	case is(c, "AuditLogs"):
		return st.Audit
	}
	return e.riskSourcetype(category)
}

// riskSourcetype is the sourcetype of the Graph resources of an ID
// Protection category ("" for another category).
func (e *Encoder) riskSourcetype(category string) string {
	st := &e.Sourcetypes
	switch c, is := category, strings.EqualFold; {
	case is(c, "UserRiskEvents"), is(c, "ServicePrincipalRiskEvents"):
		return st.RiskDetection
	case is(c, "RiskyUsers"):
		return st.RiskyUser
	case is(c, "RiskyServicePrincipals"):
		return st.RiskyServicePrincipal
	}
	return ""
}

// appendFields appends the indexed fields. HEC accepts only strings and
// arrays of strings as their values.
func (e *Encoder) appendFields(dst []byte, rec *entra.Record) []byte {
	dst = append(dst, `,"fields":{`...)
	if rec.Stream != "" {
		dst = append(dst, `"privtrail_stream":`...)
		dst = entra.AppendJSONString(dst, string(rec.Stream))
		dst = append(dst, ',')
	}
	dst = append(dst, `"privtrail_privileged":`...)
	if rec.Actor.Privileged {
		dst = append(dst, `"true"`...)
	} else {
		dst = append(dst, `"false"`...)
	}
	if rec.Actor.Emergency {
		dst = append(dst, `,"privtrail_emergency_access":"true"`...)
	}
	if u := userOf(rec); u != "" {
		dst = append(dst, `,"privtrail_user":`...)
		dst = entra.AppendJSONString(dst, u)
	}
	if len(rec.Hits) > 0 {
		dst = append(dst, `,"privtrail_monitor":[`...)
		risk, rank := "", -1
		for i := range rec.Hits {
			h := &rec.Hits[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = entra.AppendJSONString(dst, h.ID)
			if r := riskRank(h.Risk); r > rank {
				risk, rank = h.Risk, r
			}
		}
		dst = append(dst, ']')
		if risk != "" {
			dst = append(dst, `,"privtrail_risk":`...)
			dst = entra.AppendJSONString(dst, risk)
		}
		// The hits' ATT&CK techniques and sub-techniques (attack.t1110.001
		// → T1110.001), as ESCU's detections list them (mitre_attack_id).
		n := 0
		entra.EachAttackTechnique(rec.Hits, func(number string) {
			if n == 0 {
				dst = append(dst, `,"privtrail_mitre_attack_id":[`...)
			} else {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `"T`...)
			dst = append(dst, number...) // digits and a dot: nothing to escape
			dst = append(dst, '"')
		})
		if n > 0 {
			dst = append(dst, ']')
		}
	}
	return append(dst, '}')
}

// userOf is the actor's user principal name, or its object id when the
// log has no UPN (service principals, some failed sign-ins).
func userOf(rec *entra.Record) string {
	if rec.Actor.UPN != "" {
		return rec.Actor.UPN
	}
	return rec.Actor.ID
}

// riskRank orders the monitor risks; anything unknown ranks lowest.
func riskRank(r string) int {
	switch r {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	case "critical":
		return 4
	}
	return 0
}

// appendEpoch writes ms (Unix milliseconds) as seconds with a three-digit
// fraction, the time format HEC reads.
func appendEpoch(dst []byte, ms int64) []byte {
	u := uint64(ms)
	if ms < 0 {
		dst = append(dst, '-')
		u = uint64(-ms)
	}
	dst = strconv.AppendUint(dst, u/1000, 10)
	f := u % 1000
	return append(dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

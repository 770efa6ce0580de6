package entra

import (
	"time"

	"github.com/valyala/fastjson"
)

// The members that name who a record of an unmodelled category is about,
// looked for in properties and then at the top level.
const (
	oUserID = iota
	oUserPrincipalName
	oUserDisplayName
	oServicePrincipalID
	oServicePrincipalName
	oIdentity
	oIPAddress
	oSourceIP
	oID
	oCorrelationID
	oTenantID
	nOther
)

var otherKeys = newKeyTable([]string{
	oUserID:               "userId",
	oUserPrincipalName:    "userPrincipalName",
	oUserDisplayName:      "userDisplayName",
	oServicePrincipalID:   "servicePrincipalId",
	oServicePrincipalName: "servicePrincipalName",
	oIdentity:             "identity",
	oIPAddress:            "ipAddress",
	oSourceIP:             "sourceIp",
	oID:                   "id",
	oCorrelationID:        "correlationId",
	oTenantID:             "tenantId",
})

// decodeOther decodes a diagnostic record of a category privtrail has no
// model for: its event time (required, as for every record), operation,
// identifiers and the principal it names, so that the privilege stage
// tags it. rec.LogCategory is set by the caller.
func (d *Decoder) decodeOther(rec *Record, top *[nTop]*fastjson.Value) error {
	rec.Stream = StreamOther
	if err := d.eventTime(rec, top[tTime]); err != nil {
		return err
	}
	d.setStr(&rec.OperationName, top[tOperationName])
	d.setStr(&rec.Level, top[tLevel])

	var p [nOther]*fastjson.Value
	collect(d.propertiesOf(top[tProperties]), otherKeys, p[:])
	d.setStr(&rec.ID, p[oID])
	d.setBytes(&rec.CorrelationID, firstNonEmpty(d.bytes(top[tCorrelationID]), d.bytes(p[oCorrelationID])))
	d.setBytes(&rec.TenantID, firstNonEmpty(d.bytes(top[tTenantID]), d.bytes(p[oTenantID])))
	d.otherActor(rec, &p, top[tIdentity], top[tCallerIP])
	return nil
}

// otherActor sets the actor of a record of an unmodelled category: the
// user it names, else the service principal, else the envelope's
// identity (a UPN when it has an '@', a display name otherwise).
func (d *Decoder) otherActor(rec *Record, p *[nOther]*fastjson.Value, identity, callerIP *fastjson.Value) {
	a := &rec.Actor
	d.setBytes(&a.IP, firstNonEmpty(cleanIP(d.bytes(p[oIPAddress])), cleanIP(d.bytes(p[oSourceIP])), cleanIP(d.bytes(callerIP))))
	uid, upn := d.bytes(p[oUserID]), d.bytes(p[oUserPrincipalName])
	switch {
	case len(uid) > 0 || len(upn) > 0:
		a.Type = "user"
		if len(upn) == 0 && indexByte(uid, '@') >= 0 {
			uid, upn = nil, uid // Office 365's userId is the UPN
		}
		d.setBytes(&a.ID, uid)
		d.setBytes(&a.UPN, upn)
		d.setStr(&a.DisplayName, p[oUserDisplayName])
	case d.has(p[oServicePrincipalID]):
		a.Type = "servicePrincipal"
		d.setStr(&a.ID, p[oServicePrincipalID])
		d.setStr(&a.DisplayName, p[oServicePrincipalName])
	default:
		id := d.bytes(identity)
		if len(id) == 0 || isGUID(id) {
			return // ProvisioningLogs put the record's own ID there
		}
		if indexByte(id, '@') >= 0 {
			a.Type = "user"
			d.setBytes(&a.UPN, id)
		} else {
			d.setBytes(&a.DisplayName, id)
		}
	}
}

// DecodeGraphItem decodes one item of a Graph list page read from the
// endpoint whose records belong to category (SignInLogs, AuditLogs,
// UserRiskEvents, RiskyUsers, …). An item that is valid JSON but not in
// the shape Decode knows is not dropped: it becomes a StreamOther record
// of that category, timed by the first timestamp it has, else by polled
// (when it was read). Only a document that is not a JSON object is an
// error.
func (d *Decoder) DecodeGraphItem(data []byte, category string, polled time.Time, rec *Record) error {
	err := d.Decode(data, rec)
	if err == nil {
		return nil
	}
	origin := rec.Origin
	*rec = Record{Raw: data, Origin: origin}
	v, perr := d.p.ParseBytes(data)
	if perr != nil || v.Type() != fastjson.TypeObject || !validJSON(data) {
		return err
	}
	rec.Shape = ShapeGraph
	rec.Stream = StreamOther
	rec.LogCategory = category
	var top [nTop]*fastjson.Value
	collect(v, topKeys, top[:])
	if d.eventTime(rec, top[tCreatedDateTime], top[tActivityDateTime], top[tDetectedDateTime],
		top[tRiskLastUpdated], top[tTime]) != nil {
		rec.Time = polled.UTC()
	}
	var p [nOther]*fastjson.Value
	collect(v, otherKeys, p[:])
	d.setStr(&rec.ID, p[oID])
	d.setStr(&rec.CorrelationID, p[oCorrelationID])
	d.setStr(&rec.TenantID, p[oTenantID])
	d.otherActor(rec, &p, nil, nil)
	d.finish()
	return nil
}

// isGUID reports whether b is a GUID in its 8-4-4-4-12 hex form.
func isGUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f') {
				return false
			}
		}
	}
	return true
}

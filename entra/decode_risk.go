package entra

import "github.com/valyala/fastjson"

// ID Protection: Graph riskDetection / riskyUser / riskyServicePrincipal,
// and the properties of the diagnostic categories UserRiskEvents,
// ServicePrincipalRiskEvents, RiskyUsers and RiskyServicePrincipals.
const (
	rkID = iota
	rkUserID
	rkUserPrincipalName
	rkUserDisplayName
	rkServicePrincipalID
	rkServicePrincipalDisplayName
	rkDisplayName
	rkAppID
	rkRiskEventType
	rkRiskLevel
	rkRiskState
	rkRiskDetail
	rkSource
	rkDetectionTimingType
	rkActivity
	rkActivityDateTime
	rkDetectedDateTime
	rkLastUpdatedDateTime
	rkRiskLastUpdatedDateTime
	rkRequestID
	rkCorrelationID
	rkIPAddress
	rkLocation
	rkAdditionalInfo
	rkTenantID
	nRisk
)

var riskKeys = newKeyTable([]string{
	rkID:                          "id",
	rkUserID:                      "userId",
	rkUserPrincipalName:           "userPrincipalName",
	rkUserDisplayName:             "userDisplayName",
	rkServicePrincipalID:          "servicePrincipalId",
	rkServicePrincipalDisplayName: "servicePrincipalDisplayName",
	rkDisplayName:                 "displayName",
	rkAppID:                       "appId",
	rkRiskEventType:               "riskEventType",
	rkRiskLevel:                   "riskLevel",
	rkRiskState:                   "riskState",
	rkRiskDetail:                  "riskDetail",
	rkSource:                      "source",
	rkDetectionTimingType:         "detectionTimingType",
	rkActivity:                    "activity",
	rkActivityDateTime:            "activityDateTime",
	rkDetectedDateTime:            "detectedDateTime",
	rkLastUpdatedDateTime:         "lastUpdatedDateTime",
	rkRiskLastUpdatedDateTime:     "riskLastUpdatedDateTime",
	rkRequestID:                   "requestId",
	rkCorrelationID:               "correlationId",
	rkIPAddress:                   "ipAddress",
	rkLocation:                    "location",
	rkAdditionalInfo:              "additionalInfo",
	rkTenantID:                    "tenantId",
})

// decodeRisk decodes an ID Protection record. cat is the diagnostic
// category (nil for Graph's shape, where the members say what it is).
func (d *Decoder) decodeRisk(rec *Record, obj *fastjson.Value, env *envelope, cat *categoryInfo) error {
	rec.Stream = StreamRisk
	var f [nRisk]*fastjson.Value
	collect(obj, riskKeys, f[:])
	r := &rec.Risk

	// A detection names its type; a risk state (risky user or service
	// principal) has only the aggregate and when it last changed.
	detection := present(f[rkRiskEventType]) || present(f[rkDetectedDateTime])
	servicePrincipal := present(f[rkServicePrincipalID]) ||
		!present(f[rkUserID]) && !present(f[rkUserPrincipalName]) && present(f[rkAppID])
	if cat != nil {
		detection = cat.name == "UserRiskEvents" || cat.name == "ServicePrincipalRiskEvents"
		servicePrincipal = cat.name == "ServicePrincipalRiskEvents" || cat.name == "RiskyServicePrincipals"
	}
	if rec.LogCategory == "" {
		rec.LogCategory = riskCategory(detection, servicePrincipal)
	}

	// Event time: when the risky activity happened (a detection), or when
	// the principal's risk last changed (a state); the envelope's time,
	// when the record was logged, only when the record has neither.
	var envTime *fastjson.Value
	if env != nil {
		envTime = env.top[tTime]
	}
	var err error
	if detection {
		r.Kind = "detection"
		err = d.eventTime(rec, f[rkActivityDateTime], f[rkDetectedDateTime], f[rkLastUpdatedDateTime], envTime)
	} else {
		r.Kind = "state"
		err = d.eventTime(rec, f[rkRiskLastUpdatedDateTime], envTime)
	}
	if err != nil {
		return err
	}
	if t, ok := parseTime(d.bytes(f[rkDetectedDateTime])); ok {
		r.Detected = t
	}

	d.setStr(&rec.ID, f[rkID])
	// The envelope's correlationId (for ID Protection categories the
	// record's id) is what Elastic's integration keeps as
	// azure.correlation_id; properties.correlationId is the sign-in's.
	if env == nil || !d.has(env.top[tCorrelationID]) {
		d.setStr(&rec.CorrelationID, f[rkCorrelationID])
	}
	if env == nil || !d.has(env.top[tTenantID]) {
		d.setStr(&rec.TenantID, f[rkTenantID])
	}
	if env != nil {
		d.setStr(&rec.OperationName, env.top[tOperationName])
	}

	d.setStr(&r.EventType, f[rkRiskEventType])
	d.setStr(&r.Level, f[rkRiskLevel])
	d.setStr(&r.State, f[rkRiskState])
	d.setStr(&r.Detail, f[rkRiskDetail])
	d.setStr(&r.Source, f[rkSource])
	d.setStr(&r.DetectionTiming, f[rkDetectionTimingType])
	d.setStr(&r.Activity, f[rkActivity])
	d.setStr(&r.RequestID, f[rkRequestID])
	d.setValueText(&r.AdditionalInfo, f[rkAdditionalInfo])
	d.location(&r.Location, f[rkLocation])

	ip := cleanIP(d.bytes(f[rkIPAddress]))
	if len(ip) == 0 && env != nil {
		ip = cleanIP(d.bytes(env.top[tCallerIP]))
	}
	ipOff, ipEnd := d.put(ip)
	d.assign(&r.IPAddress, ipOff, ipEnd)

	// The actor is the principal at risk. A risky user's or risky service
	// principal's own id is the principal's object ID.
	a := &rec.Actor
	d.assign(&a.IP, ipOff, ipEnd)
	if servicePrincipal {
		a.Type = "servicePrincipal"
		id := d.bytes(f[rkServicePrincipalID])
		if len(id) == 0 && !detection {
			id = d.bytes(f[rkID])
		}
		d.setBytes(&a.ID, id)
		d.setBytes(&a.DisplayName, firstNonEmpty(d.bytes(f[rkServicePrincipalDisplayName]), d.bytes(f[rkDisplayName])))
		return nil
	}
	a.Type = "user"
	id := d.bytes(f[rkUserID])
	if len(id) == 0 && !detection {
		id = d.bytes(f[rkID])
	}
	d.setBytes(&a.ID, id)
	d.setStr(&a.UPN, f[rkUserPrincipalName])
	d.setStr(&a.DisplayName, f[rkUserDisplayName])
	return nil
}

// riskCategory is the diagnostic category a Graph-shaped risk record
// would have been logged under.
func riskCategory(detection, servicePrincipal bool) string {
	switch {
	case detection && servicePrincipal:
		return "ServicePrincipalRiskEvents"
	case detection:
		return "UserRiskEvents"
	case servicePrincipal:
		return "RiskyServicePrincipals"
	}
	return "RiskyUsers"
}

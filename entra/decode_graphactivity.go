package entra

import "github.com/valyala/fastjson"

// Properties of MicrosoftGraphActivityLogs and AzureADGraphActivityLogs.
const (
	gaRequestMethod = iota
	gaRequestURI
	gaResponseStatusCode
	gaAPIVersion
	gaAppID
	gaServicePrincipalID
	gaUserID
	gaIPAddress
	gaUserAgent
	gaRequestID
	gaScopes
	gaRoles
	gaWids
	gaSignInActivityID
	gaDurationMs
	gaTenantID
	gaTimeGenerated
	gaOperationID
	gaHTTPMethod
	gaHTTPStatusCode
	gaCallerIP
	nGraphActivity
)

var graphActivityKeys = newKeyTable([]string{
	gaRequestMethod:      "requestMethod",
	gaRequestURI:         "requestUri",
	gaResponseStatusCode: "responseStatusCode",
	gaAPIVersion:         "apiVersion",
	gaAppID:              "appId",
	gaServicePrincipalID: "servicePrincipalId",
	gaUserID:             "userId",
	gaIPAddress:          "ipAddress",
	gaUserAgent:          "userAgent",
	gaRequestID:          "requestId",
	gaScopes:             "scopes",
	gaRoles:              "roles",
	gaWids:               "wids",
	gaSignInActivityID:   "signInActivityId",
	gaDurationMs:         "durationMs",
	gaTenantID:           "tenantId",
	gaTimeGenerated:      "timeGenerated",
	gaOperationID:        "operationId",
	// AzureADGraphActivityLogs name three of them differently.
	gaHTTPMethod:     "httpMethod",
	gaHTTPStatusCode: "httpStatusCode",
	gaCallerIP:       "callerIpAddress",
})

func (d *Decoder) decodeGraphActivity(rec *Record, obj *fastjson.Value, env *envelope) error {
	rec.Stream = StreamGraphActivity
	var f [nGraphActivity]*fastjson.Value
	collect(obj, graphActivityKeys, f[:])
	g := &rec.GraphActivity
	if err := d.eventTime(rec, env.top[tTime], f[gaTimeGenerated]); err != nil {
		return err
	}
	d.setStr(&rec.OperationName, env.top[tOperationName])
	if !d.has(env.top[tTenantID]) {
		d.setStr(&rec.TenantID, f[gaTenantID])
	}
	reqID := d.bytes(f[gaRequestID])
	off, end := d.put(reqID)
	d.assign(&g.RequestID, off, end)
	// The request ID identifies the call; operationId is the client's.
	if len(reqID) > 0 {
		d.assign(&rec.ID, off, end)
	} else {
		d.setStr(&rec.ID, f[gaOperationID])
	}

	d.setBytes(&g.RequestMethod, firstNonEmpty(d.bytes(f[gaRequestMethod]), d.bytes(f[gaHTTPMethod])))
	d.setStr(&g.RequestURI, f[gaRequestURI])
	code, ok := toInt(d, f[gaResponseStatusCode])
	if !ok {
		code, ok = toInt(d, f[gaHTTPStatusCode])
	}
	if !ok {
		code, _ = toInt(d, env.top[tResultSignature])
	}
	g.ResponseStatusCode = code
	d.setStr(&g.APIVersion, f[gaAPIVersion])
	d.setStr(&g.UserAgent, f[gaUserAgent])
	d.setStr(&g.Scopes, f[gaScopes])
	d.setStr(&g.Roles, f[gaRoles])
	g.Wids = d.fieldList(f[gaWids])
	d.setStr(&g.SignInActivityID, f[gaSignInActivityID])
	g.DurationMs, _ = toInt(d, f[gaDurationMs])

	appID := d.bytes(f[gaAppID])
	appOff, appEnd := d.put(appID)
	d.assign(&g.AppID, appOff, appEnd)
	userID := d.bytes(f[gaUserID])
	uOff, uEnd := d.put(userID)
	d.assign(&g.UserID, uOff, uEnd)
	spID := d.bytes(f[gaServicePrincipalID])
	spOff, spEnd := d.put(spID)
	d.assign(&g.ServicePrincipalID, spOff, spEnd)

	ip := firstNonEmpty(cleanIP(d.bytes(f[gaIPAddress])), cleanIP(d.bytes(f[gaCallerIP])), cleanIP(d.bytes(env.top[tCallerIP])))
	ipOff, ipEnd := d.put(ip)
	d.assign(&g.IPAddress, ipOff, ipEnd)

	// The caller: a user with a delegated token, else the application.
	a := &rec.Actor
	d.assign(&a.IP, ipOff, ipEnd)
	switch {
	case len(userID) > 0:
		a.Type = "user"
		d.assign(&a.ID, uOff, uEnd)
	case len(spID) > 0:
		a.Type = "servicePrincipal"
		d.assign(&a.ID, spOff, spEnd)
	case len(appID) > 0:
		a.Type = "app"
		d.assign(&a.ID, appOff, appEnd)
	}
	return nil
}

// fieldList reads a list logged as one string of words separated by
// spaces or commas (" Group.Read.All,", "id1 id2"), or as a JSON array.
func (d *Decoder) fieldList(v *fastjson.Value) []string {
	if arr := array(v); arr != nil {
		return d.stringList(v)
	}
	b := d.bytes(v)
	isSep := func(c byte) bool { return c == ' ' || c == ',' }
	n := 0
	for i := 0; i < len(b); i++ {
		if !isSep(b[i]) && (i == 0 || isSep(b[i-1])) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < len(b); {
		for i < len(b) && isSep(b[i]) {
			i++
		}
		j := i
		for j < len(b) && !isSep(b[j]) {
			j++
		}
		if j > i {
			out = append(out, "")
			d.setBytes(&out[len(out)-1], b[i:j])
		}
		i = j
	}
	return out
}

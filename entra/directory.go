package entra

import (
	"strconv"
	"time"

	"github.com/valyala/fastjson"
)

// Directory documents: privtrail's own directory scans (format: see
// Directory). Unlike the Entra shapes, which are decoded leniently because
// Microsoft's logs vary, a directory document is validated strictly:
// privtrail wrote it, so a member of the wrong type is a bug to report, not
// a quirk to absorb.

// RecordTypePrivilegedUser is the recordType of a directory document about
// one privileged user.
const RecordTypePrivilegedUser = "privilegedUser"

// LogCategoryDirectoryScan is the LogCategory of directory records.
const LogCategoryDirectoryScan = "DirectoryScan"

// Sources of a directory document's lastSignInDateTime.
const (
	SignInSourceGraph = "graph" // the user's signInActivity in Microsoft Graph
	SignInSourceAgent = "agent" // the last sign-in privtrail itself saw
)

const (
	drID = iota
	drRecordType
	drScanDateTime
	drTenantID
	drUserID
	drUserPrincipalName
	drUserDisplayName
	drUserType
	drAccountEnabled
	drCreatedDateTime
	drLastSignInDateTime
	drLastSignInSource
	drMFARegistered
	drMethodsRegistered
	drRoles
	nDirectory
)

var directoryKeys = newKeyTable([]string{
	drID:                 "id",
	drRecordType:         "recordType",
	drScanDateTime:       "scanDateTime",
	drTenantID:           "tenantId",
	drUserID:             "userId",
	drUserPrincipalName:  "userPrincipalName",
	drUserDisplayName:    "userDisplayName",
	drUserType:           "userType",
	drAccountEnabled:     "accountEnabled",
	drCreatedDateTime:    "createdDateTime",
	drLastSignInDateTime: "lastSignInDateTime",
	drLastSignInSource:   "lastSignInSource",
	drMFARegistered:      "mfaRegistered",
	drMethodsRegistered:  "methodsRegistered",
	drRoles:              "roles",
})

// roleAssignments are the values of a role's assignment.
var roleAssignments = []string{"active", "eligible"}

const (
	rlName = iota
	rlTemplateID
	rlAssignment
	nRole
)

var roleKeys = newKeyTable([]string{
	rlName:       "name",
	rlTemplateID: "templateId",
	rlAssignment: "assignment",
})

// isDirectory reports whether the top-level members make a document a
// directory record: a scanDateTime member (whatever its value), or a
// recordType that is a string. No Entra log has either; Microsoft 365's
// management activity records have a numeric RecordType and stay out.
func isDirectory(top *[nTop]*fastjson.Value) bool {
	if top[tScanDateTime] != nil {
		return true
	}
	rt := top[tRecordType]
	return rt != nil && rt.Type() == fastjson.TypeString
}

func dirError(member, problem string) error {
	return decodeError("directory record: " + member + ": " + problem)
}

// typeName names the JSON type of v for error messages.
func typeName(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "boolean"
	case fastjson.TypeString:
		return "string"
	case fastjson.TypeNumber:
		return "number"
	case fastjson.TypeObject:
		return "object"
	case fastjson.TypeArray:
		return "array"
	}
	return "null"
}

// dirString returns the text of the string member v and whether it is
// there. Absent and null are "not there", an error when required, as is
// an empty required string; any other type is an error.
func dirString(v *fastjson.Value, member string, required bool) ([]byte, bool, error) {
	if !present(v) {
		if required {
			return nil, false, dirError(member, "missing")
		}
		return nil, false, nil
	}
	if v.Type() != fastjson.TypeString {
		return nil, false, dirError(member, "want a string, got "+typeName(v))
	}
	b, _ := v.StringBytes()
	if required && len(b) == 0 {
		return nil, false, dirError(member, "empty")
	}
	return b, true, nil
}

// dirTime parses the RFC 3339 string member v; the zero time when it is
// absent or null (an error when required).
func dirTime(v *fastjson.Value, member string, required bool) (time.Time, error) {
	b, ok, err := dirString(v, member, required)
	if err != nil || !ok {
		return time.Time{}, err
	}
	t, valid := parseTime(b)
	if !valid {
		return time.Time{}, dirError(member, "invalid time "+strconv.Quote(string(b)))
	}
	return t, nil
}

// dirBool reads the boolean member v: its value, and whether it was given
// (absent and null are not; an error when required).
func dirBool(v *fastjson.Value, member string, required bool) (val, known bool, err error) {
	switch {
	case !present(v):
		if required {
			return false, false, dirError(member, "missing")
		}
		return false, false, nil
	case v.Type() == fastjson.TypeTrue:
		return true, true, nil
	case v.Type() == fastjson.TypeFalse:
		return false, true, nil
	}
	return false, false, dirError(member, "want true or false, got "+typeName(v))
}

// dirEnum matches the string member v against the allowed values
// (ignoring ASCII case) and returns the allowed spelling; "" when absent
// or null and not required.
func dirEnum(v *fastjson.Value, member string, required bool, allowed ...string) (string, error) {
	b, ok, err := dirString(v, member, required)
	if err != nil || !ok {
		return "", err
	}
	for _, a := range allowed {
		if eqFoldBytes(b, a) {
			return a, nil
		}
	}
	want := ""
	for i, a := range allowed {
		switch {
		case i == 0:
		case i == len(allowed)-1:
			want += " or "
		default:
			want += ", "
		}
		want += a
	}
	return "", dirError(member, "want "+want+", got "+strconv.Quote(string(b)))
}

// dirArray returns the elements of the array member v; nil when absent or
// null.
func dirArray(v *fastjson.Value, member string) ([]*fastjson.Value, error) {
	if !present(v) {
		return nil, nil
	}
	if v.Type() != fastjson.TypeArray {
		return nil, dirError(member, "want an array, got "+typeName(v))
	}
	a, _ := v.Array()
	return a, nil
}

// daysSince is the number of whole days (24 h) from last to scan: -1 when
// last is the zero time (unknown), 0 when last is after scan. It counts
// in seconds, so no span is too long for it.
func daysSince(last, scan time.Time) int {
	if last.IsZero() {
		return -1
	}
	secs := scan.Unix() - last.Unix()
	if scan.Nanosecond() < last.Nanosecond() {
		secs-- // floor: the last partial second is not complete
	}
	if secs <= 0 {
		return 0
	}
	return int(secs / 86400)
}

// decodeDirectory decodes and validates a directory document (the object
// v). Members are checked in the order of Directory's table, and the
// first problem is the error.
func (d *Decoder) decodeDirectory(rec *Record, v *fastjson.Value) error {
	var f [nDirectory]*fastjson.Value
	collect(v, directoryKeys, f[:])
	dir := &rec.Directory
	a := &rec.Actor

	id, _, err := dirString(f[drID], "id", true)
	if err != nil {
		return err
	}
	if dir.RecordType, err = dirEnum(f[drRecordType], "recordType", true, RecordTypePrivilegedUser); err != nil {
		return err
	}
	if dir.ScanTime, err = dirTime(f[drScanDateTime], "scanDateTime", true); err != nil {
		return err
	}
	tenant, _, err := dirString(f[drTenantID], "tenantId", true)
	if err != nil {
		return err
	}
	userID, _, err := dirString(f[drUserID], "userId", true)
	if err != nil {
		return err
	}
	upn, _, err := dirString(f[drUserPrincipalName], "userPrincipalName", true)
	if err != nil {
		return err
	}
	name, _, err := dirString(f[drUserDisplayName], "userDisplayName", false)
	if err != nil {
		return err
	}
	userType, _, err := dirString(f[drUserType], "userType", false)
	if err != nil {
		return err
	}
	if dir.AccountEnabled, _, err = dirBool(f[drAccountEnabled], "accountEnabled", true); err != nil {
		return err
	}
	if dir.Created, err = dirTime(f[drCreatedDateTime], "createdDateTime", false); err != nil {
		return err
	}
	if dir.LastSignIn, err = dirTime(f[drLastSignInDateTime], "lastSignInDateTime", false); err != nil {
		return err
	}
	// The source is required with a last sign-in, optional without one.
	hasLast := present(f[drLastSignInDateTime])
	if dir.LastSignInSource, err = dirEnum(f[drLastSignInSource], "lastSignInSource", hasLast,
		SignInSourceGraph, SignInSourceAgent); err != nil {
		return err
	}
	if dir.MFARegistered, dir.MFAKnown, err = dirBool(f[drMFARegistered], "mfaRegistered", false); err != nil {
		return err
	}
	methods, err := dirArray(f[drMethodsRegistered], "methodsRegistered")
	if err != nil {
		return err
	}
	for i, m := range methods {
		at := "methodsRegistered[" + strconv.Itoa(i) + "]"
		if m.Type() != fastjson.TypeString {
			return dirError(at, "want a string, got "+typeName(m))
		}
		if _, _, err := dirString(m, at, true); err != nil {
			return err
		}
	}
	roles, err := dirArray(f[drRoles], "roles")
	if err != nil {
		return err
	}
	for i, r := range roles {
		at := "roles[" + strconv.Itoa(i) + "]"
		if r.Type() != fastjson.TypeObject {
			return dirError(at, "want an object, got "+typeName(r))
		}
		var g [nRole]*fastjson.Value
		collect(r, roleKeys, g[:])
		if _, _, err := dirString(g[rlName], at+".name", true); err != nil {
			return err
		}
		if _, _, err := dirString(g[rlTemplateID], at+".templateId", false); err != nil {
			return err
		}
		if _, err := dirEnum(g[rlAssignment], at+".assignment", true, roleAssignments...); err != nil {
			return err
		}
	}

	// Valid: fill the record.
	rec.Stream = StreamDirectory
	rec.Shape = ShapePrivtrail
	rec.LogCategory = LogCategoryDirectoryScan
	rec.Time = dir.ScanTime
	rec.OperationName = dir.RecordType
	d.setBytes(&rec.ID, id)
	d.setBytes(&rec.TenantID, tenant)
	a.Type = "user"
	d.setBytes(&a.ID, userID)
	d.setBytes(&a.UPN, upn)
	d.setBytes(&a.DisplayName, name)
	d.setBytes(&dir.UserType, userType)
	dir.DaysSinceSignIn = daysSince(dir.LastSignIn, dir.ScanTime)
	if len(methods) > 0 {
		dir.Methods = make([]string, len(methods))
		for i, m := range methods {
			b, _ := m.StringBytes()
			d.setBytes(&dir.Methods[i], b)
		}
	}
	if len(roles) > 0 {
		dir.Roles = make([]RoleHeld, len(roles))
		for i, e := range roles {
			// Validated above: strings where strings must be.
			var g [nRole]*fastjson.Value
			collect(e, roleKeys, g[:])
			r := &dir.Roles[i]
			nb, _ := g[rlName].StringBytes()
			d.setBytes(&r.Name, nb)
			if tb, ok, _ := dirString(g[rlTemplateID], "", false); ok {
				d.setBytes(&r.TemplateID, tb)
			}
			r.Assignment, _ = dirEnum(g[rlAssignment], "", true, roleAssignments...)
		}
	}
	return nil
}

// Package bench measures privtrail's hot path against a baseline: the
// simplest loop that could claim to do the same job. The full pipeline
// must beat it by 1.5× in records per second on the same machine, in the
// same run.
package bench

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"
)

// baselineRecord is every field a monitor of the shipped pipeline reads,
// in both wire shapes: Graph fields at the top level, diagnostic records
// under properties.
type baselineRecord struct {
	Time       string         `json:"time"`
	Category   string         `json:"category"`
	ResultType string         `json:"resultType"`
	Properties *baselineProps `json:"properties"`
	baselineProps
}

type baselineProps struct {
	CreatedDateTime         string         `json:"createdDateTime"`
	ActivityDateTime        string         `json:"activityDateTime"`
	UserID                  string         `json:"userId"`
	UserPrincipalName       string         `json:"userPrincipalName"`
	ClientAppUsed           string         `json:"clientAppUsed"`
	ConditionalAccessStatus string         `json:"conditionalAccessStatus"`
	RiskState               string         `json:"riskState"`
	RiskLevelDuringSignIn   string         `json:"riskLevelDuringSignIn"`
	ResourceTenantID        string         `json:"resourceTenantId"`
	HomeTenantID            string         `json:"homeTenantId"`
	Status                  baselineStatus `json:"status"`
	ActivityDisplayName     string         `json:"activityDisplayName"`
	LoggedByService         string         `json:"loggedByService"`
	Result                  string         `json:"result"`
	InitiatedBy             struct {
		User *struct {
			ID                string `json:"id"`
			UserPrincipalName string `json:"userPrincipalName"`
		} `json:"user"`
	} `json:"initiatedBy"`
	TargetResources []struct {
		ID                string `json:"id"`
		UserPrincipalName string `json:"userPrincipalName"`
	} `json:"targetResources"`
}

// Baseline reads JSON lines from r, decodes the fields above with
// encoding/json, looks the user up in privileged, appends a small object
// to each line and writes it to w. It returns the records processed.
func Baseline(r io.Reader, w io.Writer, privileged map[string]bool) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	bw := bufio.NewWriterSize(w, 256<<10)
	var out []byte
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var rec baselineRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			continue
		}
		p := &rec.baselineProps
		if rec.Properties != nil {
			p = rec.Properties
		}
		user := p.UserPrincipalName
		if p.InitiatedBy.User != nil {
			user = p.InitiatedBy.User.UserPrincipalName
		}
		priv := privileged[strings.ToLower(user)]
		out = append(out[:0], line[:len(line)-1]...)
		out = append(out, `,"privtrail":{"user":`...)
		out = strconv.AppendQuote(out, user)
		out = append(out, `,"privileged":`...)
		out = strconv.AppendBool(out, priv)
		out = append(out, `,"error_code":`...)
		out = strconv.AppendInt(out, int64(p.Status.ErrorCode), 10)
		out = append(out, "}}\n"...)
		if _, err := bw.Write(out); err != nil {
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// baselineStatus is a sign-in's status object; Azure Activity records
// carry a plain string under the same key, which must not fail the record.
type baselineStatus struct {
	ErrorCode int
}

func (s *baselineStatus) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var v struct {
		ErrorCode int `json:"errorCode"`
	}
	err := json.Unmarshal(b, &v)
	s.ErrorCode = v.ErrorCode
	return err
}

package entra

import "time"

// parseTime parses an RFC 3339 timestamp, or one of the two other forms
// Azure writes (see below), and returns it in UTC. The fast
// path takes YYYY-MM-DDTHH:MM:SS with any number of fractional digits (the
// first nine count: Azure writes seven, some exports nine) and Z, ±HH:MM
// or no zone at all (taken as UTC). Anything else goes to time.Parse.
func parseTime(b []byte) (time.Time, bool) {
	if t, ok := parseTimeFast(b); ok {
		return t, true
	}
	if len(b) == 0 || len(b) > 64 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err == nil {
		return t.UTC(), true
	}
	// ID Protection's records write a one-digit hour now and then
	// ("2022-09-09T9:59:27.958Z"), and the envelope of several categories
	// Azure's US form, in UTC ("9/9/2022 9:59:27 AM").
	if len(b) >= 18 && b[10] == 'T' && b[12] == ':' {
		fixed := make([]byte, 0, len(b)+1)
		fixed = append(append(append(fixed, b[:11]...), '0'), b[11:]...)
		return parseTimeFast(fixed)
	}
	if t, err := time.Parse(azureUSTime, string(b)); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// azureUSTime is the layout of the envelope time of RiskyUsers,
// UserRiskEvents and ADFSSignInLogs records.
const azureUSTime = "1/2/2006 3:04:05 PM"

func parseTimeFast(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	ns := 0
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if i-start < 9 {
				ns = ns*10 + int(b[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			ns *= 10
		}
	}
	offset := 0
	switch rest := b[i:]; {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		hh, ok1 := digits(rest[1:3])
		mm, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = hh*3600 + mm*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

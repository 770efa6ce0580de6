package buffer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// jsonRecord is an Entra sign-in-like JSON document of 1–4 KB; one in 40
// is 100 KB (a record with a long list of applied policies).
func jsonRecord(rng *rand.Rand, seq int) []byte {
	n := 1024 + rng.IntN(3<<10)
	if rng.IntN(40) == 0 {
		n = 100 << 10
	}
	return shaped(seq, n)
}

// smallRecord is a record of 60–200 bytes.
func smallRecord(rng *rand.Rand, seq int) []byte {
	return shaped(seq, 60+rng.IntN(140))
}

// shaped is a JSON-ish record of n bytes that names its sequence number.
func shaped(seq, n int) []byte {
	head := fmt.Appendf(nil, `{"seq":%d,"userPrincipalName":"user%d@contoso.com","appDisplayName":"Azure Portal","pad":"`, seq, seq%977)
	tail := []byte(`"}`)
	pad := n - len(head) - len(tail)
	out := append(head, bytes.Repeat([]byte{'a' + byte(seq%26)}, max(pad, 0))...)
	return append(out, tail...)
}

func recordSeq(data []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"seq":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(rest[:end]))
	return n, err == nil
}

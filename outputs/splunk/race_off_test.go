//go:build !race

package splunk

const raceEnabled = false

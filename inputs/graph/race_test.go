//go:build race

package graph

// raceEnabled: bbolt runs ~40× slower under the race detector, so the
// store half of TestSeenSet200k stores fewer IDs then.
const raceEnabled = true

package monitor

// For the tests of package monitor_test.
var (
	RunSigmaDemo = runSigmaDemo
	BruteForceID = bruteForceID
)

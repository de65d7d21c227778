// Package testenv gates tests on the privileges and kernel features they need. Locally a missing
// privilege skips the test with the reason; under CI (TRIPLINE_REQUIRE_ROOT=1, set by .ci/run,
// which runs as root) the same condition fails the test, so nothing that CI is meant to check is
// skipped there unnoticed.
package testenv

import (
	"os"
	"testing"
)

// EnvRequire is the variable that turns skips into failures.
const EnvRequire = "TRIPLINE_REQUIRE_ROOT"

// Required reports whether missing privileges or features must fail tests.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// SkipOrFail skips the test with reason, or fails it when Required.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and %s=1 says this run must not skip it", reason, EnvRequire)
	}
	t.Skip(reason)
}

// RequireRoot skips (or fails, under CI) a test that needs uid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (uid 0)")
	}
}

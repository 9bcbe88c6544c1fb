package names

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestCheck(t *testing.T) {
	for _, s := range []string{"acme", "a b", "tenant-ü-☃", "~", strings.Repeat("x", 20)} {
		assert.NoError(t, Check(s, 20), "%q", s)
	}
	for _, s := range []string{"", " ", "\t\n", " acme", "acme ", "ac\x00me", "ac\nme", "\x7f", "\xff\xfe", "acme\u00a0", "\u2028x", strings.Repeat("x", 21)} {
		assert.Error(t, Check(s, 20), "%q", s)
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	id := "38d69f70-d254-41a7-9ebf-aeab054c8c61"
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Check(id, 255) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Valid("tenant-ü-☃", 255) }))
	assert.True(t, Valid("tenant-ü-☃", 255))
	assert.False(t, Valid(" acme", 255))
	assert.False(t, Valid("acme", 3))
}

// printableName is PrintableName written the obvious way.
func printableName(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func TestPrintableNameEveryByteEveryPlace(t *testing.T) {
	for n := 1; n <= 20; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				s := string(b)
				if got, want := PrintableName(s, 20), printableName(s, 20); got != want {
					t.Fatalf("PrintableName(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	assert.False(t, PrintableName("", 20))
	assert.True(t, PrintableName(strings.Repeat("a", 20), 20))
	assert.False(t, PrintableName(strings.Repeat("a", 21), 20))
}

// FuzzCheck: PrintableName agrees with the obvious loop and accepts only
// names that Check accepts, Valid agrees with Check, and Check accepts
// exactly the names that pass the rule written out rune by rune.
func FuzzCheck(f *testing.F) {
	f.Add("acme")
	f.Add(" acme")
	f.Add("38d69f70-d254-41a7-9ebf-aeab054c8c61\x1f")
	f.Add("tenant-ü-☃")
	f.Add("\x7f~~~~~~~~")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := PrintableName(s, 64), printableName(s, 64); got != want {
			t.Fatalf("PrintableName(%q) = %v, want %v", s, got, want)
		}
		err := Check(s, 64)
		if PrintableName(s, 64) && err != nil {
			t.Fatalf("PrintableName(%q) is true, Check says %v", s, err)
		}
		if Valid(s, 64) != (err == nil) {
			t.Fatalf("Valid(%q) = %v, Check says %v", s, Valid(s, 64), err)
		}
		if err == nil && (s == "" || !utf8.ValidString(s) || len(s) > 64 || strings.TrimSpace(s) != s || strings.ContainsFunc(s, isControl)) {
			t.Fatalf("Check(%q) accepted it", s)
		}
	})
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }
